"""Benchmark tasks: what goes into an agent's workspace, and how the result is scored afterwards.

Reference solutions and hidden tests stay in the Task object; only ``files`` and ``goal`` reach the agent.
"""

from __future__ import annotations

import json
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
}
SCORE_TIMEOUT = 120.0


@dataclass
class Score:
    passed: bool
    summary: str


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

    def prepare(self, workspace: Path) -> None:
        workspace.mkdir(parents=True, exist_ok=True)
        for name, text in self.files.items():
            path = workspace / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def score(self, workspace: Path, scratch: Path, sandbox: str = "bwrap") -> Score:
        """Copies the agent's work into a fresh folder beside the scoring files, and runs the scoring tests there.
        The agent's own test files are left out, so only the benchmark's tests decide."""
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(parents=True)
        for path in workspace.rglob("*"):
            rel = path.relative_to(workspace)
            if not path.is_file() or rel.parts[0] in (".autonomo", "__pycache__", ".pytest_cache"):
                continue
            if (self.keep and str(rel) not in self.keep) or (not self.keep and TEST_FILE.match(path.name)):
                continue
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, scratch / rel)
        for name, text in self.score_files.items():
            (scratch / name).write_text(text, encoding="utf-8")
        result = Sandbox(scratch, kind=sandbox, timeout=SCORE_TIMEOUT).run(self.score_command)
        return Score(result.ok, pytest_summary(result.output) if not result.timed_out else "timed out")


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


LOADERS = {"exercism": exercism_task, "humaneval": humaneval_task}


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
