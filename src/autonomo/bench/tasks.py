"""Benchmark tasks: what goes into an agent's workspace, and how the result is scored afterwards.

Reference solutions and hidden tests stay in the Task object; only ``files`` and ``goal`` reach the agent.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import PYTEST, pytest_summary
from autonomo.computer.workspace import TEST_FILE
from autonomo.errors import SetupError
from autonomo.prompts import render

# Relative to the project root, as laid out beside it: ../shared/benchmarks
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "benchmarks"
DEFAULT_TASKS = {
    "exercism": SHARED / "exercism-python" / "tasks.jsonl",
    "humaneval": SHARED / "humaneval" / "tasks.jsonl",
    "company": SHARED / "company" / "tasks.jsonl",
}
SCORE_TIMEOUT = 120.0


@dataclass
class Score:
    passed: bool
    summary: str
    tests_passed: int = 0
    tests_total: int = 0  # 0: not known


@dataclass
class Task:
    id: str
    goal: str
    files: dict[str, str]  # what the workspace starts with
    # Scoring material: never written into a workspace.
    score_files: dict[str, str] = field(repr=False, default_factory=dict)
    score_command: str = PYTEST
    keep: tuple[str, ...] = ()  # workspace files the scorer takes (empty: all but test files)
    protected: tuple[str, ...] = ()  # given files the agent must not change (the tests it is scored by)
    labels: dict[str, str] = field(default_factory=dict)  # go into the task's report rows (a product's tier)
    # A known-good solution, for the harness alone: the scoring tests are counted with it in place, as some
    # cannot even be collected without the product (they import it at the top).
    reference: dict[str, str] = field(repr=False, default_factory=dict)
    _total: int | None = field(default=None, init=False, repr=False)

    def prepare(self, workspace: Path) -> None:
        workspace.mkdir(parents=True, exist_ok=True)
        write_files(workspace, self.files)

    def score(self, workspace: Path, scratch: Path, sandbox: str = "bwrap") -> Score:
        """Copies the agent's work into a fresh folder beside the scoring files, and runs the scoring tests there.
        The agent's own test files are left out, so only the benchmark's tests decide."""
        fresh(scratch)
        for path in workspace.rglob("*"):
            rel = path.relative_to(workspace)
            if not path.is_file() or rel.parts[0] in (".autonomo", "__pycache__", ".pytest_cache"):
                continue
            if (self.keep and str(rel) not in self.keep) or (not self.keep and TEST_FILE.match(path.name)):
                continue
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, scratch / rel)
        write_files(scratch, self.score_files)
        result = Sandbox(scratch, kind=sandbox, timeout=SCORE_TIMEOUT).run(self.score_command)
        summary = pytest_summary(result.output) if not result.timed_out else "timed out"
        passed = count(summary, "passed")
        total = self.tests_total(scratch.with_name(scratch.name + "-count"), sandbox) if self.reference else 0
        return Score(result.ok, summary, passed, total or passed + count(summary, "failed", "error", "errors"))

    def tests_total(self, scratch: Path, sandbox: str) -> int:
        """How many scoring tests there are: collected beside the reference solution, once per task."""
        if self._total is None:
            fresh(scratch)
            write_files(scratch, {**self.reference, **self.score_files})
            result = Sandbox(scratch, kind=sandbox, timeout=SCORE_TIMEOUT).run(f"{self.score_command} --collect-only")
            shutil.rmtree(scratch, ignore_errors=True)
            self._total = count(result.output, "tests collected", "test collected")
        return self._total


def fresh(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def count(summary: str, *words: str) -> int:
    """The sum of the numbers before ``words`` in a pytest summary ("3 failed, 10 passed in 1.2s")."""
    return sum(int(n) for word in words for n in re.findall(rf"(\d+) {word}\b", summary))


def exercism_task(row: dict) -> Task:
    stubs = ", ".join(row["files"])
    tests = ", ".join(row["tests"])
    goal = render("bench.exercism", stubs=stubs, tests=tests, instructions=row["instructions"].strip())
    return Task(
        id=row["id"],
        goal=goal,
        files={**row["files"], **row["tests"]},
        score_files=dict(row["tests"]),
        score_command=row["test_command"],
        protected=tuple(row["tests"]),
    )


def humaneval_task(row: dict) -> Task:
    entry = row["entry_point"]
    goal = render("bench.humaneval", entry=entry)
    check = f"from solution import *  # noqa\n\n{row['test']}\n\ndef test_hidden():\n    check({entry})\n"
    return Task(
        id=row["task_id"],
        goal=goal,
        files={"solution.py": row["prompt"]},
        score_files={"test_hidden.py": check},
        keep=("solution.py",),
    )


def product_task(row: dict) -> Task:
    """A product request of the company benchmark: built from the request (and any starting files) alone."""
    return Task(
        id=row["id"],
        goal=row["request"].strip(),
        files=dict(row["files"]),
        score_files=dict(row["tests"]),
        score_command=row["test_command"],
        labels={"tier": str(row["tier"])},
        reference=dict(row["reference"]),
    )


LOADERS = {"exercism": exercism_task, "humaneval": humaneval_task, "company": product_task}


class TaskFileError(SetupError, ValueError):
    """The suite or its task file cannot be used."""


def load_tasks(suite: str, path: Path | None = None, limit: int | None = None) -> list[Task]:
    if suite not in LOADERS:
        raise TaskFileError(f"unknown suite {suite!r}; use one of {', '.join(LOADERS)}")
    path = path or DEFAULT_TASKS[suite]
    if not path.is_file():
        raise TaskFileError(f"task file not found: {path}")
    tasks = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                tasks.append(LOADERS[suite](json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise TaskFileError(f"{path}:{n}: not a valid {suite} task ({type(exc).__name__}: {exc})") from None
    return tasks[:limit] if limit else tasks
