"""Every text the models read, as data: one TOML file per layer, each value a Jinja template.

``render("agent.repeat_note")`` or ``render("draft.request", goal=..., ...)``: the name is the file, then the keys.
A render must be given exactly the variables its template uses: a missing one and an unused one both fail, so a
prompt and its caller cannot drift apart silently. Each file says, in comments, why its texts read as they do.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import jinja2.meta

from autonomo.models.base import ToolSpec

# keep_trailing_newline: a template's text is the prompt exactly, trailing newline and all.
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


class PromptError(Exception):
    """A prompt that does not exist, or a render with the wrong variables: a bug in the caller."""


@cache
def _file(name: str) -> dict[str, Any]:
    try:
        text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"no prompt file {name}.toml") from None
    return tomllib.loads(text)


def _node(name: str) -> Any:
    file, _, path = name.partition(".")
    node: Any = _file(file)
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise PromptError(f"no prompt {name!r}")
        node = node[key]
    return node


def source(name: str) -> str:
    """The template text of prompt ``name`` (``file.key[.key...]``)."""
    node = _node(name)
    if not isinstance(node, str):
        raise PromptError(f"{name!r} is a table of prompts, not a prompt")
    return node


@cache
def _template(name: str) -> tuple[jinja2.Template, frozenset[str]]:
    text = source(name)
    return _ENV.from_string(text), frozenset(jinja2.meta.find_undeclared_variables(_ENV.parse(text)))


def variables(name: str) -> frozenset[str]:
    """The variables prompt ``name`` takes."""
    return _template(name)[1]


def render(name: str, /, **values: Any) -> str:
    template, wanted = _template(name)
    given = set(values)
    if given != wanted:
        missing, unused = sorted(wanted - given), sorted(given - wanted)
        raise PromptError(f"prompt {name!r}: missing variables {missing}, unused variables {unused}")
    return template.render(**values)


def tool(name: str, /, **values: Any) -> ToolSpec:
    """A tool as table ``name`` describes it: ``description`` (rendered with ``values``), and every other key one
    required string argument, with its text as the argument's description."""
    table = _node(name)
    if not isinstance(table, dict) or "description" not in table:
        raise PromptError(f"{name!r} is not a tool table")
    properties = {k: {"type": "string", "description": render(f"{name}.{k}")} for k in table if k != "description"}
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return ToolSpec(name.rsplit(".", 1)[-1], render(f"{name}.description", **values), schema)


def names() -> list[str]:
    """Every prompt there is, for the test that renders them all."""
    found = []
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".toml"):
            stack: list[tuple[str, Any]] = [(entry.name[:-5], _file(entry.name[:-5]))]
            while stack:
                prefix, node = stack.pop()
                for key, value in node.items():
                    if isinstance(value, dict):
                        stack.append((f"{prefix}.{key}", value))
                    else:
                        found.append(f"{prefix}.{key}")
    return sorted(found)
