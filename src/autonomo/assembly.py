"""One way to put an agent together: a ``RunConfig`` in, an ``Agent`` out. The CLI, company mode, the benchmarks
and the tests all build agents here, so a setting means the same everywhere and a resumed run is rebuilt from
the config its log kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autonomo.agent.loop import REDRAFTS, Agent, Budget
from autonomo.body import Body
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools, ToolFailure
from autonomo.errors import SetupError
from autonomo.events import EventLog, new_run_id
from autonomo.models import DEFAULT_MODEL, Model, load_model
from autonomo.models.scripted import ScriptedModel


class RunConfig(BaseModel):
    """Everything a run is, but its goal and its workspace. The log keeps it (``run_started.config``, with the
    budget beside it), so ``autonomo resume`` rebuilds the same agent."""

    model_config = ConfigDict(extra="forbid")

    model: str = DEFAULT_MODEL  # local | gguf:PATH | PROVIDER/MODEL | scripted:PATH
    api_base: str | None = None  # an OpenAI-compatible server
    sandbox: str = "bwrap"  # bwrap | none
    command_timeout: float = 120.0  # seconds per shell command
    test_command: str | None = None  # default: pytest, when the workspace has tests
    protect: list[str] = Field(default_factory=list)  # files the agent may read but not change
    env: list[str] = Field(default_factory=list)  # names of host variables tool processes get; values stay out
    draft: bool = True  # start with a free-form draft of whole files (agent/draft.py)
    redrafts: int = REDRAFTS
    temperature: float = 0.0  # the least any call samples at
    seed: int = 0  # where the per-call seeds start
    retry_base: float = 1.0  # seconds before the first retry of a failed model call
    budget: Budget = Field(default_factory=Budget)

    def logged(self) -> dict:
        """The config as ``run_started`` keeps it (the budget has its own field there)."""
        return self.model_dump(exclude={"budget"})

    @classmethod
    def from_log(cls, started: dict) -> RunConfig:
        """The config of the run whose ``run_started`` event this is (older logs hold a subset: defaults fill in).
        A run started without its config (an engineer's or a benchmark attempt before RunConfig) cannot be."""
        if not started.get("config"):
            raise SetupError("the run's log holds no config to rebuild it from: it cannot be resumed")
        try:
            return cls(**started["config"], budget=Budget(**started["budget"]))
        except ValidationError as exc:
            raise SetupError(f"the run's logged config is not one this version can use: {exc}") from None


def make_agent(
    config: RunConfig,
    workspace: Path,
    *,
    home: Path | None = None,
    run_dir: Path | None = None,
    model: Model | None = None,
    body: Body | None = None,
) -> Agent:
    """The agent ``config`` describes, working in ``workspace``. Its log goes to ``run_dir`` (default: a new run
    under ``home``, itself by default ``WORKSPACE/.autonomo``). ``model`` and ``body`` replace the ones the config
    names (a test's script, a robot). Raises SetupError when the config cannot be honoured here."""
    workspace = workspace.resolve()
    if not workspace.is_dir():
        raise SetupError(f"workspace {workspace} is not a directory")
    home = (home or (run_dir.parent.parent if run_dir else workspace / ".autonomo")).resolve()
    run_dir = run_dir or home / "runs" / new_run_id()
    if body is None:
        # The logs are read-only to tools; where the workspace lies inside their home (a company's worktrees do),
        # only this run's own.
        readonly = (run_dir,) if workspace.is_relative_to(home) else (home,)
        box = Sandbox(workspace, kind=config.sandbox, timeout=config.command_timeout, readonly_paths=readonly,
                      pass_env=tuple(config.env))  # fmt: skip
        try:
            body = ComputerTools(box, test_command=config.test_command, protected=tuple(config.protect))
        except ToolFailure as exc:  # a --protect path outside the workspace, say
            raise SetupError(str(exc)) from None
    model = model or load_model(config.model, api_base=config.api_base)
    # A script replays its steps in order: one with no free-form reply in it was not written for a draft.
    draft = config.draft and not (isinstance(model, ScriptedModel) and not model.drafts())
    return Agent(
        model,
        body,
        EventLog(run_dir),
        config.budget,
        draft=draft,
        redrafts=config.redrafts,
        temperature=config.temperature,
        seed=config.seed,
        retry_base=config.retry_base,
    )
