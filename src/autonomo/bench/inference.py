"""``autonomo bench inference``: what the embedded model's engine generates per second with N sequences at once.

Each round is K samples of one prompt (what K attempts of a task send), decoded together from a cleared cache, so a
round also shows how many prompt tokens K samples evaluate between them. Two workloads: ``write`` (new code from an
instruction) and ``rewrite`` (a file given back with one change: the output copies the prompt, as a redraft does,
which prompt-lookup drafts exploit). With ``grammar`` the reply is a tool call under the tool-call grammar.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autonomo.bench.runner import source_commit

WRITE = (
    "Write a Python module bank.py: an Account class with deposit, withdraw and transfer (raising ValueError on "
    "bad amounts), a Bank class that keeps accounts by id, full docstrings, and then pytest tests for all of it."
)
SOURCE = Path(__file__).with_name("report.py")  # a real file of ours, to be given back with one change


def rewrite_prompt() -> str:
    return (
        "Here is report.py:\n\n```python\n" + SOURCE.read_text()[:3000] + "\n```\n\n"
        "Rename the function `per_solved` to `per_solved_task` everywhere and give back the whole file."
    )


def bandwidth(threads: int, megabytes: int = 1024) -> float:
    """Memory read bandwidth in GB/s: ``threads`` threads each sum their share of a large buffer (numpy's
    reductions release the GIL; a float64 sum read fastest of max, sum and bitwise-or, measured here)."""
    data = np.ones(megabytes << 17, dtype=np.float64)
    parts = np.array_split(data, threads)
    best = 0.0
    for _ in range(3):
        workers = [threading.Thread(target=part.sum) for part in parts]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = max(best, data.nbytes / (time.perf_counter() - start) / 1e9)
    return round(best, 1)


def one_round(model: Any, messages: list[dict[str, Any]], tools: list[Any], n: int, tokens: int) -> dict[str, Any]:
    """K samples of one prompt at once (temperature 0.7, seeds 0..n-1), from a cleared cache."""
    model.engine.clear()
    replies: list[Any] = []
    done = threading.Lock()

    def sample(seed: int) -> None:
        reply = model.request(messages, tools, temperature=0.7, seed=seed, max_tokens=tokens)
        with done:
            replies.append(reply)

    threads = [threading.Thread(target=sample, args=(seed,)) for seed in range(n)]
    steps = model.engine.steps
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    generated = sum(len(r.generated) for r in replies)
    # decoding proper: from the last first token (every prompt evaluated) to the end
    decoding = wall - max(r.first_token_seconds for r in replies)
    return {
        "sequences": n,
        "aggregate_tokens_per_s": round((generated - n) / decoding, 2),
        "per_sequence_tokens_per_s": round((generated - n) / n / decoding, 2),
        "round_tokens_per_s": round(generated / wall, 2),  # with the prompt's evaluation
        "completion_tokens": generated,
        "drafted": sum(r.drafted for r in replies),
        "accepted": sum(r.accepted for r in replies),
        "prompt_tokens": len(replies[0].tokens),
        "prompt_tokens_evaluated_per_round": sum(r.evaluated for r in replies),
        "decode_steps": model.engine.steps - steps,
        "seconds": round(wall, 2),
    }


def run(
    gguf: Path,
    sequences: list[int],
    tokens: int,
    drafts: list[int],
    workloads: list[str],
    log: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    from autonomo.computer.sandbox import Sandbox
    from autonomo.computer.tools import ComputerTools
    from autonomo.models.local import LlamaCppModel

    weights = gguf.stat().st_size
    bw = {1: bandwidth(1), 2: bandwidth(2)}
    base = {
        "commit": source_commit(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "bandwidth_gb_s_1_thread": bw[1],
        "bandwidth_gb_s_2_threads": bw[2],
        "weights_gb": round(weights / 1e9, 3),
        # each generated token of one sequence reads every weight once: the bound for one sequence
        "bound_tokens_per_s_one_sequence": round(max(bw.values()) * 1e9 / weights, 1),
        "max_tokens": tokens,
    }
    body = ComputerTools(Sandbox(Path.cwd(), kind="none"))
    rows = []
    for draft in drafts:
        model = LlamaCppModel(gguf, sequences=max(sequences), n_ctx=4096, draft=draft)
        try:
            for workload in workloads:
                goal = WRITE if workload == "write" else rewrite_prompt()
                for grammar in (False, True):
                    if grammar:
                        messages = [
                            {"role": "system", "content": body.system_prompt},
                            {"role": "user", "content": f"Goal: {goal}\n\nWorkspace files:\n(none)"},
                        ]
                        tools = body.specs
                    else:
                        messages, tools = [{"role": "user", "content": goal}], []
                    for n in sequences:
                        row = {**base, "workload": workload, "grammar": grammar, "draft": draft}
                        row.update(one_round(model, messages, tools, n, tokens))
                        rows.append(row)
                        log(row)
        finally:
            model.close()
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The report's table: one line per round, with its gain over one sequence of the same kind."""
    alone = {(r["workload"], r["grammar"], r["draft"]): r for r in rows if r["sequences"] == 1}
    lines = [
        "| workload | grammar | draft | sequences | tokens/s, all | tokens/s, each | vs 1 sequence | round s "
        "| round s vs 1 | prompt tokens evaluated / prompt | drafts accepted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        one = alone.get((r["workload"], r["grammar"], r["draft"]))
        gain = f"{r['aggregate_tokens_per_s'] / one['aggregate_tokens_per_s']:.2f}x" if one else ""
        wall = f"{r['seconds'] / one['seconds']:.2f}x" if one else ""
        drafts = f"{r['accepted']}/{r['drafted']}" if r["drafted"] else ""
        lines.append(
            f"| {r['workload']} | {'yes' if r['grammar'] else 'no'} | {r['draft']} | {r['sequences']} "
            f"| {r['aggregate_tokens_per_s']} | {r['per_sequence_tokens_per_s']} | {gain} | {r['seconds']} | {wall} "
            f"| {r['prompt_tokens_evaluated_per_round']} / {r['prompt_tokens']} | {drafts} |"
        )
    first = rows[0] if rows else {}
    return "\n".join(lines) + (
        f"\n\nMemory read bandwidth {first.get('bandwidth_gb_s_1_thread')} GB/s on 1 thread, "
        f"{first.get('bandwidth_gb_s_2_threads')} GB/s on 2; {first.get('weights_gb')} GB of weights read per "
        f"step: at most {first.get('bound_tokens_per_s_one_sequence')} tokens/s for one sequence.\n"
        if rows
        else "\n"
    )
