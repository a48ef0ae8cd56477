"""autonomo: one autonomous agent brain, many bodies.

    from autonomo import RunConfig, make_agent

    agent = make_agent(RunConfig(model="local"), Path("my-project"))
    result = agent.run("make the failing test in tests/test_parse.py pass")

The layers, each behind a small protocol: a ``Model`` (models/) answers one ``complete`` call; a ``Body``
(body.py: computer/, robot/) is the world the agent acts in; the ``Agent`` (agent/) runs the loop; the
``EventLog`` (events/) records everything, and every view, resume and benchmark reads it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public API and where each name lives. Imported on first use, so that `import autonomo.x` (a sandboxed
# check, the CLI) does not load the whole agent.
_API = {
    "Agent": "autonomo.agent.loop",
    "Budget": "autonomo.agent.loop",
    "RunResult": "autonomo.agent.loop",
    "RunConfig": "autonomo.assembly",
    "make_agent": "autonomo.assembly",
    "Body": "autonomo.body",
    "Draftable": "autonomo.body",
    "Observation": "autonomo.body",
    "Start": "autonomo.body",
    "TestReport": "autonomo.body",
    "check_body": "autonomo.body",
    "ComputerTools": "autonomo.computer.tools",
    "SetupError": "autonomo.errors",
    "EventLog": "autonomo.events",
    "Ledger": "autonomo.events",
    "Outcome": "autonomo.events",
    "read_events": "autonomo.events",
    "Model": "autonomo.models",
    "ModelError": "autonomo.models",
    "ModelReply": "autonomo.models",
    "ToolCall": "autonomo.models",
    "ToolSpec": "autonomo.models",
    "Usage": "autonomo.models",
    "load_model": "autonomo.models",
}
__all__ = [
    "Agent",
    "Body",
    "Budget",
    "ComputerTools",
    "Draftable",
    "EventLog",
    "Ledger",
    "Model",
    "ModelError",
    "ModelReply",
    "Observation",
    "Outcome",
    "RunConfig",
    "RunResult",
    "SetupError",
    "Start",
    "TestReport",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "check_body",
    "load_model",
    "make_agent",
    "read_events",
]

if TYPE_CHECKING:
    from autonomo.agent.loop import Agent, Budget, RunResult
    from autonomo.assembly import RunConfig, make_agent
    from autonomo.body import Body, Draftable, Observation, Start, TestReport, check_body
    from autonomo.computer.tools import ComputerTools
    from autonomo.errors import SetupError
    from autonomo.events import EventLog, Ledger, Outcome, read_events
    from autonomo.models import Model, ModelError, ModelReply, ToolCall, ToolSpec, Usage, load_model


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'autonomo' has no attribute {name!r}")
    value = getattr(import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
