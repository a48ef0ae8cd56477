"""An engineer's job: one agent attempt on one work item in its own worktree. Jobs take and return plain data,
so the same job runs in a thread (local mode) or as a Ray task on another process or node."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonomo.agent.loop import Agent, Budget
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools
from autonomo.events import EventLog, new_run_id
from autonomo.models import Model, gguf_file, load_model
from autonomo.models.scripted import ScriptedModel


@dataclass
class Job:
    item: str
    attempt: int
    worktree: str
    goal: str
    test_command: str
    home: str  # where the agent's run log goes
    model: str
    api_base: str | None = None
    script: list[dict[str, Any]] | None = None  # a scripted model's replies (tests)
    max_steps: int = 20
    usd: float | None = None
    sandbox: str = "bwrap"
    temperature: float = 0.0
    seed: int = 0


@dataclass
class JobResult:
    item: str
    attempt: int
    run_id: str
    outcome: str
    verified: bool
    tests: str
    totals: dict[str, Any] = field(default_factory=dict)


class SharedModel:
    """A view of one in-process model shared by threads. llama.cpp runs one generation at a time, so calls queue
    on a lock; each view keeps its own sampling settings and sets them for its own calls."""

    def __init__(self, model: Model, lock: threading.Lock, temperature: float, seed: int) -> None:
        self.model, self.lock = model, lock
        self.name = model.name
        self.temperature, self.seed = temperature, seed

    def _sampled(self):
        for key in ("temperature", "seed"):
            if hasattr(self.model, key):
                setattr(self.model, key, getattr(self, key))

    def complete(self, messages, tools):
        with self.lock:
            self._sampled()
            return self.model.complete(messages, tools)

    def chat(self, messages, stop=None):
        with self.lock:
            self._sampled()
            return self.model.chat(messages, stop)  # type: ignore[attr-defined]


_loaded: dict[tuple[str, str | None], tuple[Model, threading.Lock]] = {}
_loaded_lock = threading.Lock()


def job_model(spec: str, api_base: str | None = None, temperature: float = 0.0, seed: int = 0) -> Model:
    """A hosted model per job (calls run in parallel); an in-process one is loaded once per process, whatever
    the number of workers, and shared."""
    if gguf_file(spec) is None:
        return load_model(spec, api_base=api_base, temperature=temperature, seed=seed)
    with _loaded_lock:
        if (spec, api_base) not in _loaded:
            _loaded[(spec, api_base)] = (load_model(spec, api_base=api_base), threading.Lock())
        model, lock = _loaded[(spec, api_base)]
    return SharedModel(model, lock, temperature, seed)


def run_job(job: Job) -> JobResult:
    model: Any = (
        ScriptedModel(job.script)
        if job.script is not None
        else job_model(job.model, job.api_base, job.temperature, job.seed)
    )
    worktree, home = Path(job.worktree), Path(job.home)
    log = EventLog(home / "runs" / new_run_id())
    box = Sandbox(worktree, kind=job.sandbox, timeout=120)
    tools = ComputerTools(box, test_command=job.test_command)
    budget = Budget(max_steps=job.max_steps, usd=job.usd)
    result = Agent(model, tools, log, budget, draft=True, retry_base=0.05 if job.script else 1.0).run(job.goal)
    verified = result.outcome == "completed" and result.tests_passed
    return JobResult(job.item, job.attempt, result.run_id, result.outcome, verified, result.tests, result.totals)
