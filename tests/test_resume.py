"""Crash and resume: a run killed with SIGKILL at random points continues from its event log, with no completed
tool call run twice, exact ledger totals and a consistent workspace."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from conftest import GOOD_CALC, PASSING_TEST, of_type, sandbox_kind

from autonomo.events import EventLog, Ledger, find_run, read_events

CLI = [sys.executable, "-c", "from autonomo.cli import app; app()"]
KILLS = 10
SLOW_STEPS = 40


def script(tmp_path):
    steps = [{"tool": "shell", "args": {"command": f"sleep 0.3; echo {i} >> trace.txt"}} for i in range(SLOW_STEPS)]
    steps += [
        {"tool": "create", "args": {"path": "calc.py", "content": GOOD_CALC}},
        {"tool": "create", "args": {"path": "test_calc.py", "content": PASSING_TEST}},
        {"tool": "finish", "args": {"summary": "add works"}},
    ]
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(steps))
    return path, len(steps)


def log_size(home) -> int:
    logs = list(home.glob("runs/*/events.jsonl"))
    return logs[0].stat().st_size if logs else 0


def test_kill_9_at_random_points_then_resume(workspace, tmp_path):
    steps_file, n_steps = script(tmp_path)
    home = tmp_path / "home"
    common = ["--workspace", str(workspace), "--home", str(home), "--quiet"]
    start = ["run", "make add work", "--model", f"scripted:{steps_file}", "--sandbox", sandbox_kind()]
    start += ["--max-steps", "60"]
    rng = random.Random(7)
    kills = 0
    args = start + common
    while True:
        before = log_size(home)
        proc = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < KILLS:
            # The clock starts once this process is at work (its first event), so that a slow machine's start-up
            # does not swallow the kill: then it dies at a random moment of its work.
            while log_size(home) == before and proc.poll() is None:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.0))
        if proc.poll() is None and kills < KILLS:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            args = ["resume", "last"] + common
            continue
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
        break
    assert kills == KILLS

    events = list(read_events(find_run(home, "last") / "events.jsonl"))
    assert [e["seq"] for e in events] == list(range(len(events)))  # nothing torn or lost in the middle
    assert events[-1]["type"] == "run_finished" and events[-1]["outcome"] == "completed"
    resumed = len(of_type(events, "run_resumed"))
    assert resumed == KILLS
    interrupted = {e["id"] for e in of_type(events, "observation") if "was stopped while this call ran" in e["output"]}
    print(f"kills: {kills}, resumes: {resumed}, calls cut short and reported: {len(interrupted)}")  # for RELIABILITY.md
    calls = Counter(e["id"] for e in of_type(events, "tool_call"))
    observed = Counter(e["id"] for e in of_type(events, "observation"))
    assert {c for c, n in calls.items() if n > 1} <= {e["id"] for e in events if e.get("name") == "create"}
    assert set(observed.values()) == {1} and observed.keys() == calls.keys()  # each call has exactly one result
    # Every scripted reply was used exactly once, so every call is paid for once.
    assert len(of_type(events, "model_call")) == n_steps
    assert events[-1]["totals"] == Ledger.from_events(events[:-1]).totals()
    lines = (workspace / "trace.txt").read_text().split()
    assert len(lines) == len(set(lines))  # no command ran twice
    shell_ids = [e["id"] for e in of_type(events, "tool_call") if e["name"] == "shell"]
    done = [i for i, call_id in enumerate(shell_ids) if call_id not in interrupted]
    assert set(map(str, done)) <= set(lines)  # each command that finished left its line
    assert (workspace / "calc.py").read_text() == GOOD_CALC
    assert not list(workspace.glob(".*.autonomo-tmp"))


def test_a_torn_last_line_is_cut_before_the_log_goes_on(tmp_path):
    log = EventLog(tmp_path / "run")
    log.emit("user_message", step=1, content="hello")
    with open(log.path, "ab") as f:
        f.write(b'{"seq": 1, "type": "obs')  # a write cut short by a kill
    again = EventLog(tmp_path / "run")
    again.emit("run_resumed", after_events=1)
    assert [e["type"] for e in read_events(log.path)] == ["user_message", "run_resumed"]
    assert log.path.read_bytes().endswith(b"}\n")


def test_resume_refuses_a_finished_run(workspace, tmp_path):
    steps_file, _ = script(tmp_path)
    home = tmp_path / "home"
    common = ["--workspace", str(workspace), "--home", str(home), "--quiet"]
    subprocess.run(CLI + ["run", "x", "--model", f"scripted:{steps_file}", "--max-steps", "1"] + common)
    result = subprocess.run(CLI + ["resume", "last"] + common, capture_output=True, text=True)
    assert result.returncode == 2 and "already finished (budget_exhausted)" in result.stderr
