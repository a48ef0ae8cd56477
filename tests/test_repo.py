"""Repository mode: a run in a worktree on a branch of its own, judged test by test against its start, ending with
a commit and a patch; the user's checkout untouched. And its parts: per-test results, test discovery,
localization without the model, and the repair pipeline's rewrites."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import of_type, sandbox_kind
from typer.testing import CliRunner

from autonomo.agent.repair import fix_line, normalized, only, rewrite, statement_at
from autonomo.cli import app
from autonomo.computer.sandbox import Sandbox
from autonomo.events import read_events
from autonomo.repo.checkout import home_of
from autonomo.repo.localize import localize, source_of_test, suspect_lines
from autonomo.repo.testing import PYTEST_ALL, compare, discover, run_suite, statuses_in

OPS = '''def add(a, b):
    return a + b


def clamp(x, low, high):
    """Limit x to [low, high]."""
    if x < low:
        return low
    if x >= high:
        return low
    return x


def mean(values):
    total = 0
    for v in values:
        total = add(total, v)
    return total / len(values)
'''
TESTS = """from calc.ops import add, clamp, mean

def test_add():
    assert add(2, 3) == 5

def test_clamp_low():
    assert clamp(-1, 0, 10) == 0

def test_clamp_high():
    assert clamp(11, 0, 10) == 10

def test_clamp_mid():
    assert clamp(5, 0, 10) == 5

def test_mean():
    assert mean([1, 2, 3]) == 2
"""
ISSUE = "clamp(11, 0, 10) gives 0, but it should give 10"
WRONG_FIX = "```python\ndef clamp(x, low, high):\n    if x < low:\n        return low\n    return x\n```"
RIGHT_FIX = (
    "The fix:\n```python\ndef clamp(x, low, high):\n    if x < low:\n        return low\n"
    "    if x >= high:\n        return high\n    return x\n```"
)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository whose last commit has a bug that one test shows."""
    root = tmp_path / "repo"
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "calc" / "__init__.py").write_text("")
    (root / "calc" / "ops.py").write_text(OPS)
    (root / "tests" / "test_ops.py").write_text(TESTS)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "calc")
    return root


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "250"})


def script(tmp_path: Path, *replies: str) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps([{"draft": r} for r in replies]))
    return f"scripted:{path}"


def run_in(repo: Path, model: str, *extra: str):
    return invoke("run", ISSUE, "-w", str(repo), "--model", model, "--sandbox", sandbox_kind(), "--quiet", *extra)


def test_a_repository_run_fixes_the_bug_on_its_own_branch_and_leaves_the_checkout_untouched(repo, tmp_path):
    head = git(repo, "rev-parse", "HEAD")
    model = script(tmp_path, WRONG_FIX, WRONG_FIX.replace("return x", "return x  # same"), RIGHT_FIX, "no code")
    result = run_in(repo, model, "--strategy", "repair")
    assert result.exit_code == 0, result.output
    # The user's checkout: the same commit, the same files, nothing new or changed, on the same branch.
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert (repo / "calc" / "ops.py").read_text() == OPS
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
    # The run's branch holds the fix, and its patch applies to the base.
    (run_dir,) = (home_of(repo) / "runs").iterdir()
    branch = f"autonomo/{run_dir.name}"
    assert "return high" in git(repo, "show", f"{branch}:calc/ops.py")
    patch = run_dir / "changes.patch"
    assert "+        return high" in patch.read_text()
    git(repo, "apply", "--check", str(patch))
    assert git(repo, "worktree", "list").count("\n") == 1  # the run's worktree is gone; its branch stays
    events = list(read_events(run_dir / "events.jsonl"))
    (localized,) = of_type(events, "localized")
    assert localized["failing"] == ["tests/test_ops.py::test_clamp_high"]
    assert localized["suspects"][0]["function"] == "clamp"
    checked = of_type(events, "candidate_checked")
    # The first rewrite failed and was undone; the second is the first one again (tested once); the third passed.
    assert [c["passed"] for c in checked] == [False, True] and [c["step"] for c in checked] == [1, 3]
    finished = of_type(events, "run_finished")[0]
    assert finished["outcome"] == "completed" and finished["files_changed"] == ["calc/ops.py"]
    assert finished["tests"] == "passed: 1 of 1 failing or new tests pass; 0 of 4 tests that passed before fail"
    assert of_type(events, "model_call")[-1]["step"] == 4  # every sample of the wave is in the ledger
    made = of_type(events, "patch_made")[0]
    assert made["branch"] == branch and made["files"] == ["calc/ops.py"] and events[-1] is not finished


def test_a_fix_that_breaks_a_passing_test_is_not_accepted(repo, tmp_path):
    breaks_low = RIGHT_FIX.replace("return low\n", "return high\n", 1)  # high above, and below too
    result = run_in(repo, script(tmp_path, breaks_low, "none", "none", "none", "none", "none", "none", "none"),
                    "--strategy", "repair")  # fmt: skip
    assert result.exit_code == 1
    (run_dir,) = (home_of(repo) / "runs").iterdir()
    events = list(read_events(run_dir / "events.jsonl"))
    verifications = of_type(events, "verification")
    assert "1 of 4 tests that passed before fail" in verifications[1]["summary"]
    finished = of_type(events, "run_finished")[0]
    assert finished["outcome"] == "stuck" and not finished["tests_passed"] and finished["files_changed"] == []
    assert of_type(events, "patch_made")[0]["files"] == []  # every rewrite was undone: nothing to commit


def test_the_tool_loop_in_a_repository_is_judged_against_the_start(repo, tmp_path):
    steps = [
        {"tool": "edit", "args": {"path": "calc/ops.py", "old": "        return low\n    return x",
                                  "new": "        return high\n    return x"}},
        {"tool": "finish", "args": {"summary": "fixed clamp"}},
    ]  # fmt: skip
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(steps))
    result = run_in(repo, f"scripted:{path}", "--strategy", "loop", "--no-draft")
    assert result.exit_code == 0, result.output
    (run_dir,) = (home_of(repo) / "runs").iterdir()
    events = list(read_events(run_dir / "events.jsonl"))
    assert of_type(events, "verification")[-1]["summary"].startswith("1 of 1 failing or new tests pass")
    assert (repo / "calc" / "ops.py").read_text() == OPS


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda r: (r / "calc" / "ops.py").write_text(OPS + "# mine\n"), "uncommitted changes to 1 tracked file"),
        (lambda r: (git(r, "rm", "-q", "-r", "tests"), git(r, "commit", "-q", "-m", "no tests")), "found no tests"),
    ],
    ids=["dirty", "no-tests"],
)
def test_a_repository_that_cannot_be_worked_on_gives_one_line_and_loses_nothing(repo, tmp_path, setup, message):
    setup(repo)
    before = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), git(repo, "branch"))
    result = run_in(repo, script(tmp_path, RIGHT_FIX))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), git(repo, "branch")) == before
    assert "autonomo" not in git(repo, "worktree", "list")


def test_a_repository_with_no_commits_gives_one_line(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q")
    result = run_in(root, script(tmp_path, RIGHT_FIX))
    assert result.exit_code == 2 and "has no commits yet" in result.output


def test_the_goal_can_come_from_an_issue_file(repo, tmp_path):
    issue = tmp_path / "issue.md"
    issue.write_text(ISSUE)
    model = script(tmp_path, RIGHT_FIX, "a", "b", "c")
    result = invoke("run", "--issue", str(issue), "-w", str(repo), "--model", model, "--sandbox", sandbox_kind(),
                    "--quiet", "--strategy", "repair")  # fmt: skip
    assert result.exit_code == 0, result.output
    both = invoke("run", "x", "--issue", str(issue), "-w", str(repo))
    assert both.exit_code == 2 and "one of them" in both.output


# -- the parts --------------------------------------------------------------------------------------------------


def test_each_tests_outcome_is_read_from_pytest(tmp_path):
    (tmp_path / "test_a.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 1 == 2\n"
        "@pytest.mark.parametrize('x', ['a b', 2])\n"
        "def test_p(x): assert x != 2\n"
        "@pytest.mark.skip\n"
        "def test_s(): pass\n"
        "@pytest.mark.xfail\n"
        "def test_xf(): assert 0\n"
    )
    (tmp_path / "test_b.py").write_text("import nope\n")
    run = run_suite(Sandbox(tmp_path, kind=sandbox_kind()), PYTEST_ALL)
    assert run.statuses == {
        "test_a.py::test_ok": "PASSED",
        "test_a.py::test_bad": "FAILED",
        "test_a.py::test_p[a b]": "PASSED",
        "test_a.py::test_p[2]": "FAILED",
        "test_a.py::test_xf": "XFAIL",
        "test_b.py": "ERROR",  # it cannot be imported; the other file's tests still ran
    }
    assert statuses_in("PASSED a.py::t\n") == {}  # only the summary section counts


def test_the_comparison_with_the_start():
    before = {"a::ok": "PASSED", "a::bad": "FAILED", "a::skip": "SKIPPED", "b.py": "ERROR", "a::gone": "PASSED"}
    after = {"a::ok": "FAILED", "a::bad": "PASSED", "a::skip": "SKIPPED", "b.py::t": "PASSED", "a::new": "FAILED"}
    c = compare(before, after)
    # A new test is a target too (a reproduction test, say): it must pass.
    assert c.fixed == ["a::bad", "b.py", "b.py::t"] and c.failing == ["a::new"] and c.broken == ["a::gone", "a::ok"]
    assert not c.passed and c.summary() == "3 of 4 failing or new tests pass; 2 of 2 tests that passed before fail"
    assert compare(before, before).summary() == "0 of 2 failing or new tests pass; 0 of 2 tests that passed before fail"


def test_how_a_repository_runs_its_tests_is_found(tmp_path):
    (tmp_path / "Makefile").write_text("all:\n\techo\ntest:\n\techo ok\n")
    assert discover(tmp_path) == "make test"
    (tmp_path / "Makefile").unlink()
    assert discover(tmp_path) is None
    (tmp_path / "tox.ini").write_text("[testenv]\ncommands =\n    python -m unittest {posargs}\n")
    assert discover(tmp_path) == "python -m unittest"
    (tmp_path / "test_x.py").write_text("")
    assert discover(tmp_path) == PYTEST_ALL
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "runtests.py").write_text("")
    assert discover(tmp_path) == "python tests/runtests.py"


def test_localization_ranks_what_the_failing_test_ran(repo):
    box = Sandbox(repo, kind=sandbox_kind())
    run = run_suite(box, PYTEST_ALL)
    failing = [t for t, s in run.statuses.items() if s == "FAILED"]
    suspects = localize(repo, box, PYTEST_ALL, ISSUE, failing, run.output)
    assert [s.function.name for s in suspects] == ["clamp"]  # add and mean are never run by the failing test
    assert suspects[0].why.startswith("ochiai 0.58")  # 1 failing of the 3 tests that run it: 1/sqrt(1*3)
    assert not (repo / ".autonomo-trace.json").exists()
    assert source_of_test(repo, failing[0]).startswith("def test_clamp_high():")


def test_the_lines_the_failing_test_ran_alone_come_first(repo):
    box = Sandbox(repo, kind=sandbox_kind())
    run = run_suite(box, PYTEST_ALL)
    failing = [t for t, s in run.statuses.items() if s == "FAILED"]
    (clamp,) = [s.function for s in localize(repo, box, PYTEST_ALL, ISSUE, failing, run.output)]
    # `return low` of `x >= high` (line 10) only test_clamp_high runs: 1/sqrt(1*1); its `if` (9) 2 tests run, the
    # first `if` (7) all 3. The first `return low` (8) and `return x` (11) it never runs.
    assert suspect_lines(box, PYTEST_ALL, failing, run.output, [clamp]) == {clamp: [10, 9, 7]}
    assert not (repo / ".autonomo-trace.json").exists() and not (repo / ".autonomo-trace-lines.json").exists()


def test_a_lines_fix_replaces_its_statement_in_the_function():
    original = (
        "    def pick(self, x):\n"
        "        if x is None:\n"
        "            return 0\n"
        "        elif x > 1:  # big\n"
        "            # the rest\n"
        "            return self.call(x,\n"
        "                             1)\n"
        "        return x\n"
    )  # fmt: skip
    assert statement_at(original, 4) == (4, 4)  # a compound statement: its header, not its comment or body
    assert statement_at(original, 6) == (6, 7)  # a statement over two lines
    assert statement_at(original, 1) is None  # the function itself is not a line's statement
    fixed = fix_line("```python\nif x < 1:\n", original, "pick", (4, 4))  # cut at its block's end; elif kept
    assert fixed == original.replace("elif x > 1:  # big", "elif x < 1:")
    two = fix_line("```python\nreturn self.call(\n    x, 2)\n```", original, "pick", (6, 7))
    assert two == original.replace("self.call(x,\n                             1)", "self.call(\n    x, 2)").replace(
        "            return self.call(\n    x", "            return self.call(\n                x")
    assert fix_line("```python\nif x < 1\n```", original, "pick", (4, 4)) is None  # does not parse
    cut = "```python\ndef pick(self, x):\n    if x is None:\n        return 1\n    elif"  # a rewrite, cut at 200 tokens
    assert fix_line(cut, original, "pick", (6, 7)) is None  # not pasted in as the statement's fix
    whole = "```python\ndef pick(self, x):\n    return x\n```"
    assert fix_line(whole, original, "pick", (4, 4)) == "    def pick(self, x):\n        return x\n"
    # Only a fix that changed nothing but its statement can be kept as part of a fix (a rewrite can be a workaround).
    assert only(original, fixed, (4, 4)) and only(original, two, (6, 7))
    assert not only(original, fix_line(whole, original, "pick", (4, 4)), (4, 4))


def test_a_repair_run_tries_the_suspect_lines_first(repo, tmp_path):
    # The first wave is for line 10, `return low`: a copy of it (not tried), a wrong fix, the fix.
    model = script(tmp_path, "```python\nreturn low\n```", "```python\nreturn high + 1\n```",
                   "Fixed:\n```python\nreturn high\n```\nIt returned the wrong bound.", "no code")  # fmt: skip
    result = run_in(repo, model, "--strategy", "repair")
    assert result.exit_code == 0, result.output
    (run_dir,) = (home_of(repo) / "runs").iterdir()
    assert "+        return high" in (run_dir / "changes.patch").read_text()
    events = list(read_events(run_dir / "events.jsonl"))
    (localized,) = of_type(events, "localized")
    assert localized["suspects"][0]["suspect_lines"] == [10, 9, 7]
    checked = of_type(events, "candidate_checked")
    assert [(c["step"], c["passed"]) for c in checked] == [(2, False), (3, True)]
    assert of_type(events, "run_finished")[0]["outcome"] == "completed"


def test_when_no_lines_fix_passes_the_function_is_rewritten(repo, tmp_path):
    # clamp's 3 suspect lines get a wave of 4 each (12 replies with no fix), then clamp is rewritten whole.
    model = script(tmp_path, *["no code"] * 12, WRONG_FIX, RIGHT_FIX, "no code", "no code")
    result = run_in(repo, model, "--strategy", "repair")
    assert result.exit_code == 0, result.output
    (run_dir,) = (home_of(repo) / "runs").iterdir()
    events = list(read_events(run_dir / "events.jsonl"))
    assert [(c["step"], c["passed"]) for c in of_type(events, "candidate_checked")] == [(13, False), (14, True)]
    assert of_type(events, "run_finished")[0]["outcome"] == "completed"


def test_localization_without_failing_tests_uses_the_issues_words(repo):
    suspects = localize(repo, Sandbox(repo, kind="none"), PYTEST_ALL, "the mean of values is wrong", [])
    assert suspects[0].function.name == "mean" and "named in the issue" in suspects[0].why


def test_a_rewrite_is_one_function_indented_as_the_original():
    original = "    def size(self):\n        return len(self.items) - 1\n"
    reply = "Fixed:\n```python\ndef size(self):\n    return len(self.items)\n```\nDone."
    assert rewrite(reply, "size", original) == "    def size(self):\n        return len(self.items)\n"
    assert rewrite("```python\ndef other(self):\n    pass\n```", "size", original) is None
    assert rewrite("```python\ndef size(self):\n    pass\ndef more():\n    pass\n```", "size", original) is None
    # Imports beside it are dropped, a class around it taken off (the 1.5B model adds them now and then).
    fixed = "    def size(self):\n        return len(self.items)\n"
    imported = "```python\nimport os\n\ndef size(self):\n    return len(self.items)\n```"
    assert rewrite(imported, "size", original) == fixed
    wrapped = ('```python\nclass Stack:\n    """A stack."""\n    @property\n    def size(self):\n'
               '        return len(self.items)\n```')  # fmt: skip
    assert rewrite(wrapped, "size", original) == "    @property\n" + fixed
    assert rewrite("```python\ndef size(self:\n```", "size", original) is None
    assert normalized("def f():\n    return 1  # one\n") == normalized("def f():\n\n    return (1)\n")


def test_a_killed_repair_run_resumes_from_its_log_without_asking_the_model_again(repo, tmp_path):
    from autonomo.assembly import RunConfig, make_agent
    from autonomo.repo import runs as repo_runs

    path = tmp_path / "script.json"
    path.write_text(json.dumps([{"draft": WRONG_FIX}] * 4 + [{"draft": RIGHT_FIX}] * 4))
    config = RunConfig(model=f"scripted:{path}", sandbox=sandbox_kind(), strategy="repair")
    config, tree, run_dir = repo_runs.start(config, repo, home_of(repo))
    agent = make_agent(config, tree, run_dir=run_dir)
    agent.run(ISSUE, config=config.logged())
    log = run_dir / "events.jsonl"
    events = list(read_events(log))
    # The kill: just after the second wave's rewrite was written, before it was checked (the worktree holds it).
    cut = next(i for i, e in enumerate(events) if e["type"] == "observation" and e["id"] == "repair_5") + 1
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events[:cut]), encoding="utf-8")
    result = invoke("resume", run_dir.name, "-w", str(repo), "--quiet")
    assert result.exit_code == 0, result.output
    events = list(read_events(log))
    assert len(of_type(events, "model_call")) == 8  # the script has no 9th reply: none was asked for again
    finished = of_type(events, "run_finished")[-1]
    assert finished["outcome"] == "completed" and finished["totals"]["model_calls"] == 8
    assert "return high" in git(repo, "show", f"{config.repository.branch}:calc/ops.py")
    assert of_type(events, "patch_made") and (repo / "calc" / "ops.py").read_text() == OPS


def test_an_issue_with_no_failing_test_gets_a_reproduction_test_first(repo, tmp_path):
    # The user's repository has the bug but no test that shows it.
    without = TESTS.replace("def test_clamp_high():\n    assert clamp(11, 0, 10) == 10\n\n", "")
    (repo / "tests" / "test_ops.py").write_text(without)
    git(repo, "commit", "-q", "-am", "no test of the bug")
    broken = "```python\ndef test_it():\n    assert clamp(11, 0, 10) == 10\n```"  # no import: its own NameError
    good = "```python\nfrom calc.ops import clamp\n\ndef test_clamp_above():\n    assert clamp(11, 0, 10) == 10\n```"
    result = run_in(repo, script(tmp_path, broken, good, "no code", good, RIGHT_FIX, RIGHT_FIX, RIGHT_FIX, RIGHT_FIX),
                    "--strategy", "repair")  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = (home_of(repo) / "runs").iterdir()
    events = list(read_events(run_dir / "events.jsonl"))
    checked = of_type(events, "candidate_checked")
    reproduction = "test_autonomo_reproduction.py"
    assert [(c["target"], c["passed"]) for c in checked] == [
        (reproduction, False), (reproduction, True), ("clamp in calc/ops.py", True)
    ]  # fmt: skip
    assert of_type(events, "localized")[0]["failing"] == ["test_autonomo_reproduction.py::test_clamp_above"]
    finished = of_type(events, "run_finished")[0]
    assert finished["tests"] == "passed: 1 of 1 failing or new tests pass; 0 of 4 tests that passed before fail"
    assert of_type(events, "patch_made")[0]["files"] == ["calc/ops.py", "test_autonomo_reproduction.py"]


def test_test_ids_are_the_same_in_every_run(tmp_path):
    # Parametrized over a set of strings: the ids follow the set's order, which a random hash seed would change.
    (tmp_path / "test_set.py").write_text(
        "import pytest\n@pytest.mark.parametrize('x', {'alpha', 'beta', 'gamma', 'delta', 'epsilon'})\n"
        "def test_x(x):\n    assert x\n"
    )
    runs = [run_suite(Sandbox(tmp_path, kind=sandbox_kind()), PYTEST_ALL).statuses for _ in range(3)]
    assert len(runs[0]) == 5 and runs[0] == runs[1] == runs[2]
    assert list(runs[0]) == list(runs[1]) == list(runs[2])  # in the same order, too


def test_localization_traces_a_src_layout_whose_command_sets_pythonpath(repo):
    (repo / "src").mkdir()
    (repo / "calc").rename(repo / "src" / "calc")
    command = f"PYTHONPATH=src {PYTEST_ALL}"
    box = Sandbox(repo, kind=sandbox_kind())
    run = run_suite(box, command)
    failing = [t for t, s in run.statuses.items() if s == "FAILED"]
    assert failing == ["tests/test_ops.py::test_clamp_high"]
    suspects = localize(repo, box, command, ISSUE, failing, run.output)
    assert suspects[0].function.name == "clamp" and suspects[0].why.startswith("ochiai 0.58")


def test_a_selection_of_tests_drops_the_suites_own_paths_and_keeps_the_shell_words(tmp_path):
    from autonomo.repo.testing import without_paths

    (tmp_path / "tests").mkdir()
    env = 'PATH=/env/bin:"$PATH" PYTHONPATH="$PWD"/src'
    assert without_paths(f"{env} pytest -rA tests -o addopts=", tmp_path) == f"{env} pytest -rA -o addopts="
    assert without_paths("make test", tmp_path) == "make test"


def test_a_fix_that_makes_some_failing_tests_pass_is_kept_and_the_rest_sought_on_top(repo, tmp_path):
    # Two bugs in clamp: each bound returns the other. Line 7 (`if x < low`, run by both failing tests) comes
    # first, then `return high` (8): its fix makes test_clamp_low pass and breaks nothing, so it stays, and the
    # pipeline starts over from it with test_clamp_high alone, whose first suspect line is `return low` (10).
    two = OPS.replace("if x < low:\n        return low", "if x < low:\n        return high")
    (repo / "calc" / "ops.py").write_text(two)
    git(repo, "commit", "-q", "-am", "two bugs")
    model = script(tmp_path, *["no code"] * 4, "```python\nreturn low\n```", *["no code"] * 3,
                   "```python\nreturn high\n```", *["no code"] * 3)  # fmt: skip
    result = run_in(repo, model, "--strategy", "repair")
    assert result.exit_code == 0, result.output
    (run_dir,) = (home_of(repo) / "runs").iterdir()
    events = list(read_events(run_dir / "events.jsonl"))
    first, then = of_type(events, "localized")
    assert first["failing"] == ["tests/test_ops.py::test_clamp_high", "tests/test_ops.py::test_clamp_low"]
    assert first["suspects"][0]["suspect_lines"][:2] == [7, 8]
    assert then["failing"] == ["tests/test_ops.py::test_clamp_high"] and then["suspects"][0]["suspect_lines"][0] == 10
    assert [(c["step"], c["passed"]) for c in of_type(events, "candidate_checked")] == [(5, False), (9, True)]
    finished = of_type(events, "run_finished")[0]
    assert finished["outcome"] == "completed"
    assert finished["tests"].startswith("passed: 2 of 2 failing or new tests pass")
    fixed = OPS.replace("if x >= high:\n        return low", "if x >= high:\n        return high")
    assert git(repo, "show", f"autonomo/{run_dir.name}:calc/ops.py") == fixed  # both fixes, on the run's branch


def test_a_line_shared_by_a_nested_function_and_its_parent_is_tried_once(tmp_path):
    root = tmp_path / "nest"
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "calc" / "__init__.py").write_text("")
    (root / "calc" / "ops.py").write_text(
        "def scale(values, k):\n    def one(v):\n        w = v * k\n        return w + 1\n"
        "    out = []\n    for v in values:\n        out.append(one(v))\n    return out\n"
    )
    (root / "tests" / "test_ops.py").write_text(
        "from calc.ops import scale\n\ndef test_empty():\n    assert scale([], 2) == []\n\n"
        "def test_one():\n    assert scale([3], 2) == [6]\n"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "scale")
    # Suspect lines: scale.one's 3 and 4, then scale's 3, 4, 7, 2 (its def: no line's fix), 5. Lines 3 and 4 are
    # not asked about again, so the waves are for 3, 4, 7 and 5: 16 replies, and the 17th is the rewrite of one.
    fix = "```python\ndef one(v):\n    w = v * k\n    return w\n```"
    result = run_in(root, script(tmp_path, *["no code"] * 16, fix, *["no code"] * 3), "--strategy", "repair")
    assert result.exit_code == 0, result.output
    (run_dir,) = (home_of(root) / "runs").iterdir()
    events = list(read_events(run_dir / "events.jsonl"))
    (localized,) = of_type(events, "localized")
    assert [(s["function"], s["suspect_lines"][:4]) for s in localized["suspects"]] == [
        ("scale.one", [3, 4]), ("scale", [3, 4, 7, 2])
    ]  # fmt: skip
    assert [(c["step"], c["passed"]) for c in of_type(events, "candidate_checked")] == [(17, True)]
