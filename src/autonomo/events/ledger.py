"""The ledger: cost and usage totals, folded from the event log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from autonomo.events.log import Event


@dataclass
class Ledger:
    model_calls: int = 0
    failed_model_calls: int = 0
    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    cost_usd: float = 0.0
    tool_calls: int = 0
    tool_errors: int = 0
    started_ts: float | None = None  # of the running segment: a resumed run starts a new one
    last_ts: float | None = None
    earlier_segments: float = 0.0  # seconds worked before the last resume; the time the run lay dead is not counted

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def elapsed(self) -> float:
        if self.started_ts is None or self.last_ts is None:
            return self.earlier_segments
        return self.earlier_segments + self.last_ts - self.started_ts

    def add(self, event: Event) -> None:
        kind = event["type"]
        if kind == "run_resumed":
            self.earlier_segments = self.elapsed
            self.started_ts = event["ts"]
        elif kind == "run_started" and self.started_ts is None:
            self.started_ts = event["ts"]
        self.last_ts = event["ts"]
        if kind == "model_call":
            self.model_calls += 1
            self.failed_model_calls += bool(event.get("error"))
            self.prompt_tokens += event.get("prompt_tokens", 0)
            self.prompt_tokens_evaluated += event.get("prompt_tokens_evaluated", 0)
            self.completion_tokens += event.get("completion_tokens", 0)
            self.model_seconds += event.get("seconds", 0.0)
            self.cost_usd += event.get("cost_usd", 0.0)
        elif kind == "observation":
            self.tool_calls += 1
            self.tool_errors += not event.get("ok", True)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> Ledger:
        ledger = cls()
        for event in events:
            ledger.add(event)
        return ledger

    def totals(self) -> dict:
        out = asdict(self)
        del out["started_ts"], out["last_ts"], out["earlier_segments"]
        out["tokens"] = self.tokens
        out["elapsed_seconds"] = round(self.elapsed, 3)
        out["model_seconds"] = round(self.model_seconds, 3)
        out["cost_usd"] = round(self.cost_usd, 6)
        return out
