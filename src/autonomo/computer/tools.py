"""The computer body's tools: shell, view, create, edit, run the tests, finish."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autonomo.body import FINISH, Draftable, Observation, Start, TestReport
from autonomo.computer.sandbox import Sandbox, truncate
from autonomo.computer.workspace import (
    SKIP_DIRS,
    changed_files,
    editable_files,
    has_python_tests,
    listing,
    shown_files,
    snapshot,
)
from autonomo.files import write_atomic
from autonomo.models.base import ToolSpec
from autonomo.prompts import render, tool

if TYPE_CHECKING:
    from autonomo.repo.testing import RepoTests

# Short tracebacks and a few failures at most: test output fills a small model's context fast.
PYTEST = "python -m pytest -q -p no:cacheprovider --tb=short --maxfail=3"
VIEW_LIMIT = 8_000


class ToolFailure(Exception):
    """A tool could not do what was asked; the message goes back to the model as an error observation."""


# The duration pytest ends its summary line with ("2 failed, 24 passed in 0.04s"): clock noise in what the model
# reads. Left in, two runs with the same seeds parted ways on it (Exercism's bob: "in 0.04s" against "in 0.03s"
# in a redraft's failure note sampled a different draft), so a run's outcome depended on the machine's load.
DURATION = re.compile(r"(\b(?:passed|failed|errors?|skipped|xfailed|xpassed|warnings?|deselected|no tests ran)\b.*?)"
                      r" in \d+(?:\.\d+)?s(?: \(\d+:\d\d:\d\d\))?")  # fmt: skip


def timeless(output: str) -> str:
    """pytest output without its run time."""
    return DURATION.sub(r"\1", output)


def pytest_summary(output: str) -> str:
    """The closing line of a pytest run, e.g. '3 passed, 1 failed in 0.12s'."""
    for line in reversed(output.strip().splitlines()):
        if re.search(r"\b(passed|failed|error|errors|no tests ran)\b", line):
            return line.strip(" =")
    lines = output.strip().splitlines()
    return lines[-1].strip() if lines else ""


class ComputerTools:
    """The computer body: tools over one workspace. File tools act on the host inside the workspace; shell runs
    in the sandbox; the check of the goal is the workspace's tests."""

    write_tools = frozenset({"create", "edit"})
    # Calls that may run again when a run died while they ran: the same effect twice is the effect once.
    rerun_safe = frozenset({"view", "create", "run_tests", FINISH})

    def __init__(
        self,
        sandbox: Sandbox,
        test_command: str | None = None,
        protected: tuple[str, ...] = (),
        suite: RepoTests | None = None,
        writes: tuple[str, ...] = (),
    ) -> None:
        """``protected``: workspace files the agent may read but not change, typically the tests that define
        success (a small model otherwise "fixes" failing tests by editing them). ``suite``: a repository's tests,
        judged test by test against the run's start (repository mode), instead of ``test_command``'s exit code.
        ``writes``: the files a draft writes, there or new (a company work item's); by default every file shown
        that is not a test or protected. A company engineer drafting the files it was shown, the package's empty
        scaffold, never wrote its own item's file (T1-02-wordfreq: 12 drafts of __init__.py for sort.py)."""
        self.sandbox = sandbox
        self.workspace = sandbox.workspace
        self.test_command = test_command
        self.suite = suite
        self.writes = writes
        self.protected = {self.resolve(p) for p in protected}
        sandbox.readonly_paths += tuple(sorted(self.protected))
        self._draftable: Draftable | None = None  # set by reset()
        handlers: dict[str, Callable[[dict[str, Any]], Observation]] = {
            "shell": self.shell,
            "view": self.view,
            "create": self.create,
            "edit": self.edit,
            "run_tests": self.run_tests,
            FINISH: lambda args: Observation(True, str(args.get("summary", ""))),
        }
        self._tools = {name: (tool(f"computer.tools.{name}"), fn) for name, fn in handlers.items()}

    @property
    def system_prompt(self) -> str:
        return render("computer.system")

    def reset(self) -> Start:
        before = snapshot(self.workspace)
        shown = shown_files(self.workspace, before)
        # A draft must see the whole workspace: only when every file is shown.
        protected = sorted(self.rel(p) for p in self.protected)
        fits = len(shown) == len(before)
        editable = list(self.writes) or editable_files(list(shown), protected)
        self._draftable = Draftable(shown, editable, "create") if fits else None
        return Start(render("computer.first_observation", listing=listing(before, shown)), before)

    def changed(self, baseline: dict[str, str]) -> list[str]:
        return changed_files(baseline, snapshot(self.workspace))

    def draftable(self) -> Draftable | None:
        """The files shown at the start, when that is all of them."""
        return self._draftable

    @property
    def kind(self) -> str:
        return self.sandbox.kind

    @property
    def specs(self) -> list[ToolSpec]:
        return [spec for spec, _ in self._tools.values()]

    def call(self, name: str, arguments: dict[str, Any]) -> Observation:
        if name not in self._tools:
            return Observation(False, f"unknown tool {name!r}")
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
            raise ToolFailure(render("computer.protected", path=self.rel(target)))
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
        if old == new:
            raise ToolFailure(render("computer.edit_no_change"))
        if not target.is_file():
            raise ToolFailure(f"{args.get('path')} is not a file")
        text = target.read_text(encoding="utf-8", errors="replace")
        count = text.count(old)
        if count > 1:
            raise ToolFailure(render("computer.edit_ambiguous", count=count, path=self.rel(target)))
        if count == 0:
            shown = truncate(text, VIEW_LIMIT)
            raise ToolFailure(render("computer.edit_not_found", path=self.rel(target), content=shown))
        write_atomic(target, text.replace(old, new, 1))
        return Observation(True, f"edited {self.rel(target)}")

    def run_tests(self, args: dict[str, Any] | None = None) -> Observation:
        report = self.test()
        if report.command is None:
            return Observation(False, render("computer.no_tests"))
        advice = "\n" + render("computer.all_pass") if report.passed else ""
        return Observation(report.passed, f"$ {report.command}\n{report.output}{advice}")

    # -- verification ------------------------------------------------------------------------------------

    def test(self) -> TestReport:
        """Runs the workspace's tests as they are now: the measured result, not the model's claim."""
        if self.suite is not None:
            return self.suite.report()
        command = self.test_command or (PYTEST if has_python_tests(self.workspace) else None)
        if command is None:
            return TestReport(None, True, None, "no tests found", "")
        result = self.sandbox.run(command)
        if not command.startswith(PYTEST):
            return TestReport(command, result.ok, result.exit_code, f"exit {result.exit_code}", result.output)
        output = timeless(result.output)
        return TestReport(command, result.ok, result.exit_code, pytest_summary(output), output)
