"""The plain-text tool-call format of the local model: grammar and parser agree."""

from __future__ import annotations

import importlib.util

import pytest

from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools
from autonomo.models import textcall


@pytest.fixture
def tools(tmp_path):
    return ComputerTools(Sandbox(tmp_path, kind="none")).specs


def test_parse_lines_and_blocks():
    code = "def f():\n    return '`x`' + \"``\"\n"
    text = f"edit\npath: a.py\nold:\n```python\nx = 1\n```\nnew:\n```\n{code}```\n"
    assert textcall.parse(text) == ("edit", {"path": "a.py", "old": "x = 1\n", "new": code})
    assert textcall.parse("run_tests\n") == ("run_tests", {})
    assert textcall.parse("shell\ncommand: ls -la | head\n") == ("shell", {"command": "ls -la | head"})


def test_unreadable_arguments_are_an_error():
    with pytest.raises(ValueError):
        textcall.parse("create\n!!! nonsense")


def test_grammar_has_a_rule_per_tool(tools):
    source = textcall.grammar(tools)
    assert source.startswith("root ::= t-shell | t-view | t-create | t-edit | t-run-tests | t-finish")
    assert 't-create ::= "create\\n" "path: " line "\\n" "content:\\n" block' in source


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra")
def test_grammar_compiles_in_llama_cpp(tools):
    from llama_cpp import LlamaGrammar

    assert LlamaGrammar.from_string(textcall.grammar(tools), verbose=False) is not None
