"""Turns report.jsonl into the summary table (report.md) and the plot (report.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autonomo.bench.runner import read_report

COLUMNS = (
    "system", "k", "tasks", "solved", "solve rate", "steps/task", "tokens/task", "tokens/solved",
    "evaluated prompt tokens/solved", "seconds/task", "seconds/solved",
)  # fmt: skip


def at_k(row: dict[str, Any], k: int) -> tuple[bool, dict[str, float]]:
    """Whether a task counts as solved with at most k attempts, and what those attempts cost."""
    attempts = row["attempt_log"][:k]
    winner = next((a for a in attempts if a["verified"]), attempts[-1])
    cost = {key: sum(a[key] for a in attempts) for key in ("steps", "prompt_tokens", "completion_tokens", "seconds")}
    cost["prompt_tokens_evaluated"] = sum(a["prompt_tokens_evaluated"] for a in attempts)
    return winner["passed"], cost


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for system in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == system]
        max_k = max(len(r["attempt_log"]) for r in mine) if system == "autonomo" else 1
        ks = sorted({1, max_k} | ({2, 4} & set(range(1, max_k + 1))))
        for k in ks:
            results = [at_k(r, k) for r in mine]
            solved = sum(ok for ok, _ in results)
            total = {key: sum(c[key] for _, c in results) for key in results[0][1]}
            tokens = total["prompt_tokens"] + total["completion_tokens"]
            n = len(mine)

            out.append(
                {
                    "system": system,
                    "k": k,
                    "tasks": n,
                    "solved": solved,
                    "solve rate": round(solved / n, 3),
                    "steps/task": round(total["steps"] / n, 1),
                    "tokens/task": round(tokens / n),
                    "tokens/solved": per_solved(tokens, solved),
                    "evaluated prompt tokens/solved": per_solved(total["prompt_tokens_evaluated"], solved),
                    "seconds/task": round(total["seconds"] / n, 1),
                    "seconds/solved": per_solved(total["seconds"], solved),
                }
            )
    return out


TIER_COLUMNS = (
    "system", "tier", "requests", "delivered", "hidden tests passed", "tokens/request", "tokens/delivered",
    "seconds/delivered", "$/delivered",
)  # fmt: skip


def tier_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The company benchmark's view: per system and tier, what was delivered and at what cost."""
    out = []
    for system in dict.fromkeys(r["system"] for r in rows):
        for tier in sorted({r["tier"] for r in rows if r["system"] == system}):
            mine = [r for r in rows if r["system"] == system and r["tier"] == tier]
            delivered = sum(r["passed"] for r in mine)
            tests = sum(r.get("tests_total", 0) for r in mine)
            out.append(
                {
                    "system": system,
                    "tier": tier,
                    "requests": len(mine),
                    "delivered": delivered,
                    "hidden tests passed": f"{sum(r.get('tests_passed', 0) for r in mine)}/{tests}",
                    "tokens/request": round(sum(r["tokens"] for r in mine) / len(mine)),
                    "tokens/delivered": per_solved(sum(r["tokens"] for r in mine), delivered),
                    "seconds/delivered": per_solved(sum(r["wall_seconds"] for r in mine), delivered),
                    "$/delivered": per_solved(sum(r.get("cost_usd", 0.0) for r in mine), delivered),
                }
            )
    return out


def role_spend(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """A company's spend per role, summed over its requests."""
    total: dict[str, dict[str, float]] = {}
    for row in rows:
        for attempt in row["attempt_log"]:
            for role, spent in attempt.get("spend", {}).items():
                mine = total.setdefault(role, {})
                for key in ("model_calls", "tokens", "seconds"):
                    mine[key] = round(mine.get(key, 0) + spent.get(key, 0), 1)
    return total


def table(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join("–" if r[c] is None else str(r[c]) for c in columns) + " |" for r in rows]


def per_solved(value: float, solved: int) -> float | None:
    return round(value / solved, 1) if solved else None


def markdown(rows: list[dict[str, Any]], title: str) -> str:
    lines = [f"# {title}", "", provenance(rows), "", *table(COLUMNS, summary_rows(rows))]
    if all("tier" in r for r in rows):
        lines += ["", "By tier (delivered: every hidden test passes):", "", *table(TIER_COLUMNS, tier_rows(rows))]
        for role, spent in role_spend(rows).items():
            lines.append(f"- company spend, {role}: " + ", ".join(f"{v:g} {k}" for k, v in spent.items()))
    lines += ["", "Per task (passed / attempts / steps / tokens / seconds):", ""]
    for system in dict.fromkeys(r["system"] for r in rows):
        cells = [
            f"{r['task'].split('/')[-1]} {'✓' if r['passed'] else '✗'}{r['attempts']}/{r['steps']}/"
            f"{r['prompt_tokens'] + r['completion_tokens']}/{r['wall_seconds']:.0f}"
            for r in rows
            if r["system"] == system
        ]
        lines.append(f"- **{system}**: " + ", ".join(cells))
    return "\n".join(lines) + "\n"


def provenance(rows: list[dict[str, Any]]) -> str:
    """When and from which agent version the rows came: a run resumed over several sessions shows it here."""

    def spread(key: str) -> str:
        return ", ".join(sorted({str(r.get(key, "unknown")) for r in rows}))

    return f"Dates: {spread('date')}. Autonomo commits: {spread('commit')}."


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary_rows(rows)
    labels = [f"{r['system']}\nk={r['k']}" if r["system"] == "autonomo" else r["system"] for r in table]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, key, title in zip(
        axes,
        ("solve rate", "seconds/solved", "tokens/solved"),
        ("solve rate", "seconds per solved task", "tokens per solved task"),
        strict=True,
    ):
        ax.bar(labels, [r[key] or 0 for r in table], color="tab:blue")
        ax.set_title(title)
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(out: Path, title: str, task_ids: list[str] | None = None) -> None:
    """Reports on the tasks of this invocation (all tasks in the folder when None)."""
    rows = [r for r in read_report(out / "report.jsonl") if task_ids is None or r["task"] in task_ids]
    if not rows:
        return
    (out / "report.md").write_text(markdown(rows, title), encoding="utf-8")
    plot(rows, out / "report.png")
