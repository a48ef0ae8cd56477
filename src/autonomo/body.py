"""The Body protocol: what the agent acts through. The agent loop (agent/loop.py) knows nothing else of the world:
the body says how the model is addressed (its system prompt, its first observation), what its tools are, which of
them write and which are safe to run again after a crash, how the goal is checked, and what a run changed.

Two bodies: a computer (computer/tools.py: a sandboxed workspace, its tools and its tests) and a humanoid
(robot/tools.py: skills in a simulated room, with recordings in its workspace). ``check_body`` tests any body
against this contract, as gymnasium's ``check_env`` does for environments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from autonomo.models.base import ToolSpec

FINISH = "finish"  # every body has it: the call that ends a run


@dataclass
class Observation:
    ok: bool
    output: str


@dataclass
class TestReport:
    """The measured check of the goal: a computer's tests; a body with no check reports command None."""

    command: str | None  # None: nothing to run
    passed: bool
    exit_code: int | None
    summary: str
    output: str

    def status(self) -> str:
        if self.command is None:
            return "no tests found"
        return f"{'passed' if self.passed else 'failed'}: {self.summary}"


@dataclass
class Start:
    """What ``reset`` returns: the first observation the model gets after the goal, and the state ``changed``
    compares against (the log keeps it, so a resumed run reports what changed since the very start)."""

    observation: str
    baseline: dict[str, str] = field(default_factory=dict)


@dataclass
class Draftable:
    """Files a draft may see and rewrite whole in one free-form completion (see agent/draft.py): ``files`` are
    shown in full, ``editable`` may be written, each through ``write_tool`` with ``path`` and ``content``."""

    files: dict[str, str]
    editable: list[str]
    write_tool: str


@runtime_checkable
class Body(Protocol):
    workspace: Path  # the run's files: the code worked on, or a robot's recordings
    write_tools: frozenset[str]  # calls that change what test() checks: the check runs after each
    rerun_safe: frozenset[str]  # calls that may run again when a run died while they ran

    @property
    def kind(self) -> str:
        """What the run log records as the body, e.g. ``bwrap`` or ``robot:room``."""
        ...

    @property
    def system_prompt(self) -> str: ...

    @property
    def specs(self) -> list[ToolSpec]: ...

    def reset(self) -> Start:
        """Called once as a run starts."""
        ...

    def call(self, name: str, arguments: dict[str, Any]) -> Observation:
        """Runs one tool. A failure is an observation with ok False, never an exception."""
        ...

    def test(self) -> TestReport: ...

    def changed(self, baseline: dict[str, str]) -> list[str]:
        """What the run changed since ``baseline`` (from ``reset``), e.g. the files written."""
        ...

    def draftable(self) -> Draftable | None:
        """What a draft may write, or None when this body cannot be drafted (all of it does not fit a prompt)."""
        ...


class BodyContractError(AssertionError):
    """A body breaks the contract above; the message says how."""


def check_body(body: Any) -> None:
    """Checks ``body`` against the Body contract; raises BodyContractError saying what is wrong. It resets the
    body and calls a tool that does not exist, and each tool that takes arguments without them, so give it a fresh
    one."""

    def need(condition: bool, problem: str) -> None:
        if not condition:
            raise BodyContractError(f"{type(body).__name__}: {problem}")

    need(isinstance(body, Body), "does not have every attribute and method of the Body protocol")
    need(isinstance(body.kind, str) and bool(body.kind), "kind must be a non-empty string")
    need(isinstance(body.system_prompt, str) and bool(body.system_prompt.strip()), "system_prompt is empty")
    specs = body.specs
    names = [s.name for s in specs]
    need(all(isinstance(s, ToolSpec) for s in specs), "specs must be ToolSpecs")
    need(len(set(names)) == len(names), f"tool names repeat: {names}")
    need(FINISH in names, f"it has no {FINISH!r} tool")
    for spec in specs:
        schema = spec.parameters
        need(schema.get("type") == "object", f"{spec.name}: its parameters are not a JSON object schema")
        need(bool(spec.description.strip()), f"{spec.name} has no description")
        required = set(schema.get("required", []))
        need(required <= set(schema.get("properties", {})), f"{spec.name}: a required argument is not a property")
    need(isinstance(body.write_tools, frozenset) and body.write_tools <= set(names), "write_tools must name tools")
    need(isinstance(body.rerun_safe, frozenset) and body.rerun_safe <= set(names), "rerun_safe must name tools")
    start = body.reset()
    need(isinstance(start, Start) and isinstance(start.observation, str), "reset() must return a Start")
    need(isinstance(start.baseline, dict), "reset().baseline must be a dict")
    need(body.changed(start.baseline) == [], "changed() right after reset() must be empty")
    draft = body.draftable()
    if draft is not None:
        need(draft.write_tool in body.write_tools, "a draft must write through one of write_tools")
        need(set(draft.editable) <= set(draft.files), "editable must name files it shows")
    report = body.test()
    need(isinstance(report, TestReport), "test() must return a TestReport")
    unknown = body.call("no-such-tool", {})
    need(isinstance(unknown, Observation) and not unknown.ok, "an unknown tool must give a failed Observation")
    for spec in specs:  # arguments missing: the call fails or does its default, but it never raises
        if spec.name != FINISH and spec.parameters.get("required"):
            need(isinstance(body.call(spec.name, {}), Observation), f"{spec.name} without arguments must observe")
