"""The plan: work items, each with acceptance checks that can be run, and the product's own acceptance checks."""

from __future__ import annotations

import json
import re
import shlex

from pydantic import BaseModel, Field, ValidationError, field_validator

from autonomo.models.base import Message


class Check(BaseModel):
    """A command a user would run, and text its output must contain; it must also exit 0. A check with a ``url``
    is a web page instead: ``command`` starts the server, a browser opens the page, performs ``actions``
    (``click=SELECTOR``, ``fill=SELECTOR=TEXT``) and the page's text must contain ``expect``."""

    command: str = Field(min_length=1)
    expect: str = ""
    item: str = ""  # for a product check: the work item that answers for it, if one does
    url: str = ""
    actions: list[str] = Field(default_factory=list)

    def script(self) -> str:
        """The check as one shell line that fails when the command does, or when the text is missing."""
        command = self.command
        if self.url:
            browse = ["python", "-m", "autonomo.company.browse", "--serve", command, "--url", self.url]
            command = shlex.join(browse + [f"--action={a}" for a in self.actions])
        if not self.expect:
            return command
        expect = shlex.quote(self.expect)
        return f'out=$({command} 2>&1); s=$?; echo "$out"; [ $s -eq 0 ] && grep -qF -- {expect} <<< "$out"'


def slug(value: object) -> object:
    """Ids name branches and folders: lower-case kebab, whatever the planner wrote ("Unit_Converter" too)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:40]


class WorkItem(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    title: str = Field(min_length=1)
    description: str = ""
    checks: list[Check] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: object) -> object:
        return slug(value)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _deps(cls, value: object) -> object:
        return [slug(v) for v in value] if isinstance(value, list) else value


class Plan(BaseModel):
    items: list[WorkItem] = Field(min_length=1)
    acceptance: list[Check] = Field(default_factory=list)  # the whole product, run by QA as a user would

    @field_validator("items")
    @classmethod
    def _consistent(cls, items: list[WorkItem]) -> list[WorkItem]:
        ids = [i.id for i in items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"work item ids repeat: {ids}")
        for item in items:
            unknown = set(item.depends_on) - set(ids)
            if unknown:
                raise ValueError(f"{item.id} depends on unknown items {sorted(unknown)}")
        return items


class PlanError(ValueError):
    """The planner's reply is not a usable plan."""


PLANNER_SYSTEM = "You are the tech lead of a small software company. You split products into work items."
SCHEMA_HINT = """Reply with one JSON object in a ```json block. For example, for "a calculator command":
```json
{"items": [
  {"id": "core", "title": "add and mul in calc/core.py",
   "description": "calc/__init__.py (empty) and calc/core.py with add(a, b) and mul(a, b) on floats",
   "checks": [{"command": "python -c 'from calc.core import add; print(add(2, 3))'", "expect": "5"}]},
  {"id": "cli", "title": "the command line: python -m calc OP A B",
   "description": "calc/__main__.py: reads OP (add or mul) and two numbers from sys.argv, prints the result",
   "checks": [{"command": "python -m calc add 2 3", "expect": "5"}], "depends_on": ["core"]}],
 "acceptance": [{"command": "python -m calc mul 4 5", "expect": "20", "item": "cli"}]}
```
For a web page, a check also names the page and what a user does there, and "expect" is text the page then shows:
{"command": "python -m http.server 8000", "url": "http://127.0.0.1:8000/", "actions": ["fill=#a=2", "click=text=Add"],
 "expect": "5"}
"expect" is text the command really prints (a number, a word), never a description; a check that runs tests
expects what the runner prints when they pass: "OK" for python -m unittest, "passed" for python -m pytest.
Each check must be a command that runs without arguments from a user. Keep items small: engineers work on
them at the same time. Python 3 standard library only, no network."""


def planner_messages(request: str, workspace_listing: str) -> list[Message]:
    return [
        {"role": "system", "content": PLANNER_SYSTEM},
        {
            "role": "user",
            "content": f"Product request: {request}\n\nThe repository now:\n{workspace_listing}\n\n{SCHEMA_HINT}",
        },
    ]


def parse_plan(text: str) -> Plan:
    try:
        return Plan.model_validate(json.loads(json_block(text, "{}")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise PlanError(f"the planner's reply is not a valid plan: {exc}") from None


def json_block(text: str, brackets: str) -> str:
    """The reply's ```json block, or else the text between its first and last bracket."""
    block = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    return block.group(1) if block else text[text.find(brackets[0]) : text.rfind(brackets[1]) + 1]


QA_SYSTEM = "You are QA in a small software company. You use products the way their users would."
QA_HINT = """Write up to 3 more checks: commands a user of this product would run that the checks above do not
try (other arguments, other features the request asks for), with text the output must then contain. Reply with a
JSON list in a ```json block, e.g. [{"command": "python -m calc mul 4 5", "expect": "20"}]. Only commands that run
without input from a user; Python 3 standard library only, no network."""


def qa_messages(request: str, workspace_listing: str, checked: str) -> list[Message]:
    return [
        {"role": "system", "content": QA_SYSTEM},
        {
            "role": "user",
            "content": f"Product request: {request}\n\nThe repository now:\n{workspace_listing}\n\n"
            f"Checks that already pass:\n{checked}\n\n{QA_HINT}",
        },
    ]


def parse_checks(text: str) -> list[Check]:
    try:
        raw = json.loads(json_block(text, "[]"))
        if not isinstance(raw, list):
            raise ValueError("not a list")
        return [Check.model_validate(c) for c in raw]
    except (json.JSONDecodeError, ValidationError, ValueError) as exc:
        raise PlanError(f"QA's reply is not a list of checks: {exc}") from None
