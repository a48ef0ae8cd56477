"""The computer body's sandbox and file tools: nothing the agent runs reaches outside the workspace."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from conftest import needs_bwrap

from autonomo.computer.sandbox import Sandbox, SandboxUnavailable, truncate
from autonomo.computer.tools import ComputerTools


@pytest.fixture
def box(workspace):
    return Sandbox(workspace, kind="bwrap", timeout=20)


@needs_bwrap
def test_workspace_is_writable(box, workspace):
    result = box.run("echo hello > out.txt && cat out.txt")
    assert result.ok and result.output.strip() == "hello"
    assert (workspace / "out.txt").read_text() == "hello\n"


@needs_bwrap
@pytest.mark.parametrize("target", ["/etc/autonomo-escape", "/root/autonomo-escape", "/usr/autonomo-escape"])
def test_write_outside_workspace_fails(box, target):
    result = box.run(f"echo pwned > {target}")
    assert not result.ok
    assert "Read-only file system" in result.output or "Permission denied" in result.output
    assert not os.path.exists(target)


@needs_bwrap
def test_host_tmp_is_not_reachable(box, tmp_path):
    # /tmp inside is a private tmpfs: a write there never lands in the host's /tmp.
    marker = f"/tmp/autonomo-escape-{os.getpid()}"
    assert box.run(f"echo pwned > {marker} && cat {marker}").ok
    assert not os.path.exists(marker)
    sibling = tmp_path / "outside.txt"  # beside the workspace: inside, only the tmpfs copy of its folder
    box.run(f"echo pwned > {sibling}")
    assert not sibling.exists()


@needs_bwrap
def test_network_connections_fail(box):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    probe = 'python -c "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)" '
    loopback = box.run(probe + f"127.0.0.1 {port}")
    outside = box.run(probe + "1.1.1.1 80")
    server.close()
    assert not loopback.ok and "Error" in loopback.output
    assert not outside.ok and ("unreachable" in outside.output or "Error" in outside.output)
    assert accepted == []


@needs_bwrap
def test_host_secrets_are_not_in_the_environment(box, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    result = box.run("env")
    assert result.ok and "sk-secret-value" not in result.output and "OPENAI_API_KEY" not in result.output


@needs_bwrap
def test_timeout_kills_the_command_and_its_children(box, workspace):
    result = box.run("(sleep 30; echo late > late.txt) & sleep 30", timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert "timed out after 1 s" in result.output
    assert result.seconds < 10
    assert not (workspace / "late.txt").exists()


@needs_bwrap
def test_background_process_does_not_outlive_its_command(box, workspace):
    assert box.run("(sleep 2; echo late > late.txt) &").ok
    import time

    time.sleep(3)
    assert not (workspace / "late.txt").exists()


@needs_bwrap
def test_large_and_binary_output_is_truncated_and_decoded(box):
    result = box.run("head -c 5000000 /dev/urandom; yes | head -n 100000")
    assert len(result.output) < 20_000
    assert "[output was" in result.output and "characters cut" in result.output


def test_truncate_keeps_head_and_tail():
    text = "A" * 1000 + "B" * 1000
    out = truncate(text, 300)
    assert out.startswith("A" * 200) and out.endswith("B" * 100) and "1700 characters cut" in out


def test_missing_bubblewrap_is_refused(workspace, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="--sandbox none"):
        Sandbox(workspace, kind="bwrap")
    assert Sandbox(workspace, kind="none").run("echo ok").output.strip() == "ok"


def test_file_tools_stay_in_the_workspace(workspace, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (workspace / "link").symlink_to(outside)
    (workspace / ".autonomo").mkdir()
    tools = ComputerTools(Sandbox(workspace, kind="none"))
    for name, args in [
        ("view", {"path": "link"}),
        ("view", {"path": "../secret.txt"}),
        ("view", {"path": str(outside)}),
        ("create", {"path": "link", "content": "x"}),
        ("edit", {"path": "link", "old": "secret", "new": "x"}),
        ("create", {"path": ".autonomo/runs/x", "content": "forged"}),
    ]:
        obs = tools.call(name, args)
        assert not obs.ok, (name, args)
    assert outside.read_text() == "secret"
    assert not (workspace / ".autonomo" / "runs").exists()


def test_edit_requires_a_unique_match(workspace):
    (workspace / "a.py").write_text("x = 1\nx = 1\n")
    tools = ComputerTools(Sandbox(workspace, kind="none"))
    assert "found 2 times" in tools.call("edit", {"path": "a.py", "old": "x = 1", "new": "x = 2"}).output
    assert "not found" in tools.call("edit", {"path": "a.py", "old": "y", "new": "z"}).output
    assert tools.call("edit", {"path": "a.py", "old": "x = 1\nx", "new": "x = 2\nx"}).ok
    assert (workspace / "a.py").read_text() == "x = 2\nx = 1\n"


@needs_bwrap
def test_run_log_is_read_only_inside_the_sandbox(workspace):
    home = workspace / ".autonomo"
    home.mkdir()
    (home / "events.jsonl").write_text("{}\n")
    box = Sandbox(workspace, kind="bwrap", readonly_paths=(home,))
    assert not box.run("echo forged >> .autonomo/events.jsonl").ok
    assert (home / "events.jsonl").read_text() == "{}\n"


@needs_bwrap
def test_relative_paths_are_resolved(workspace, monkeypatch):
    monkeypatch.chdir(workspace.parent)
    (workspace / ".autonomo").mkdir()
    box = Sandbox(Path(workspace.name), kind="bwrap", readonly_paths=(Path(workspace.name) / ".autonomo",))
    result = box.run("echo ok > f && echo x > .autonomo/g")
    assert not result.ok and "Read-only file system" in result.output
    assert (workspace / "f").read_text() == "ok\n" and not (workspace / ".autonomo" / "g").exists()


@needs_bwrap
def test_protected_files_can_be_read_but_not_changed(workspace):
    (workspace / "calc_test.py").write_text("def test_x():\n    assert False\n")
    tools = ComputerTools(Sandbox(workspace, kind="bwrap"), protected=("calc_test.py",))
    assert tools.call("view", {"path": "calc_test.py"}).ok
    for name, args in [
        ("create", {"path": "calc_test.py", "content": "def test_x():\n    pass\n"}),
        ("edit", {"path": "calc_test.py", "old": "assert False", "new": "pass"}),
        ("shell", {"command": "sed -i s/False/True/ calc_test.py"}),
        ("shell", {"command": "rm -f calc_test.py"}),
    ]:
        obs = tools.call(name, args)
        assert not obs.ok, (name, obs.output)
    assert "is protected" in tools.call("create", {"path": "calc_test.py", "content": ""}).output
    assert (workspace / "calc_test.py").read_text() == "def test_x():\n    assert False\n"
