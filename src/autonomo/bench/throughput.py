"""Company-mode throughput: how many engineer agents complete per minute, with a stub model that takes a fixed
time per call, as workers (local threads) or Ray nodes are added. The model is a stand-in, so what is measured
is the company's own machinery: scheduling, worktrees, sandboxes, reviews and merges."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from autonomo.company.backends import Backend, local_backend
from autonomo.company.orchestrator import Company
from autonomo.events import EventLog, new_run_id, read_events
from autonomo.models.scripted import ScriptedModel


def stub_company(items: int, delay: float) -> tuple[list[dict[str, Any]], dict[str, list[list[dict[str, Any]]]]]:
    """The planner's and reviewers' replies, and each engineer's: write one file, then finish; every call
    takes ``delay`` seconds."""
    plan = {
        "items": [{"id": f"item-{n}", "title": f"write m{n}.py", "checks": [{"command": "true"}]} for n in range(items)]
    }
    chat = [{"draft": f"```json\n{json.dumps(plan)}\n```", "sleep": delay}]
    chat += [{"draft": "APPROVE", "sleep": delay}] * items
    scripts = {
        f"engineer:item-{n}": [
            [
                {"tool": "create", "args": {"path": f"m{n}.py", "content": f"N = {n}\n"}, "sleep": delay},
                {"tool": "finish", "args": {"summary": "done"}, "sleep": delay},
            ]
        ]
        for n in range(items)
    }
    return chat, scripts


def measure(workers: int, items: int, delay: float, backend: Backend = local_backend, sandbox: str = "bwrap") -> dict:
    with tempfile.TemporaryDirectory(prefix="autonomo-throughput-") as tmp:
        workspace = Path(tmp)
        chat, scripts = stub_company(items, delay)
        log = EventLog(workspace / ".autonomo" / "company" / new_run_id())
        company = Company(
            workspace,
            log,
            "scripted",
            ScriptedModel(chat),
            workers=workers,
            sandbox=sandbox,
            scripts=scripts,
            backend=backend,
        )
        start = time.monotonic()
        result = company.run("stub product")
        wall = time.monotonic() - start
        events = list(read_events(log.path))
    done = [e for e in events if e["type"] == "item_attempt_finished" and e["verified"]]
    first = min(e["ts"] for e in events if e["type"] == "item_started")
    last = max(e["ts"] for e in done)
    return {
        "workers": workers,
        "items": items,
        "delay": delay,
        "outcome": result.outcome,
        "agents_completed": len(done),
        "wall_seconds": round(wall, 2),
        "work_seconds": round(last - first, 2),  # first engineer started to last one finished
        "agents_per_minute": round(60 * len(done) / (last - first), 1),
    }
