"""The Body protocol: what the agent acts through. The agent loop (agent/loop.py) knows nothing else of the world.

Two bodies: a computer (computer/tools.py: a sandboxed workspace, its tools and its tests) and a humanoid
(robot/tools.py: skills in a simulated room, with recordings in its workspace).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


class Body(Protocol):
    workspace: Path  # the run's files: the code worked on, or a robot's recordings
    protected: set[Path]  # files the agent may read but not change

    @property
    def kind(self) -> str:
        """What the run log records as the body, e.g. ``bwrap`` or ``robot:room``."""
        ...

    @property
    def specs(self) -> list[ToolSpec]: ...

    def call(self, name: str, arguments: dict[str, Any]) -> Observation: ...

    def test(self) -> TestReport: ...

    def rel(self, path: Path) -> str: ...
