"""Generated bugs (bench/bugs.py): kept only when they break passing tests, issues written from the failing tests
and not from the mutation, scored as SWE-bench scores (FAIL_TO_PASS and PASS_TO_PASS, test files restored), and
the whole bench end to end on a repository made here, with a scripted model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import sandbox_kind
from fake_openai import FakeOpenAI, Reply, text_completion
from typer.testing import CliRunner

from autonomo.bench.bugs import BugTask, failure_of, generate, load, suite_command
from autonomo.bench.runner import read_report
from autonomo.cli import app
from autonomo.repo.testing import PYTEST_ALL

LIB = '''def clamp(x, low, high):
    """Limit x to [low, high]."""
    if x < low:
        return low
    if x > high:
        return high
    return x


def unused(a, b):
    return a - b
'''
TESTS = """from lib import clamp


def test_low():
    assert clamp(-1, 0, 10) == 0


def test_high():
    assert clamp(11, 0, 10) == 10


def test_mid():
    assert clamp(5, 0, 10) == 5
"""


def library(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "lib.py").write_text(LIB)
    (root / "tests" / "test_lib.py").write_text(TESTS)
    return root


def test_only_bugs_that_break_passing_tests_are_kept_and_their_issue_does_not_show_the_change(tmp_path):
    repo = library(tmp_path / "lib")
    tasks = generate(repo, tmp_path / "out", count=50, sandbox=sandbox_kind(), log=lambda _: None)
    assert tasks, "clamp has mutations that its tests catch"
    for task in tasks:
        assert all(m["function"] == "clamp" for m in task.mutations)  # `unused` is run by no test: never kept
        assert task.fail_to_pass and set(task.fail_to_pass).isdisjoint(task.pass_to_pass)
        assert set(task.fail_to_pass) | set(task.pass_to_pass) == {
            "tests/test_lib.py::test_low", "tests/test_lib.py::test_high", "tests/test_lib.py::test_mid"
        }  # fmt: skip
        assert task.fail_to_pass[0] in task.goal and "\nlib.py:" not in task.goal  # no frame of the changed code
        for m in task.mutations:
            assert m["after"] not in task.goal or m["after"] in TESTS
    assert len({json.dumps(t.mutations) for t in tasks}) == len(tasks)
    assert sum(1 for t in tasks if t.mutations[0]["function"] == "clamp") <= 2  # at most 2 bugs per function
    # The same seed finds the same bugs; the task file is reused by a rerun.
    again = generate(repo, tmp_path / "out2", count=50, sandbox=sandbox_kind(), log=lambda _: None)
    assert [t.row() for t in again] == [t.row() for t in tasks]
    assert [t.row() for t in load(tmp_path / "out" / "tasks.jsonl")] == [t.row() for t in tasks]


def test_scoring_restores_the_tests_and_needs_both_fail_and_pass_to_pass(tmp_path):
    repo = library(tmp_path / "lib")
    (task,) = generate(repo, tmp_path / "out", count=1, sandbox=sandbox_kind(), log=lambda _: None)
    work = tmp_path / "work"
    task.prepare(work)
    assert (work / "lib.py").read_text() != LIB  # the bug is in the workspace, committed
    assert subprocess.run(["git", "status", "--porcelain"], cwd=work, capture_output=True, text=True).stdout == ""
    assert not task.score(work, tmp_path / "s1", sandbox=sandbox_kind()).passed
    (work / "lib.py").write_text(LIB)  # the fix
    assert task.score(work, tmp_path / "s2", sandbox=sandbox_kind()).passed
    # An agent that rewrote the tests to pass is scored by the original tests.
    (work / "lib.py").write_text(LIB.replace("return high", "return low"))
    (work / "tests" / "test_lib.py").write_text("def test_nothing():\n    pass\n")
    score = task.score(work, tmp_path / "s3", sandbox=sandbox_kind())
    assert not score.passed and "FAIL_TO_PASS" in score.summary


def test_the_test_command_takes_settings_then_pytest_arguments():
    assert suite_command("PYTHONPATH=src tests -o addopts=") == f"PYTHONPATH=src {PYTEST_ALL} tests -o addopts="
    assert suite_command("") == PYTEST_ALL


def test_an_issue_shows_the_tests_frames_and_the_error_only():
    output = (
        "=================================== FAILURES ===================================\n"
        "___________________________________ test_high ___________________________________\n"
        "tests/test_lib.py:9: in test_high\n"
        "    assert clamp(11, 0, 10) == 10\n"
        "lib.py:5: in clamp\n"
        "    if x >= high:\n"
        "E   TypeError: boom\n"
        "=========================== short test summary info ============================\n"
    )
    assert failure_of("tests/test_lib.py::test_high", output) == (
        "tests/test_lib.py:9: in test_high\n    assert clamp(11, 0, 10) == 10\nE   TypeError: boom"
    )


def test_bench_bugs_end_to_end_with_a_scripted_model(tmp_path):
    """The CI's end to end: tasks generated from a repository made here, autonomo's repair pipeline and the
    one-shot reference on them, scored; no mirror, no network, no model weights."""
    repo = library(tmp_path / "lib")
    out = tmp_path / "bench"
    gen = CliRunner().invoke(app, ["bench", "bugs", "--repo", str(repo), "--count", "1", "--out", str(out),
                                   "--sandbox", sandbox_kind(), "--generate-only"])  # fmt: skip
    assert gen.exit_code == 0, gen.output
    (task,) = load(out / "generated" / "lib" / "tasks.jsonl")
    fix = "```python\n" + LIB.split("\n\n\n")[0] + "\n```"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"draft": fix}] * 4 + [{"draft": "no code"}]))
    result = CliRunner().invoke(app, ["bench", "bugs", "--tasks", str(out / "generated" / "lib" / "tasks.jsonl"),
                                      "--model", f"scripted:{script}", "--peer", "oneshot", "--out", str(out),
                                      "--sandbox", sandbox_kind(), "--strategy", "repair"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["system"]: r for r in read_report(out / "report.jsonl")}
    assert rows["autonomo"]["passed"] and rows["autonomo"]["task"] == task.id and rows["autonomo"]["steps"] == 4
    assert rows["autonomo"]["tokens"] == rows["autonomo"]["prompt_tokens"] + rows["autonomo"]["completion_tokens"]
    assert not rows["oneshot"]["passed"]  # the script's last reply had no code
    assert (repo / "lib.py").read_text() == LIB  # the source repository is never changed
    both = CliRunner().invoke(app, ["bench", "bugs", "--tasks", "x", "--repo", str(repo)])
    assert both.exit_code == 2 and "not both" in both.output
    assert isinstance(task, BugTask)


FIXED = LIB.split("\n\n\n")[0]  # clamp as it was before the bug


@pytest.mark.parametrize(
    ("strategy", "replies"),
    [
        # A hosted model's default, the tool loop, starts with a draft of whole files when the repository fits.
        pytest.param("auto", [f"### lib.py\n```python\n{LIB}```"], id="auto-draft"),
        # The pipeline: one wave of 4 fixes of the most suspect line, asked for at once (4 threads); a reply may
        # rewrite the whole function instead.
        pytest.param("repair", [f"```python\n{FIXED}\n```"] * 4, id="repair"),
    ],
)
def test_bench_bugs_end_to_end_with_a_hosted_model(strategy, replies, server, tmp_path):
    """The same command with --model PROVIDER/NAME --api-base URL: litellm's path, to a fake OpenAI-compatible
    server, on tasks generated here."""
    repo = library(tmp_path / "lib")
    out = tmp_path / "bench"
    gen = CliRunner().invoke(app, ["bench", "bugs", "--repo", str(repo), "--count", "1", "--out", str(out),
                                   "--sandbox", sandbox_kind(), "--generate-only"])  # fmt: skip
    assert gen.exit_code == 0, gen.output
    tasks = out / "generated" / "lib" / "tasks.jsonl"
    (task,) = load(tasks)
    FakeOpenAI.replies = [Reply(payload=text_completion(text)) for text in [*replies, "no code"]]  # last: oneshot's
    result = CliRunner().invoke(app, ["bench", "bugs", "--tasks", str(tasks), "--model", "openai/fake-coder",
                                      "--api-base", server, "--peer", "oneshot", "--out", str(out),
                                      "--sandbox", sandbox_kind(), "--strategy", strategy],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["system"]: r for r in read_report(out / "report.jsonl")}
    mine, oneshot = rows["autonomo"], rows["oneshot"]
    assert mine["passed"] and mine["task"] == task.id and mine["model"] == "openai/fake-coder"
    assert not oneshot["passed"] and oneshot["outcome"] == "no usable function in the reply"
    n = len(replies)  # each of the fake's replies counts 120 prompt tokens, 100 of them cached, and 15 completion
    assert mine["steps"] == n and (mine["prompt_tokens"], mine["completion_tokens"]) == (120 * n, 15 * n)
    assert mine["prompt_tokens_evaluated"] == 20 * n and mine["tokens"] == 135 * n
    assert (oneshot["prompt_tokens"], oneshot["completion_tokens"]) == (120, 15)
    # Every call went to the server, in order: autonomo's, then the one-shot reference's.
    assert len(FakeOpenAI.requests) == n + 1 and not FakeOpenAI.replies
    assert {r["model"] for r in FakeOpenAI.requests} == {"fake-coder"}
    assert all(task.fail_to_pass[0] in r["messages"][-1]["content"] for r in FakeOpenAI.requests)  # the issue
    mine_sent = FakeOpenAI.requests[:n]
    assert all("tools" not in r for r in mine_sent)  # neither a draft nor a rewrite is a tool call
    if strategy == "auto":
        assert mine_sent[0]["temperature"] == 0.0 and "### tests/test_lib.py" in mine_sent[0]["stop"]
    else:  # the wave's samples: one greedy and three hot, each with its own seed, a line's worth of tokens
        assert sorted(r["temperature"] for r in mine_sent) == [0.0, 0.8, 0.8, 0.8]
        assert len({r["seed"] for r in mine_sent}) == 4 and {r["max_tokens"] for r in mine_sent} == {200}
        assert all(r["stop"] == ["\n```\n"] for r in mine_sent)  # cut where its code block ends
    assert (repo / "lib.py").read_text() == LIB


def test_an_issue_finds_a_methods_failure_under_its_class_name():
    output = (
        "_______________________ TestFormat.test_strip[a-1] _______________________\n"
        "tests/test_format.py:3: in test_strip\n    assert f() == 1\nE   assert 0 == 1\n"
        "=========================== short test summary info ============================\n"
    )
    assert failure_of("tests/test_format.py::TestFormat::test_strip[a-1]", output).endswith("E   assert 0 == 1")
