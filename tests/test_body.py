"""The Body contract (body.py), checked on the computer; the humanoid's check is in test_robot.py."""

from __future__ import annotations

import pytest
from conftest import GOOD_CALC, PASSING_TEST, sandbox_kind

from autonomo.body import BodyContractError, check_body
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools


def test_the_computer_keeps_the_body_contract(workspace):
    (workspace / "calc.py").write_text(GOOD_CALC)
    (workspace / "test_calc.py").write_text(PASSING_TEST)
    check_body(ComputerTools(Sandbox(workspace, kind=sandbox_kind())))


def test_an_empty_workspace_keeps_it_too(workspace):
    check_body(ComputerTools(Sandbox(workspace, kind="none")))


def test_the_computer_says_what_a_run_changed_and_what_a_draft_may_write(workspace):
    (workspace / "calc.py").write_text("def add(a, b):\n    pass\n")
    (workspace / "test_calc.py").write_text(PASSING_TEST)
    body = ComputerTools(Sandbox(workspace, kind="none"), protected=("test_calc.py",))
    start = body.reset()
    assert "--- calc.py\ndef add(a, b):" in start.observation and start.observation.startswith("Workspace files:")
    draft = body.draftable()
    assert draft is not None and draft.editable == ["calc.py"] and set(draft.files) == {"calc.py", "test_calc.py"}
    (workspace / "calc.py").write_text(GOOD_CALC)
    (workspace / "notes.txt").write_text("new")
    assert body.changed(start.baseline) == ["calc.py", "notes.txt"]


def test_a_draft_writes_the_files_it_is_given_to_write_there_or_new(workspace):
    (workspace / "pkg").mkdir()
    (workspace / "pkg" / "__init__.py").write_text("")  # a scaffold: shown, not this run's to write
    body = ComputerTools(Sandbox(workspace, kind="none"), writes=("pkg/sort.py",))
    body.reset()
    draft = body.draftable()
    assert draft is not None and draft.editable == ["pkg/sort.py"] and set(draft.files) == {"pkg/__init__.py"}


def test_a_workspace_too_big_to_show_whole_is_not_drafted(workspace):
    (workspace / "big.py").write_text("x = 1\n" * 5000)  # past the 16,000 characters shown
    body = ComputerTools(Sandbox(workspace, kind="none"))
    body.reset()
    assert body.draftable() is None


def test_the_check_finds_a_body_that_breaks_the_contract(workspace):
    class Leaky(ComputerTools):
        rerun_safe = frozenset({"view", "teleport"})  # names a tool it does not have

    with pytest.raises(BodyContractError, match="rerun_safe"):
        check_body(Leaky(Sandbox(workspace, kind="none")))

    class Raises(ComputerTools):
        def call(self, name, arguments):
            raise KeyError(name)

    with pytest.raises(KeyError):  # a body that raises from call() is caught at once
        check_body(Raises(Sandbox(workspace, kind="none")))
