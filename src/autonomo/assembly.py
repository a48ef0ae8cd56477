"""One way to put an agent together: a ``RunConfig`` in, an ``Agent`` out. The CLI, company mode, the benchmarks
and the tests all build agents here, so a setting means the same everywhere and a resumed run is rebuilt from
the config its log kept."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autonomo.agent.loop import REDRAFTS, Agent, Budget
from autonomo.body import Body
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools, ToolFailure
from autonomo.errors import SetupError
from autonomo.events import EventLog, new_run_id
from autonomo.models import DEFAULT_MODEL, Model, load_model
from autonomo.models.scripted import ScriptedModel
from autonomo.repo.testing import RepoTests


class Repository(BaseModel):
    """A repository run's checkout (repo/checkout.py) and its tests at the base commit, which the run's are judged
    against test by test (repo/testing.py)."""

    model_config = ConfigDict(extra="forbid")

    path: str  # the user's repository
    branch: str
    base: str
    test_command: str
    tests_before: dict[str, str]  # test id -> status at the base commit


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
    writes: list[str] = Field(default_factory=list)  # the files a draft writes (a work item's); default: all it may
    env: list[str] = Field(default_factory=list)  # names of host variables tool processes get; values stay out
    draft: bool = True  # start with a free-form draft of whole files (agent/draft.py)
    redrafts: int = REDRAFTS
    temperature: float = 0.0  # the least any call samples at
    seed: int = 0  # where the per-call seeds start
    retry_base: float = 1.0  # seconds before the first retry of a failed model call
    # auto: the repair pipeline for a local model in a repository, the tool loop otherwise (agent/repair.py)
    strategy: Literal["auto", "loop", "repair"] = "auto"
    repository: Repository | None = None  # set for a run in a worktree of a git repository
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
        repo = config.repository
        suite = RepoTests(box, repo.test_command, repo.tests_before) if repo else None
        try:
            body = ComputerTools(box, test_command=config.test_command, protected=tuple(config.protect), suite=suite,
                                 writes=tuple(config.writes))  # fmt: skip
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
        repair=config.repository is not None and uses_repair(config),
    )


def uses_repair(config: RunConfig) -> bool:
    """The strategy a repository run takes: the embedded model and other local GGUFs are small, and fix far more
    along the pipeline than in a loop (agent/repair.py); a hosted model drives the loop."""
    if config.strategy != "auto":
        return config.strategy == "repair"
    return config.model == "local" or config.model.startswith("gguf:")
