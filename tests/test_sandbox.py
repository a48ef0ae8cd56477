"""The computer body's sandbox and file tools (the escape attempts are in test_escapes.py)."""

from __future__ import annotations

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
