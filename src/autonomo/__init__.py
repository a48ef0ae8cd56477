"""autonomo: one autonomous agent brain, many bodies.

    from autonomo import RunConfig, make_agent

    agent = make_agent(RunConfig(model="local"), Path("my-project"))
    result = agent.run("make the failing test in tests/test_parse.py pass")

The layers, each behind a small protocol: a ``Model`` (models/) answers one ``complete`` call; a ``Body``
(body.py: computer/, robot/) is the world the agent acts in; the ``Agent`` (agent/) runs the loop; the
``EventLog`` (events/) records everything, and every view, resume and benchmark reads it.
"""

from autonomo.agent.loop import Agent, Budget, RunResult
from autonomo.assembly import RunConfig, make_agent
from autonomo.body import Body, Draftable, Observation, Start, TestReport, check_body
from autonomo.computer.tools import ComputerTools
from autonomo.errors import SetupError
from autonomo.events import EventLog, Ledger, read_events
from autonomo.models import Model, ModelError, ModelReply, ToolCall, ToolSpec, Usage, load_model

__version__ = "0.1.0"

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
