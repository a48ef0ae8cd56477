"""The escape suite: from inside the computer body's sandbox every way out fails, comes back to the agent as a
tool error, and the run goes on. RELIABILITY.md lists these cases."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import needs_bwrap, of_type

from autonomo.agent.loop import Agent, Budget
from autonomo.computer.sandbox import Cgroup, Limits, Sandbox
from autonomo.computer.tools import ComputerTools
from autonomo.events import EventLog, new_run_id, read_events
from autonomo.models.scripted import ScriptedModel

pytestmark = needs_bwrap
SECRET = "sk-autonomo-escape-test-0123456789abcdef"
LIMITS = Limits(memory_mb=256, processes=64)
CONNECT = 'python -c "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)" '


@pytest.fixture
def listener():
    """A host server on loopback that records any connection reaching it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted: list = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


def escapes(outside: Path, port: int) -> dict[str, str]:
    """Commands that try to get out. Each must fail (non-zero exit or killed)."""
    home = Path.home() / f".autonomo-escape-{os.getpid()}"
    return {
        "write /etc": "echo pwned > /etc/autonomo-escape",
        "write the host's home": f"echo pwned > {home}",
        "write the host's /tmp": f"echo pwned > {outside}",
        "write /usr": "touch /usr/autonomo-escape",
        "read an API key from the environment": "printenv OPENAI_API_KEY",
        "read an API key from other processes": f"grep -rqa {SECRET} /proc/*/environ",
        "connect to the host on loopback": CONNECT + f"127.0.0.1 {port}",
        "connect outside": CONNECT + "1.1.1.1 53",
        "fork bomb": ":(){ :|:& };:; sleep 30",  # it runs until the command times out
        "memory hog": "python -c 'x = bytearray(1 << 30); x[::4096] = bytes(len(x) // 4096)'",
        "write through a symlink out": "ln -sf /etc/hostname link && echo pwned >> link",
        "write the run log": "echo forged >> .autonomo/forged",
    }


def host_tmp_file() -> Path:
    """A path in a folder of the host's /tmp (the sandbox sees its own, empty /tmp)."""
    return Path(tempfile.mkdtemp(prefix="autonomo-escape-")) / "outside.txt"


def make_box(workspace: Path, timeout: float = 20) -> Sandbox:
    (workspace / ".autonomo").mkdir(exist_ok=True)
    return Sandbox(workspace, timeout=timeout, limits=LIMITS, readonly_paths=(workspace / ".autonomo",))


@pytest.mark.parametrize("name", list(escapes(Path("/x"), 0)))
def test_escape_fails(name, workspace, tmp_path, listener, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    port, accepted = listener
    outside = host_tmp_file()
    result = make_box(workspace, timeout=5).run(escapes(outside, port)[name])
    assert not result.ok, result.output
    assert SECRET not in result.output
    assert accepted == [] and not outside.exists()
    assert not (Path.home() / f".autonomo-escape-{os.getpid()}").exists() and not Path("/etc/autonomo-escape").exists()


def test_fork_bomb_is_bounded_and_the_host_stays_responsive(workspace):
    probe: list[float] = []

    def fork_on_host() -> None:
        time.sleep(1.5)
        start = time.monotonic()
        subprocess.run(["true"], check=True)
        probe.append(time.monotonic() - start)

    thread = threading.Thread(target=fork_on_host)
    thread.start()
    result = make_box(workspace, timeout=4).run(":(){ :|:& };:; sleep 10")
    thread.join()
    assert result.timed_out and "Resource temporarily unavailable" in result.output
    assert probe and probe[0] < 1.0  # the host could still start a process while the bomb went off
    assert not [d for d in Path("/sys/fs/cgroup/pids").glob(f"autonomo-{os.getpid()}-*")]  # nothing left behind


def test_memory_hog_is_killed_with_a_reason(workspace):
    result = make_box(workspace).run("python -c 'x = bytearray(1 << 30); x[::4096] = bytes(len(x) // 4096)'")
    assert not result.ok
    assert "256 MB" in result.output or "MemoryError" in result.output


def test_processes_left_running_are_killed(workspace):
    box = make_box(workspace)
    assert box.run("(sleep 1; echo late > late.txt) & setsid sh -c 'sleep 1; echo late > detached.txt' &").ok
    time.sleep(2)
    assert not (workspace / "late.txt").exists() and not (workspace / "detached.txt").exists()


def test_timeout_kills_the_command_and_its_children(workspace):
    result = make_box(workspace).run("(sleep 30; echo late > late.txt) & sleep 30", timeout=1)
    assert result.timed_out and result.exit_code == 124 and "timed out after 1 s" in result.output
    assert result.seconds < 10 and not (workspace / "late.txt").exists()


def test_huge_and_binary_output_is_truncated_and_decoded(workspace):
    result = make_box(workspace).run("head -c 100000000 /dev/zero | tr '\\0' a; head -c 100000 /dev/urandom")
    assert result.ok and len(result.output) < 10_000
    assert "[output was 100100000 bytes]" in result.output and "characters cut" in result.output
    result.output.encode("utf-8")  # binary bytes came back as valid text


def test_the_agent_gets_each_escape_as_a_tool_error_and_goes_on(workspace, tmp_path, listener, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    port, accepted = listener
    outside = host_tmp_file()
    outside_file = tmp_path / "secret.txt"
    outside_file.write_text("host data")
    (workspace / "out-link").symlink_to(outside_file)
    commands = escapes(outside, port)
    steps = [{"tool": "shell", "args": {"command": c}} for c in commands.values()]
    steps += [
        {"tool": "view", "args": {"path": "out-link"}},
        {"tool": "create", "args": {"path": "out-link", "content": "pwned"}},
        {"tool": "view", "args": {"path": "../secret.txt"}},
        {"tool": "finish", "args": {"summary": "tried every way out"}},
    ]
    log = EventLog(workspace / ".autonomo" / "runs" / new_run_id())
    tools = ComputerTools(make_box(workspace, timeout=5))
    result = Agent(ScriptedModel(steps), tools, log, Budget(max_steps=len(steps))).run("get out")
    events = list(read_events(log.path))
    observations = of_type(events, "observation")
    assert result.outcome == "completed"
    assert [o["ok"] for o in observations[:-1]] == [False] * (len(steps) - 1)
    assert accepted == [] and not outside.exists() and outside_file.read_text() == "host data"
    assert SECRET not in log.path.read_text()


def test_cgroup_limits_are_used_where_the_host_allows_them():
    cgroup = Cgroup.create(LIMITS)
    if cgroup is None:
        pytest.skip("no writable pids cgroup here: limits fall back to ulimits")
    try:
        pids = [d for d in cgroup.dirs if (d / "pids.max").exists()]
        assert pids and (pids[0] / "pids.max").read_text().strip() == "64"
    finally:
        cgroup.remove()
    assert not any(d.exists() for d in cgroup.dirs)
