"""The plan: work items, each with acceptance checks that can be run, and the product's own acceptance checks."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import PurePosixPath

from pydantic import BaseModel, Field, ValidationError, field_validator

from autonomo.files import slug
from autonomo.models.base import Message
from autonomo.prompts import render


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
        """The check as one shell line that fails when the command does, or when the text is missing. The text is
        looked for whole: `grep -F` reads each of its lines as a pattern of its own, so an expected `b 2` and `a 1`
        passed on either line. Its trailing newlines go, as `$(...)` drops the output's."""
        command = self.command
        if self.url:
            browse = ["python", "-m", "autonomo.company.browse", "--serve", command, "--url", self.url]
            command = shlex.join(browse + [f"--action={a}" for a in self.actions])
        if not self.expect:
            return command
        expect = shlex.quote(self.expect.rstrip("\n"))
        return f'out=$({command} 2>&1); s=$?; echo "$out"; [ $s -eq 0 ] && [[ "$out" == *{expect}* ]]'


def slug_id(value: object) -> object:
    """Ids name branches and folders, whatever the planner wrote; what is not a string fails validation."""
    return slug(value, limit=40) if isinstance(value, str) else value  # the id pattern allows 40 characters


class WorkItem(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    title: str = Field(min_length=1)
    description: str = ""
    files: list[str] = Field(default_factory=list)  # the files the item writes, as paths in the repository
    checks: list[Check] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: object) -> object:
        return slug_id(value)

    @field_validator("files")
    @classmethod
    def _files(cls, value: list[str]) -> list[str]:
        paths = [PurePosixPath(v.strip().removeprefix("./")).as_posix() for v in value if v.strip()]
        outside = [p for p in paths if p.startswith("/") or ".." in PurePosixPath(p).parts]
        if outside:
            raise ValueError(f"files outside the repository: {outside}")
        return list(dict.fromkeys(paths))

    @field_validator("depends_on", mode="before")
    @classmethod
    def _deps(cls, value: object) -> object:
        return [slug_id(v) for v in value] if isinstance(value, list) else value


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


def planner_messages(request: str, workspace_listing: str, files: list[str], checks: bool = True) -> list[Message]:
    """``files``: those the request's interface fixes (contract.py); ``checks``: the planner writes the checks too
    (else they are written from the interface, one rule at a time: check_messages)."""
    prompt = "company.planner_request" if checks else "company.planner_items"
    user = render(prompt, request=request, listing=workspace_listing, files=", ".join(files))
    return [{"role": "system", "content": render("company.planner_system")}, {"role": "user", "content": user}]


def check_messages(interface: str, rule: str) -> list[Message]:
    return [
        {"role": "system", "content": render("company.check_system")},
        {"role": "user", "content": render("company.check_request", interface=interface, rule=rule)},
    ]


def parse_check(text: str) -> Check:
    """A check as the check writer replies: the command, what it prints, and the text of ``in.txt`` if it reads
    one (the embedded model, asked to make its input file in the command, named files it never made). A string
    may hold raw newlines: the embedded check writer wrote expected JSON output over several lines that way."""
    try:
        raw = json.loads(json_block(text, "{}"), strict=False)
        given = raw.pop("input", None) if isinstance(raw, dict) else None
        check = Check.model_validate(raw)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise PlanError(f"the reply is not a check: {exc}") from None
    if isinstance(given, str) and given:
        return check.model_copy(update={"command": f"printf %s {shlex.quote(given)} > in.txt && {check.command}"})
    return check


def parse_plan(text: str) -> Plan:
    try:
        return Plan.model_validate(json.loads(json_block(text, "{}")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise PlanError(f"the planner's reply is not a valid plan: {exc}") from None


def json_block(text: str, brackets: str) -> str:
    """The reply's ```json block, or else the text between its first and last bracket."""
    block = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    return block.group(1) if block else text[text.find(brackets[0]) : text.rfind(brackets[1]) + 1]


def qa_messages(request: str, workspace_listing: str, checked: list[Check]) -> list[Message]:
    """QA's prompt; ``checked``: the product checks that already pass."""
    done = "\n".join(render("company.qa_check_line", command=c.command, expect=repr(c.expect)) for c in checked)
    return [
        {"role": "system", "content": render("company.qa_system")},
        {
            "role": "user",
            "content": render("company.qa_request", request=request, listing=workspace_listing, checked=done),
        },
    ]


def parse_checks(text: str) -> list[Check]:
    try:
        raw = json.loads(json_block(text, "[]"), strict=False)
        if not isinstance(raw, list):
            raise ValueError("not a list")
        return [Check.model_validate(c) for c in raw]
    except (json.JSONDecodeError, ValidationError, ValueError) as exc:
        raise PlanError(f"QA's reply is not a list of checks: {exc}") from None
