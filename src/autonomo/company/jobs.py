"""An engineer's job: one agent attempt on one work item in its own worktree. Jobs take and return plain data,
so the same job runs in a thread (local mode) or as a Ray task on another process or node."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonomo.agent.loop import REDRAFTS, Budget
from autonomo.assembly import RunConfig, make_agent
from autonomo.events import Outcome
from autonomo.models.scripted import ScriptedModel


@dataclass
class Job:
    item: str
    attempt: int
    worktree: str
    goal: str
    test_command: str
    files: list[str]  # the item's: what the engineer's draft writes
    home: str  # where the agent's run log goes
    model: str
    api_base: str | None = None
    script: list[dict[str, Any]] | None = None  # a scripted model's replies (tests)
    max_steps: int = 20
    usd: float | None = None
    tokens: int | None = None
    sandbox: str = "bwrap"
    temperature: float = 0.0
    seed: int = 0
    draft_only: bool = False  # one draft and its tests: a sample for agreement (Company.samples)


@dataclass
class JobResult:
    item: str
    attempt: int
    run_id: str
    outcome: str
    verified: bool
    tests: str
    totals: dict[str, Any] = field(default_factory=dict)


def run_job(job: Job) -> JobResult:
    """In a thread, the model is the one the process loaded (load_model shares it); under Ray, the worker's own."""
    config = RunConfig(
        model=job.model,
        api_base=job.api_base,
        sandbox=job.sandbox,
        test_command=job.test_command,
        writes=job.files,
        redrafts=0 if job.draft_only else REDRAFTS,
        temperature=job.temperature,
        seed=job.seed,
        retry_base=0.05 if job.script else 1.0,
        budget=Budget(max_steps=1 if job.draft_only else job.max_steps, tokens=job.tokens, usd=job.usd),
    )
    model = ScriptedModel(job.script) if job.script is not None else None
    agent = make_agent(config, Path(job.worktree), home=Path(job.home), model=model)
    result = agent.run(job.goal, config=config.logged())
    verified = result.outcome == Outcome.COMPLETED and result.tests_passed
    return JobResult(job.item, job.attempt, result.run_id, result.outcome, verified, result.tests, result.totals)
