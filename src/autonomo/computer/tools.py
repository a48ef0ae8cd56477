"""The computer body's tools: shell, view, create, edit, run the tests, finish."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autonomo.body import FINISH, Observation, TestReport
from autonomo.computer.sandbox import Sandbox, truncate
from autonomo.models.base import ToolSpec

__all__ = ["FINISH", "ComputerTools", "Observation", "TestReport", "ToolFailure"]
# Short tracebacks and a few failures at most: test output fills a small model's context fast.
PYTEST = "python -m pytest -q -p no:cacheprovider --tb=short --maxfail=3"
# Folders that never hold the workspace's own tests.
SKIP_DIRS = {".git", ".autonomo", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache"}
VIEW_LIMIT = 8_000
TEST_FILE = re.compile(r"(^test_.*|.*_test)\.py$")  # pytest's default file pattern


class ToolFailure(Exception):
    """A tool could not do what was asked; the message goes back to the model as an error observation."""


def pytest_summary(output: str) -> str:
    """The closing line of a pytest run, e.g. '3 passed, 1 failed in 0.12s'."""
    for line in reversed(output.strip().splitlines()):
        if re.search(r"\b(passed|failed|error|errors|no tests ran)\b", line):
            return line.strip(" =")
    lines = output.strip().splitlines()
    return lines[-1].strip() if lines else ""


def has_python_tests(root: Path) -> bool:
    for path in root.rglob("*.py"):
        if SKIP_DIRS.intersection(path.relative_to(root).parts):
            continue
        if TEST_FILE.match(path.name):
            return True
    return False


class ComputerTools:
    """Tools over one workspace. File tools act on the host inside the workspace; shell runs in the sandbox."""

    def __init__(self, sandbox: Sandbox, test_command: str | None = None, protected: tuple[str, ...] = ()) -> None:
        """``protected``: workspace files the agent may read but not change, typically the tests that define
        success (a small model otherwise "fixes" failing tests by editing them)."""
        self.sandbox = sandbox
        self.workspace = sandbox.workspace
        self.test_command = test_command
        self.protected = {self.resolve(p) for p in protected}
        sandbox.readonly_paths += tuple(sorted(self.protected))
        self._tools: dict[str, tuple[ToolSpec, Callable[[dict[str, Any]], Observation]]] = {
            "shell": (
                ToolSpec(
                    "shell",
                    "Run a bash command in the workspace (no network). Returns exit code and output.",
                    _schema(command=("string", "the bash command")),
                ),
                self.shell,
            ),
            "view": (
                ToolSpec(
                    "view",
                    "Show a file with line numbers, or list a directory.",
                    _schema(path=("string", "path relative to the workspace")),
                ),
                self.view,
            ),
            "create": (
                ToolSpec(
                    "create",
                    "Create or overwrite a file with the given full content.",
                    _schema(path=("string", "path relative to the workspace"), content=("string", "full text")),
                ),
                self.create,
            ),
            "edit": (
                ToolSpec(
                    "edit",
                    "Replace one exact, unique occurrence of old text with new text in a file.",
                    _schema(
                        path=("string", "path relative to the workspace"),
                        old=("string", "exact text to replace; must occur once"),
                        new=("string", "replacement text"),
                    ),
                ),
                self.edit,
            ),
            "run_tests": (
                ToolSpec("run_tests", "Run the workspace's test suite and show the result.", _schema()),
                self.run_tests,
            ),
            FINISH: (
                ToolSpec(
                    FINISH,
                    "Finish when the goal is met and the tests pass. Give a short summary of what you did.",
                    _schema(summary=("string", "what was done")),
                ),
                lambda args: Observation(True, str(args.get("summary", ""))),
            ),
        }

    @property
    def kind(self) -> str:
        return self.sandbox.kind

    @property
    def specs(self) -> list[ToolSpec]:
        return [spec for spec, _ in self._tools.values()]

    def call(self, name: str, arguments: dict[str, Any]) -> Observation:
        _, fn = self._tools[name]
        try:
            return fn(arguments)
        except ToolFailure as exc:
            return Observation(False, str(exc))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            return Observation(False, f"{name} failed: {type(exc).__name__}: {exc}")

    # -- paths -------------------------------------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        if not isinstance(path, str) or not path.strip():
            raise ToolFailure("path must be a non-empty string")
        target = (self.workspace / path).resolve()  # follows symlinks, so a link pointing out is caught
        if target != self.workspace and self.workspace not in target.parents:
            raise ToolFailure(f"path {path!r} is outside the workspace")
        if ".autonomo" in target.relative_to(self.workspace).parts:
            raise ToolFailure("the .autonomo folder holds the run log and is not writable by tools")
        return target

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.workspace)) or "."

    # -- tools -------------------------------------------------------------------------------------------

    def shell(self, args: dict[str, Any]) -> Observation:
        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolFailure("command must be a non-empty string")
        result = self.sandbox.run(command)
        return Observation(result.ok, f"exit code {result.exit_code}\n{result.output}".rstrip())

    def view(self, args: dict[str, Any]) -> Observation:
        target = self.resolve(args.get("path", "."))
        if target.is_dir():
            entries = sorted(
                self.rel(p) + ("/" if p.is_dir() else "") for p in target.iterdir() if p.name not in SKIP_DIRS
            )
            return Observation(True, "\n".join(entries) or "(empty directory)")
        if not target.exists():
            raise ToolFailure(f"{args.get('path')} does not exist")
        text = target.read_bytes().decode("utf-8", errors="replace")
        numbered = "\n".join(f"{i:4d}| {line}" for i, line in enumerate(text.splitlines(), 1))
        return Observation(True, truncate(numbered, VIEW_LIMIT) or "(empty file)")

    def writable(self, path: str) -> Path:
        target = self.resolve(path)
        if target in self.protected:
            raise ToolFailure(f"{self.rel(target)} is protected: it defines success. Change the code, not it.")
        return target

    def create(self, args: dict[str, Any]) -> Observation:
        target = self.writable(args.get("path", ""))
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolFailure("content must be a string")
        existed = target.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, content)
        verb = "overwrote" if existed else "created"
        return Observation(True, f"{verb} {self.rel(target)} ({len(content.splitlines())} lines)")

    def edit(self, args: dict[str, Any]) -> Observation:
        target = self.writable(args.get("path", ""))
        old, new = args.get("old"), args.get("new")
        if not isinstance(old, str) or not old or not isinstance(new, str):
            raise ToolFailure("old must be a non-empty string and new a string")
        if old == new:  # a small model's favourite way of going round in circles
            raise ToolFailure("this edit changes nothing: new is the same as old. Write different code.")
        if not target.is_file():
            raise ToolFailure(f"{args.get('path')} is not a file")
        text = target.read_text(encoding="utf-8", errors="replace")
        count = text.count(old)
        if count > 1:
            raise ToolFailure(f"old text found {count} times in {self.rel(target)}; include more context")
        if count == 0:
            # Showing the file is what lets a small model correct its guess instead of repeating it.
            shown = truncate(text, VIEW_LIMIT)
            raise ToolFailure(f"old text not found in {self.rel(target)}. Its current content:\n{shown}")
        write_atomic(target, text.replace(old, new, 1))
        return Observation(True, f"edited {self.rel(target)}")

    def run_tests(self, args: dict[str, Any] | None = None) -> Observation:
        report = self.test()
        if report.command is None:
            return Observation(False, "no tests found: add test files (test_*.py) for pytest")
        advice = "\nAll tests pass. Call finish if the goal is met." if report.passed else ""
        return Observation(report.passed, f"$ {report.command}\n{report.output}{advice}")

    # -- verification ------------------------------------------------------------------------------------

    def test(self) -> TestReport:
        """Runs the workspace's tests as they are now: the measured result, not the model's claim."""
        command = self.test_command or (PYTEST if has_python_tests(self.workspace) else None)
        if command is None:
            return TestReport(None, True, None, "no tests found", "")
        result = self.sandbox.run(command)
        summary = pytest_summary(result.output) if command.startswith(PYTEST) else f"exit {result.exit_code}"
        return TestReport(command, result.ok, result.exit_code, summary, result.output)


def write_atomic(path: Path, text: str) -> None:
    """A file is either its old content or its new content, even when the run is killed mid-write."""
    tmp = path.with_name(f".{path.name}.autonomo-tmp")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        shutil.copymode(path, tmp)
    os.replace(tmp, path)


def _schema(**props: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {k: {"type": t, "description": d} for k, (t, d) in props.items()},
        "required": list(props),
    }
