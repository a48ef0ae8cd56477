"""Prompts as data (src/autonomo/prompts/): every one renders, and a render with the wrong variables fails."""

from __future__ import annotations

import pytest

from autonomo import prompts
from autonomo.prompts import PromptError, render


def test_every_prompt_renders_with_its_variables():
    names = prompts.names()
    assert len(names) > 40 and "agent.first" in names and "computer.tools.edit.old" in names
    for name in names:
        values = {v: f"<{v}>" for v in prompts.variables(name)}
        text = render(name, **values)
        assert text.strip(), name
        for value in values.values():
            assert value in text, f"{name} drops {value}"


def test_a_missing_or_an_unused_variable_fails():
    with pytest.raises(PromptError, match="missing variables \\['goal'\\]"):
        render("agent.first", observation="x")
    with pytest.raises(PromptError, match="unused variables \\['extra'\\]"):
        render("agent.first", goal="g", observation="o", extra=1)
    with pytest.raises(PromptError, match="no prompt"):
        render("agent.no_such_prompt")


def test_texts_come_out_exactly_as_written():
    assert render("agent.first", goal="g", observation="o") == "Goal: g\n\no"
    assert render("draft.request", goal="g", files="", note="", wanted="a.py") == (
        "g\n\nThe files:\n\n(none yet)\n\nReply with the complete new content of a.py, each in its own fenced block "
        "preceded by a line `### <file name>`."
    )
    redraft = render("draft.request", goal="g", files="F", note="N", wanted="a.py")
    assert redraft.startswith("g\n\nThe files:\n\nF\n\nN\n\nReply")


def test_a_tool_table_becomes_a_tool_spec():
    spec = prompts.tool("computer.tools.edit")
    assert spec.name == "edit" and list(spec.parameters["properties"]) == ["path", "old", "new"]
    assert spec.parameters["required"] == ["path", "old", "new"]
    assert "min_top" in prompts.variables("robot.tools.push.description")


def test_the_public_api_names_what_it_exports():
    import autonomo

    assert set(autonomo.__all__) == set(autonomo._API)
    for name in autonomo.__all__:
        assert getattr(autonomo, name) is not None, name
    assert autonomo.make_agent.__module__ == "autonomo.assembly"
