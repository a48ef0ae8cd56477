"""Runs benchmark tasks through autonomo and the reference systems, scores them the same way, and resumes."""

from __future__ import annotations

import functools
import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonomo.agent.draft import code_blocks, draft_messages, stop_sequences
from autonomo.agent.loop import Budget
from autonomo.assembly import RunConfig, make_agent
from autonomo.bench.bugs import BugTask
from autonomo.bench.bugs import oneshot as bug_oneshot
from autonomo.bench.swelite import SweTask
from autonomo.bench.tasks import Task
from autonomo.body import Draftable
from autonomo.company.board import SPLIT
from autonomo.company.git import Repo
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools
from autonomo.computer.workspace import editable_files
from autonomo.errors import SetupError
from autonomo.events import Outcome
from autonomo.files import slug, write_atomic
from autonomo.models import Model, ModelError, call_seed
from autonomo.repo import runs as repo_runs
from autonomo.repo.checkout import git, home_of

AUTONOMO, ONESHOT, MINISWE, COMPANY = "autonomo", "oneshot", "mini-swe-agent", "company"
SYSTEMS = (AUTONOMO, ONESHOT, MINISWE, COMPANY)
RETRY_TEMPERATURE = 0.7  # attempts after the first sample, so that they differ
# An autonomo attempt's limits are steps and tokens, never seconds, so a solve rate does not depend on how loaded the
# machine is. In the recorded run (5ccb275) the 300 s limit attempts had then stopped 102 of the 209 attempts that
# ended on a budget (before their 15 model calls), after 6,839 to 62,518 tokens; the 40 verified attempts used
# 32,860 tokens at most, so this limit cuts none of them.
ATTEMPT_TOKENS = 40_000
# mini-swe-agent takes no token limit, only its step limit and this wall-clock guard (it was every system's limit).
PEER_SECONDS = 300.0


@dataclass
class Attempt:
    attempt: int
    temperature: float
    seed: int
    outcome: str
    verified: bool  # the system's own check, before scoring (autonomo: the workspace tests it ran)
    passed: bool = False  # the benchmark's scoring
    score: str = ""
    tests_passed: int = 0  # of the scoring tests
    tests_total: int = 0
    steps: int = 0
    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    spend: dict[str, Any] = field(default_factory=dict)  # a company's, by role


@dataclass
class BenchConfig:
    out: Path
    model_spec: str
    api_base: str | None = None  # of a hosted model's server
    max_steps: int = 15
    max_tokens: int = ATTEMPT_TOKENS  # an attempt's budget
    attempts: int = 1
    sandbox: str = "bwrap"
    parallel: int = 1  # autonomo attempts run at once: the local engine decodes them together
    strategy: str = "auto"  # of autonomo in a repository (RunConfig.strategy)
    workers: int = 2  # a company's engineers at once
    samples: int = 1  # a company's drafts per round of an item (Company.samples)


@dataclass
class Bench:
    config: BenchConfig
    model: Model
    peer_server: Any = None  # a started LlamaServer for mini-swe-agent, when that peer runs
    log: Callable[[str], None] = print
    # Scripted engineers (tests): by task, then by item as Company takes them.
    engineer_scripts: dict[str, dict[str, list[list[dict]]]] = field(default_factory=dict)
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def report_path(self) -> Path:
        return self.config.out / "report.jsonl"

    def __post_init__(self) -> None:
        self.config.out.mkdir(parents=True, exist_ok=True)
        self.rows = {(r["system"], r["task"]): r for r in read_report(self.report_path)}

    def run(self, tasks: list[Task], systems: list[str]) -> None:
        """Task by task, every system in turn, so that partial results still compare like with like.
        A task already in the report is skipped, or given more attempts when --attempts grew and none verified."""
        for i, task in enumerate(tasks, 1):
            for system in systems:
                row = self.rows.get((system, task.id))
                before = [Attempt(**a) for a in row["attempt_log"]] if row else []
                k = self.config.attempts if system == AUTONOMO else 1
                if len(before) >= k or any(a.verified for a in before):
                    continue
                start = time.monotonic()
                attempts = self.run_task(system, task, before, k)
                wall = time.monotonic() - start + (row["wall_seconds"] if row else 0.0)
                row = summarize(system, task.id, attempts, wall, self.config.model_spec)
                row |= getattr(task, "labels", {})  # a product's tier
                self.rows[(system, task.id)] = row
                self._save()
                mark = "PASS" if row["passed"] else "fail"
                self.log(
                    f"[{system} {i}/{len(tasks)}] {task.id}: {mark} · {len(attempts)} attempt(s) · "
                    f"{row['steps']} steps · {row['prompt_tokens'] + row['completion_tokens']} tokens · "
                    f"{row['wall_seconds']:.0f}s · {row['outcome']}"
                )

    def _save(self) -> None:
        # A kill leaves the old report or the new one, never half of one.
        write_atomic(self.report_path, "".join(json.dumps(r) + "\n" for r in self.rows.values()))

    def run_task(self, system: str, task: Task, before: list[Attempt], k: int) -> list[Attempt]:
        """Attempts in waves of ``parallel`` until one is verified or k have run. A wave's attempts all finish and
        are all recorded (their tokens were spent); the first verified one wins, as in order."""
        attempts = list(before)
        wave = self.config.parallel if system == AUTONOMO else 1
        while len(attempts) < k and not any(a.verified for a in attempts):
            numbers = range(len(attempts), min(k, len(attempts) + wave))
            attempts += concurrently([functools.partial(self._attempt, system, task, n) for n in numbers])
        return attempts

    def _attempt(self, system: str, task: Task, n: int) -> Attempt:
        temperature = 0.0 if n == 0 else RETRY_TEMPERATURE
        workspace = self.config.out / "work" / system / slug(task.id) / f"a{n}"
        if workspace.exists():  # a half-done attempt from an interrupted run starts over
            shutil.rmtree(workspace)
        task.prepare(workspace)
        attempt = getattr(self, f"_run_{system.replace('-', '_')}")(task, workspace, n, temperature)
        if attempt.outcome == Outcome.INTERRUPTED:  # the agent caught a Ctrl-C: no row; a rerun redoes it
            raise KeyboardInterrupt
        score = task.score(workspace, workspace.with_name(f"a{n}-score"), sandbox=self.config.sandbox)
        attempt.passed, attempt.score = score.passed, score.summary
        attempt.tests_passed, attempt.tests_total = score.tests_passed, score.tests_total
        return attempt

    def _run_autonomo(self, task: Task | BugTask | SweTask, workspace: Path, n: int, temperature: float) -> Attempt:
        config = RunConfig(
            model=self.config.model_spec,
            api_base=self.config.api_base,
            sandbox=self.config.sandbox,
            command_timeout=60,
            protect=list(getattr(task, "protected", ())),
            test_command=getattr(task, "test_command", None),
            strategy=self.config.strategy,
            temperature=temperature,
            seed=n,
            budget=Budget(max_steps=self.config.max_steps, tokens=self.config.max_tokens),
        )
        if isinstance(task, BugTask | SweTask):  # a repository: the run as `autonomo run` makes it, on a branch
            try:
                config, tree, run_dir = repo_runs.start(config, workspace, home_of(workspace))
            except SetupError as exc:  # its tests cannot be run or read here: the attempt cannot start
                return Attempt(n, temperature, n, f"setup_error: {exc}", False)
            agent = make_agent(config, tree, run_dir=run_dir, model=self.model)
            result = agent.run(task.goal, config=config.logged())
            if result.outcome != Outcome.INTERRUPTED:
                repo_runs.conclude(config, tree, agent.log, task.goal)
                git(workspace, "checkout", "-q", config.repository.branch)  # scoring reads the working tree
        else:
            result = make_agent(config, workspace, model=self.model).run(task.goal, config=config.logged())
        t = result.totals
        return Attempt(
            attempt=n,
            temperature=temperature,
            seed=n,
            outcome=result.outcome,
            verified=result.outcome == Outcome.COMPLETED and result.tests_passed,
            steps=t["model_calls"],
            prompt_tokens=t["prompt_tokens"],
            prompt_tokens_evaluated=t["prompt_tokens_evaluated"],
            completion_tokens=t["completion_tokens"],
            cost_usd=t["cost_usd"],
            seconds=t["elapsed_seconds"],
        )

    def _run_oneshot(self, task: Task | BugTask, workspace: Path, n: int, temperature: float) -> Attempt:
        """The agent's first draft and nothing after it: the model alone (for a bug: its function rewritten once)."""
        if isinstance(task, BugTask):
            start = time.monotonic()
            try:
                outcome, usage = bug_oneshot(task, workspace, self.model, temperature, call_seed(n, 1))
            except ModelError as exc:
                return Attempt(n, temperature, n, f"model_error: {exc}", False, seconds=time.monotonic() - start)
            return Attempt(n, temperature, n, outcome, False, steps=1, prompt_tokens=usage.prompt_tokens,
                           prompt_tokens_evaluated=usage.prompt_tokens_evaluated,
                           completion_tokens=usage.completion_tokens, seconds=time.monotonic() - start)  # fmt: skip
        draft = Draftable(task.files, editable_files(list(task.files), []), "create")
        start = time.monotonic()
        try:
            reply = self.model.complete(
                draft_messages(task.goal, draft), stop=stop_sequences(draft), temperature=temperature,
                seed=call_seed(n, 1),  # the seed of an agent's first call, as in attempt n of autonomo
            )  # fmt: skip
        except ModelError as exc:
            return Attempt(n, temperature, n, f"model_error: {exc}", False, seconds=time.monotonic() - start)
        usage = reply.usage
        # Through the body's write tool, as an agent's draft is written: no path outside the workspace or into its
        # run log, and the new files a product request asks for.
        body = ComputerTools(Sandbox(workspace, kind=self.config.sandbox), protected=task.protected)
        written = [path for path, code in code_blocks(reply.text, draft)
                   if body.call(draft.write_tool, {"path": path, "content": code}).ok]  # fmt: skip
        return Attempt(
            attempt=n,
            temperature=temperature,
            seed=n,
            outcome=f"wrote {', '.join(written)}" if written else "no code block",
            verified=False,
            steps=1,
            prompt_tokens=usage.prompt_tokens,
            prompt_tokens_evaluated=usage.prompt_tokens_evaluated,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            seconds=time.monotonic() - start,
        )

    def _run_company(self, task: Task, workspace: Path, n: int, temperature: float) -> Attempt:
        """Company mode on the request, at the token budget an autonomo attempt has (the engineers' steps are its
        step limit). Verified: delivered, i.e. QA found every acceptance check of the plan passing on main."""
        from autonomo.company.orchestrator import Company, CompanyBudget
        from autonomo.events import CompanyOutcome, EventLog, new_run_id

        log = EventLog(workspace / ".autonomo" / "company" / new_run_id())
        budget = CompanyBudget(tokens=self.config.max_tokens, agent_steps=self.config.max_steps)
        company = Company(workspace, log, model=self.config.model_spec, chat_model=self.model,
                          workers=self.config.workers, samples=self.config.samples, budget=budget,
                          sandbox=self.config.sandbox, api_base=self.config.api_base,
                          scripts=self.engineer_scripts.get(task.id))  # fmt: skip
        start = time.monotonic()
        result = company.run(task.goal)
        roles = result.spend["by_role"]
        total = {key: int(sum(r.get(key, 0) for r in roles.values())) for key in ("model_calls", *SPLIT)}
        return Attempt(
            attempt=n,
            temperature=temperature,
            seed=n,
            outcome=f"{result.outcome}: {result.summary}",
            verified=result.outcome == CompanyOutcome.DELIVERED,
            steps=total["model_calls"],
            prompt_tokens=total["prompt_tokens"],
            prompt_tokens_evaluated=total["prompt_tokens_evaluated"],
            completion_tokens=total["completion_tokens"],
            cost_usd=result.spend["usd"],
            seconds=time.monotonic() - start,
            spend=roles,
        )

    def _run_mini_swe_agent(self, task: Task, workspace: Path, n: int, temperature: float) -> Attempt:
        from autonomo.bench.miniswe import run_miniswe

        server = self.peer_server
        box = Sandbox(workspace, kind=self.config.sandbox, timeout=60)  # the sandbox autonomo's commands get
        options = box.bwrap_options() if box.kind == "bwrap" else None
        r = run_miniswe(task.goal, workspace, server.api_base, server.model_name, self.config.max_steps,
                        trajectory=workspace.with_name(f"{workspace.name}-trajectory.json"),
                        bwrap_options=options, command_timeout=60, timeout=PEER_SECONDS)  # fmt: skip
        return Attempt(
            attempt=n,
            temperature=0.0,
            seed=0,
            outcome=r["outcome"],
            verified=False,
            steps=r["steps"],
            prompt_tokens=r["prompt_tokens"],
            # The server's own prompt cache is not visible from outside: count every prompt token as evaluated.
            prompt_tokens_evaluated=r["prompt_tokens"],
            completion_tokens=r["completion_tokens"],
            seconds=r["seconds"],
        )


def concurrently(work: list[Callable[[], Attempt]]) -> list[Attempt]:
    """Runs each in a thread of its own and returns their results in order; the first failure is raised. The threads
    are daemons, so a Ctrl-C stops the bench at once instead of waiting for attempts that will not be recorded."""
    if len(work) == 1:
        return [work[0]()]
    results: list[Attempt | BaseException | None] = [None] * len(work)

    def run(i: int) -> None:
        try:
            results[i] = work[i]()
        except BaseException as exc:  # re-raised below, in the caller's thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return [r for r in results if isinstance(r, Attempt)]


@functools.cache
def source_commit() -> str:
    """The commit of the autonomo source this process loaded, "+dirty" when it had uncommitted changes, "unknown"
    outside git. A run that spans sessions must keep one agent version; each report row says which one it had."""
    here = Path(__file__).resolve().parent
    repo = Repo(here)
    try:
        head = repo.git("rev-parse", "--short=12", "HEAD", check=False).strip()
        # Untracked files do not count: tracked code cannot use a new file without a change of its own.
        dirty = repo.git("status", "--porcelain", "--untracked-files=no", "--", str(here.parent), check=False).strip()
    except OSError:  # no git on this machine
        return "unknown"
    return head + ("+dirty" if dirty else "") if head else "unknown"


def summarize(system: str, task_id: str, attempts: list[Attempt], wall: float, model: str) -> dict[str, Any]:
    winner = next((a for a in attempts if a.verified), attempts[-1])
    row: dict[str, Any] = {
        "system": system,
        "task": task_id,
        "model": model,
        "commit": source_commit(),
        "passed": winner.passed,
        "attempts": len(attempts),
        "winner": winner.attempt,
        "outcome": winner.outcome,
        "wall_seconds": round(wall, 2),
        "date": time.strftime("%Y-%m-%d"),
    }
    for key in ("steps", "prompt_tokens", "prompt_tokens_evaluated", "completion_tokens"):
        row[key] = sum(getattr(a, key) for a in attempts)
    row["tokens"] = row["prompt_tokens"] + row["completion_tokens"]
    row["cost_usd"] = round(sum(a.cost_usd for a in attempts), 6)
    row["tests_passed"], row["tests_total"] = winner.tests_passed, winner.tests_total
    row["attempt_log"] = [vars(a) for a in attempts]
    return row


def read_report(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a torn last line from a killed run: that task runs again
                continue
    return rows
