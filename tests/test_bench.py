"""The benchmark harness: no answer reaches a workspace, scoring is right, reports resume."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import needs_bwrap, sandbox_kind

from autonomo.agent.draft import code_blocks, stop_sequences
from autonomo.bench.report import markdown, summary_rows
from autonomo.bench.runner import Bench, BenchConfig, read_report, source_commit
from autonomo.bench.tasks import DEFAULT_TASKS, load_tasks
from autonomo.body import Draftable
from autonomo.models.scripted import ScriptedModel

needs_data = pytest.mark.skipif(not DEFAULT_TASKS["exercism"].is_file(), reason="../shared/benchmarks missing")


def raw_rows(suite: str) -> list[dict]:
    with open(DEFAULT_TASKS[suite], encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def workspace_texts(task, tmp_path) -> list[str]:
    ws = tmp_path / task.id.replace("/", "_")
    task.prepare(ws)
    return [p.read_text() for p in ws.rglob("*") if p.is_file()] + [task.goal]


@needs_data
def test_no_reference_solution_or_hidden_test_reaches_a_workspace(tmp_path):
    for suite, secrets in (
        ("exercism", lambda r: list(r["reference"].values())),
        ("humaneval", lambda r: [r["canonical_solution"], r["test"]]),
    ):
        rows = raw_rows(suite)
        tasks = load_tasks(suite)
        assert len(tasks) == len(rows) > 0
        for row, task in zip(rows, tasks, strict=True):
            texts = workspace_texts(task, tmp_path)
            for secret in secrets(row):
                assert not any(secret.strip() in text for text in texts), (task.id, secret[:80])


@needs_data
@pytest.mark.parametrize("suite", ["exercism", "humaneval"])
def test_scoring_passes_the_reference_and_fails_the_stub(suite, tmp_path):
    for row, task in list(zip(raw_rows(suite), load_tasks(suite), strict=True))[:3]:
        stub = tmp_path / "stub"
        task.prepare(stub)
        assert not task.score(stub, tmp_path / "s1", sandbox=sandbox_kind()).passed, task.id
        solved = tmp_path / "solved"
        task.prepare(solved)
        if suite == "exercism":
            for name, text in row["reference"].items():
                (solved / name).write_text(text)
        else:
            (solved / "solution.py").write_text(row["prompt"] + row["canonical_solution"])
        (solved / "test_wrong.py").write_text("def test_agent_written():\n    assert False\n")  # ignored
        score = task.score(solved, tmp_path / "s2", sandbox=sandbox_kind())
        assert score.passed, (task.id, score.summary)


def test_a_draft_stops_at_the_heading_of_a_test_file_only():
    shown = Draftable(
        {"units/__init__.py": "", "units/__main__.py": "", "wordy_test.py": ""}, ["units/__init__.py"], "create"
    )
    assert stop_sequences(shown) == ["### wordy_test.py"]  # the entry file it may not write is no reason to stop


def test_code_blocks_go_to_the_files_they_name():
    text = "### a.py\n```python\nA = 1\n```\nand\n### `b.py`\n```\nB = 2\n```\n### a.py\n```python\nagain\n```"
    assert code_blocks(text, Draftable({}, [], "create")) == [("a.py", "A = 1\n"), ("b.py", "B = 2\n")]
    only_c = Draftable({"c.py": "", "test_c.py": ""}, ["c.py"], "create")
    assert code_blocks("```py\nC = 3\n```", only_c) == [("c.py", "C = 3\n")]
    assert code_blocks("```py\nC = 3\n```", Draftable({}, [], "create")) == []
    assert code_blocks("### test_c.py\n```py\nT = 0\n```", only_c) == []  # a copy of the tests is no change
    inside = "```python\n### d.py\nD = 4\n```\n```python\n### e.py\n```python\nE = 5\n```"  # the heading in the fence
    assert code_blocks(inside, Draftable({}, [], "create")) == [("d.py", "D = 4\n"), ("e.py", "E = 5\n")]
    assert code_blocks("### f.py\n```\nF = 6```", Draftable({}, [], "create")) == [("f.py", "F = 6")]
    two = "```python\n### g/a.py\nA = 1\n### g/b.py\nB = 2\n### not a file\n```"  # two files in one fence
    assert code_blocks(two, Draftable({}, [], "create")) == [
        ("g/a.py", "A = 1\n"),
        ("g/b.py", "B = 2\n### not a file\n"),
    ]


def test_a_drafts_imports_of_its_own_names_from_its_own_package_are_dropped():
    code = (
        "from rl import TokenBucket\n"  # circular: the class is below
        "from rl.main import (\n    main,\n)\n"  # a module never written
        "from .clock import clock\n"  # not a name of this file's: the failure stays visible
        "from .helpers import util\n"  # a module that is there
        "from math import sqrt\n"
        "class TokenBucket: pass\ndef main(): pass\ndef sqrt(): pass\nutil = 3\n"
    )
    ((_, written),) = code_blocks(
        f"### rl/__init__.py\n```python\n{code}```", Draftable({"rl/helpers.py": ""}, [], "create")
    )
    assert written.splitlines()[:3] == [
        "from .clock import clock",
        "from .helpers import util",
        "from math import sqrt",
    ]
    assert code_blocks(f"### top.py\n```python\n{code}```", Draftable({}, [], "create"))[0][1] == code  # no package


@needs_data
def test_bench_runs_scores_and_resumes(tmp_path):
    task = load_tasks("exercism", limit=1)[0]  # hello-world
    solve = [
        {"tool": "create", "args": {"path": "hello_world.py", "content": "def hello():\n    return 'Hello, World!'\n"}},
        {"tool": "finish", "args": {"summary": "done"}},
    ]
    wrong = [
        {"tool": "create", "args": {"path": "hello_world.py", "content": "def hello():\n    return 'Hi'\n"}},
        {"tool": "finish", "args": {"summary": "claims done"}},
    ]
    config = BenchConfig(out=tmp_path / "out", model_spec="scripted", sandbox=sandbox_kind())
    # Attempt 1 is wrong, and its finish is refused: with one attempt the task fails.
    Bench(config, ScriptedModel(wrong), log=lambda _: None).run([task], ["autonomo"])
    (row,) = read_report(config.out / "report.jsonl")
    assert not row["passed"] and row["attempts"] == 1
    # Rerun with more attempts: only the missing attempt runs, and it wins.
    config.attempts = 2
    Bench(config, ScriptedModel(solve), log=lambda _: None).run([task], ["autonomo"])
    (row,) = read_report(config.out / "report.jsonl")
    assert row["passed"] and row["attempts"] == 2 and row["winner"] == 1
    # Everything is done: a third run calls no model at all.
    Bench(config, ScriptedModel([]), log=lambda _: None).run([task], ["autonomo"])
    table = {r["k"]: r for r in summary_rows(read_report(config.out / "report.jsonl"))}
    assert table[1]["solved"] == 0 and table[2]["solved"] == 1
    report = markdown(read_report(config.out / "report.jsonl"), "t")
    assert "| autonomo | 2 | 1 | 1 | 1.0 |" in report
    # Each row names the agent version that produced it, so a run resumed across sessions shows any mix.
    (row,) = read_report(config.out / "report.jsonl")
    assert row["commit"] == source_commit() != "" and f"Autonomo commits: {row['commit']}." in report


class InterruptedModel(ScriptedModel):
    def complete(self, messages, tools=(), **sampling):
        raise KeyboardInterrupt  # Ctrl-C while the model thinks


@needs_data
def test_an_interrupted_attempt_is_not_recorded_as_a_result(tmp_path):
    task = load_tasks("exercism", limit=1)[0]
    config = BenchConfig(out=tmp_path / "out", model_spec="scripted", sandbox=sandbox_kind())
    with pytest.raises(KeyboardInterrupt):
        Bench(config, InterruptedModel([]), log=lambda _: None).run([task], ["autonomo"])
    assert read_report(config.out / "report.jsonl") == []  # not a failure: the rerun tries the task again
    hello = "def hello():\n    return 'Hello, World!'\n"
    solve = [
        {"tool": "create", "args": {"path": "hello_world.py", "content": hello}},
        {"tool": "finish", "args": {"summary": "done"}},
    ]
    Bench(config, ScriptedModel(solve), log=lambda _: None).run([task], ["autonomo"])
    (row,) = read_report(config.out / "report.jsonl")
    assert row["passed"] and row["attempts"] == 1


@needs_data
def test_sigterm_stops_the_bench_cleanly_and_records_nothing_half_done(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tool": "shell", "args": {"command": "sleep 60"}}]))
    out = tmp_path / "out"
    cli = [sys.executable, "-c", "from autonomo.cli import app; app()", "bench", "exercism", "--limit", "1"]
    args = ["--model", f"scripted:{script}", "--out", str(out), "--sandbox", sandbox_kind()]
    proc = subprocess.Popen(cli + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        '"shell"' in p.read_text() for p in out.glob("work/autonomo/*/a0/.autonomo/runs/*/events.jsonl")
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert "rerun the same command to resume" in proc.stderr.read()
    assert read_report(out / "report.jsonl") == []
    (events,) = out.glob("work/autonomo/*/a0/.autonomo/runs/*/events.jsonl")  # the attempt's own log is complete
    assert json.loads(events.read_text().splitlines()[-1])["outcome"] == "interrupted"


@needs_data
@pytest.mark.local_model
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra")
def test_bench_smoke_on_the_embedded_model(tmp_path):
    """CI's 3-task smoke of the harness: autonomo and the one-shot reference on the embedded model."""
    from typer.testing import CliRunner

    from autonomo.cli import app

    out = tmp_path / "bench"
    args = ["bench", "exercism", "--limit", "3", "--max-steps", "6", "--peer", "oneshot", "--out", str(out)]
    result = CliRunner().invoke(app, args + ["--sandbox", sandbox_kind()], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = read_report(out / "report.jsonl")
    assert sorted((r["system"], r["task"]) for r in rows) == sorted(
        (s, t.id) for s in ("autonomo", "oneshot") for t in load_tasks("exercism", limit=3)
    )
    assert all(r["prompt_tokens"] > 0 and r["steps"] >= 1 for r in rows)
    report = (out / "report.md").read_text()
    assert "| autonomo | 1 | 3 |" in report and "| oneshot | 1 | 3 |" in report
    assert (out / "report.png").stat().st_size > 1000


@needs_bwrap
@pytest.mark.skipif(importlib.util.find_spec("minisweagent") is None, reason="mini-swe-agent not installed")
def test_the_peer_agents_commands_run_in_autonomos_sandbox(tmp_path):
    from minisweagent.environments.extra.bubblewrap import BubblewrapEnvironment

    from autonomo.computer.sandbox import Sandbox

    options = Sandbox(tmp_path, kind="bwrap").bwrap_options()
    env = BubblewrapEnvironment(cwd=str(tmp_path), wrapper_args=options, timeout=30)
    assert env.execute({"command": "echo hi > note.txt && python -c 'print(1 + 1)'"})["output"].strip() == "2"
    assert (tmp_path / "note.txt").read_text() == "hi\n"  # the workspace is writable
    escape = env.execute({"command": "touch /etc/autonomo-escape"})
    assert escape["returncode"] != 0 and not (tmp_path.parent / "etc").exists()
    online = env.execute({"command": "python -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\""})
    assert online["returncode"] != 0  # no network


@pytest.mark.skipif(importlib.util.find_spec("minisweagent") is None, reason="mini-swe-agent not installed")
def test_mini_swe_agent_runs_unattended_and_its_counts_and_trajectory_come_back(server, tmp_path):
    """The peer adapter end to end, against a fake server instead of llama.cpp: two bash steps, then submit."""
    from fake_openai import FakeOpenAI, Reply, text_completion

    from autonomo.bench.miniswe import run_miniswe

    def reply(command: str) -> Reply:
        return Reply(payload=text_completion(f"THOUGHT: next.\n\n```mswea_bash_command\n{command}\n```"))

    FakeOpenAI.replies = [reply("echo 'X = 1' > solution.py"), reply("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")]
    workspace, trajectory = tmp_path / "ws", tmp_path / "run.traj.json"
    workspace.mkdir()
    r = run_miniswe("Write solution.py.", workspace, server, "fake", step_limit=5, trajectory=trajectory, timeout=60)
    assert r["outcome"] == "Submitted" and r["steps"] == 2, r
    assert (r["prompt_tokens"], r["completion_tokens"]) == (240, 30)  # the sums of the fake's two usages
    assert (workspace / "solution.py").read_text() == "X = 1\n"
    assert FakeOpenAI.requests[0]["max_tokens"] == 1024  # the harness's cap reached the server
    messages = json.loads(trajectory.read_text())["messages"]
    assert "Write solution.py." in messages[1]["content"]


def test_attempts_run_in_waves_of_parallel_and_stop_after_the_wave_that_verified(tmp_path, monkeypatch):
    """K attempts at once let the local engine decode them together; a wave's attempts are all recorded, in order."""
    import threading
    import time

    from autonomo.bench.runner import Attempt

    config = BenchConfig(out=tmp_path / "out", model_spec="scripted", attempts=5, parallel=2)
    bench = Bench(config, ScriptedModel([]), log=lambda _: None)
    running, most = 0, 0
    guard = threading.Lock()

    def attempt(system, task, n):
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.2)  # long enough for a wave's two threads to overlap
        with guard:
            running -= 1
        return Attempt(attempt=n, temperature=0.0, seed=n, outcome="completed", verified=n == 2)

    monkeypatch.setattr(bench, "_attempt", attempt)
    attempts = bench.run_task("autonomo", None, [], 5)
    assert [a.attempt for a in attempts] == [0, 1, 2, 3] and most == 2
    monkeypatch.setattr(bench.config, "parallel", 1)
    assert [a.attempt for a in bench.run_task("autonomo", None, [], 5)] == [0, 1, 2]  # one by one, as before
