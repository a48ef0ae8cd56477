"""A repository's own tests: how to run them, and what each test did.

A repository's test suite is judged test by test, as SWE-bench does: a patch resolves an issue when the tests it
should fix pass and none that passed before fail. So the runs here ask pytest for every test's outcome (``-rA``)
and compare the outcomes, never only the exit code (a suite with one flaky failure fails before and after).
"""

from __future__ import annotations

import configparser
import copy
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autonomo.body import TestReport
from autonomo.computer.sandbox import Sandbox, truncate
from autonomo.computer.tools import timeless
from autonomo.computer.workspace import TEST_FILE, files

# Every test's outcome in the summary; no cache folder written into the repository; short tracebacks; the other
# files' tests still run when one file cannot be imported.
PYTEST_ALL = (
    "python -m pytest -rA -q -p no:cacheprovider --tb=short --continue-on-collection-errors"
    " -W ignore::DeprecationWarning"
)
STATUS = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED)\s+(\S.*?)(?:\s+-\s+.*)?$")
PASSING = frozenset({"PASSED", "XFAIL"})  # an expected failure that fails is the test passing
FAILING = frozenset({"FAILED", "ERROR", "XPASS"})


def statuses_in(output: str) -> dict[str, str]:
    """Test id -> PASSED, FAILED, ERROR, XFAIL, XPASS or SKIPPED, from the short summary of a ``pytest -rA`` run.
    A collection error names a file, not a test: it is kept under that file's path."""
    found: dict[str, str] = {}
    summary = False
    for line in output.splitlines():
        if "short test summary info" in line:
            summary = True
            continue
        if not summary:
            continue
        m = STATUS.match(line.strip())
        if m and not m.group(2).startswith("["):  # SKIPPED [1] file:line: reason: no test id
            found[m.group(2)] = m.group(1)
    return found


def passing(statuses: dict[str, str]) -> set[str]:
    return {t for t, s in statuses.items() if s in PASSING}


def without_paths(command: str, root: Path) -> str:
    """The command without the files and folders it names after ``pytest`` (a suite's ``tests`` folder), so that a
    selection of tests runs just those: pytest runs the union of what it is given. Cut as text, so that what
    comes before (``PATH=ENV/bin:"$PATH"``) reaches the shell as written."""
    m = re.search(r"\bpytest\b", command)
    if m is None:
        return command
    words = command[m.end() :].split()
    kept = [w for w in words if w.startswith("-") or not (root / w.split("::")[0]).exists()]
    return " ".join([command[: m.end()], *kept])


def selection(tests: Iterable[str]) -> str:
    """Command-line arguments that run just these tests (quoted: parametrized ids hold brackets and spaces)."""
    return " ".join(shlex.quote(t) for t in sorted(tests))


def discover(root: Path) -> str | None:
    """The command that runs this repository's tests, found the way a new contributor would: a ``runtests.py``
    (Django's and sympy's kind), pytest when it is configured or there are test files, else a Makefile's ``test``
    target or tox's commands. None when the repository has no tests that can be found."""
    if (root / "runtests.py").is_file() or (root / "tests" / "runtests.py").is_file():
        script = "runtests.py" if (root / "runtests.py").is_file() else "tests/runtests.py"
        return f"python {script}"
    if pytest_configured(root) or any(TEST_FILE.match(p.name) for p in files(root, "*.py")):
        return PYTEST_ALL
    makefile = root / "Makefile"
    if makefile.is_file() and re.search(r"^test:", makefile.read_text(errors="replace"), re.MULTILINE):
        return "make test"
    return tox_command(root)


def pytest_configured(root: Path) -> bool:
    if (root / "pytest.ini").is_file() or (root / "conftest.py").is_file():
        return True
    for name, section in (("pyproject.toml", "[tool.pytest"), ("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]")):
        path = root / name
        if path.is_file() and section in path.read_text(errors="replace"):
            return True
    return False


def tox_command(root: Path) -> str | None:
    """The first command of tox's default test environment, with tox's placeholders dropped."""
    path = root / "tox.ini"
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(errors="replace"))
    except configparser.Error:
        return None
    commands = parser.get("testenv", "commands", fallback="").strip().splitlines()
    first = re.sub(r"\{[^}]*\}", "", commands[0]).strip() if commands else ""
    return first or None


SUITE_OUTPUT = 2_000_000  # characters of a suite run kept: -rA lists every test, and each one counts
SHOWN_OUTPUT = 6_000  # of it the model reads


@dataclass
class SuiteRun:
    statuses: dict[str, str]  # empty when the command is not pytest's, or nothing ran
    output: str
    exit_code: int
    timed_out: bool


def run_suite(sandbox: Sandbox, command: str, tests: Iterable[str] = (), timeout: float | None = None) -> SuiteRun:
    """Runs the suite (or just ``tests``, for a pytest command) in the sandbox, its whole output kept."""
    box = copy.copy(sandbox)
    box.output_limit = SUITE_OUTPUT
    chosen = selection(tests)
    result = box.run(f"{command} {chosen}" if chosen else command, timeout=timeout)
    return SuiteRun(statuses_in(result.output), result.output, result.exit_code, result.timed_out)


@dataclass
class Comparison:
    """The tests now against the tests at the start: ``targets`` are the tests that failed then (or were not
    there), which the change is for; the rest passed then and must still pass."""

    fixed: list[str]  # targets that pass now
    failing: list[str]  # targets that still fail
    broken: list[str]  # tests that passed at the start and fail now, or are gone
    kept: int  # tests that passed at the start and still pass

    @property
    def passed(self) -> bool:
        return not self.failing and not self.broken

    def summary(self) -> str:
        targets = len(self.fixed) + len(self.failing)
        aim = f"{len(self.fixed)} of {targets} failing or new tests pass" if targets else "no failing test to fix"
        return f"{aim}; {len(self.broken)} of {len(self.broken) + self.kept} tests that passed before fail"


def compare(before: dict[str, str], after: dict[str, str]) -> Comparison:
    was, now = passing(before), passing(after)
    targets = {t for t, s in before.items() if s in FAILING} | {
        t for t, s in after.items() if t not in before and s != "SKIPPED"
    }
    # A file that could not be collected is named alone; it is fixed when its tests now run and pass.
    fixed = {t for t in targets if t in now or ("::" not in t and t not in after and in_file(t, now))}
    return Comparison(sorted(fixed), sorted(targets - fixed), sorted(was - now), len(was & now))


def in_file(path: str, tests: set[str]) -> bool:
    return any(t.startswith(path + "::") for t in tests)


class RepoTests:
    """The check of a repository run: its tests now, test by test, against ``before`` (the tests at the run's
    base commit). It passes when the tests that failed then pass and none that passed then fail."""

    def __init__(self, sandbox: Sandbox, command: str, before: dict[str, str]) -> None:
        self.sandbox, self.command, self.before = sandbox, command, before
        self.last: Comparison | None = None  # of the last whole-suite check
        self.last_output = ""

    def check(self, tests: Iterable[str] = ()) -> tuple[Comparison, SuiteRun]:
        """The suite, or only ``tests`` (ids, or files for all their tests; then only they are compared)."""
        chosen = set(tests)
        if not chosen:
            run = run_suite(self.sandbox, self.command)
            return compare(self.before, run.statuses), run
        run = run_suite(self.sandbox, without_paths(self.command, self.sandbox.workspace), chosen)
        only = {t: s for t, s in run.statuses.items() if t in chosen or t.split("::")[0] in chosen}
        return compare({t: s for t, s in self.before.items() if t in chosen}, only), run

    def report(self) -> TestReport:
        comparison, run = self.check()
        self.last, self.last_output = comparison, run.output
        return TestReport(self.command, comparison.passed, run.exit_code, comparison.summary(), shown(run.output))


def shown(output: str, limit: int = SHOWN_OUTPUT) -> str:
    """A suite's output as the model reads it: the failures, not a line for every test that passed."""
    kept = "\n".join(line for line in output.splitlines() if not line.startswith(("PASSED ", "XFAIL ", "SKIPPED ")))
    return truncate(timeless(kept), limit)
