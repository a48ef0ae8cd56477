"""A model that replays given replies: for tests and for demos without any weights."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autonomo.models.base import Message, ModelError, ModelReply, ModelSpecError, ToolSpec, Usage, parse_arguments

STEP_KEYS = {"tool", "text", "error", "draft"}


class ScriptedModel:
    """Each step is a dict:
    - ``{"tool": NAME, "args": {...}}``: a call; ``"raw_args": "..."`` instead gives its argument text verbatim;
    - ``{"text": "..."}``: a reply with no tool call;
    - ``{"error": "...", "retryable": true, "retry_after": SECONDS}``: a failed call;
    - ``{"draft": "..."}``: the reply to a free-form call (no tools: a draft, a plan, a review).
    A free-form call whose next step is not a draft fails, and takes no step: the script and the agent disagree.
    Optional ``usage`` overrides the token counts, and ``sleep`` makes the reply take that many seconds."""

    def __init__(self, steps: list[dict[str, Any]], name: str = "scripted") -> None:
        self.steps = list(steps)
        self.name = name
        self.calls = 0
        self.prompts: list[list[Message]] = []  # what each free-form call was asked, for tests
        self.sampling: list[tuple[float | None, int | None]] = []  # each call's (temperature, seed), for tests
        self._lock = threading.Lock()

    def drafts(self) -> bool:
        """Whether the script holds a free-form reply (then an agent on it drafts first)."""
        return any("draft" in step for step in self.steps)

    def _next(self, free_form: bool) -> dict[str, Any]:
        with self._lock:
            if self.calls >= len(self.steps):
                raise ModelError("scripted model has no replies left", retryable=False)
            step = self.steps[self.calls]
            if free_form and "draft" not in step and "error" not in step:
                raise ModelError(f"scripted model: step {self.calls} is not a free-form reply", retryable=False)
            self.calls += 1
        time.sleep(step.get("sleep", 0))  # a stand-in for a model's latency (throughput benchmarks)
        if "error" in step:
            raise ModelError(step["error"], retryable=step.get("retryable", True), retry_after=step.get("retry_after"))
        return step

    @classmethod
    def from_file(cls, path: Path) -> ScriptedModel:
        try:
            steps = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelSpecError(f"{path}: not a JSON file ({exc})") from None
        if not isinstance(steps, list):
            raise ModelSpecError(f"{path}: a scripted model file holds a JSON list of steps")
        for n, step in enumerate(steps):
            if not isinstance(step, dict) or not STEP_KEYS.intersection(step):
                raise ModelSpecError(f"{path}: step {n} is not an object with one of {', '.join(sorted(STEP_KEYS))}")
            if not isinstance(step.get("args", {}), dict):
                raise ModelSpecError(f"{path}: step {n}: args must be an object")
        return cls(steps, name=f"scripted:{path}")

    def complete(
        self,
        messages: list[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        stop: Sequence[str] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> ModelReply:
        self.sampling.append((temperature, seed))
        step = self._next(free_form=not tools)
        prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
        usage = Usage(prompt_tokens=prompt, prompt_tokens_evaluated=prompt, completion_tokens=10)
        for key, value in step.get("usage", {}).items():
            setattr(usage, key, value)
        if not tools:
            self.prompts.append(messages)
            text = step["draft"]
            for s in stop or []:  # as a served model would: the reply ends where a stop sequence starts
                text = text.split(s)[0]
            return ModelReply(text=text, usage=usage)
        if "tool" not in step:
            return ModelReply(text=step.get("text", ""), usage=usage)
        raw = step["raw_args"] if "raw_args" in step else json.dumps(step.get("args", {}))
        call = parse_arguments(f"call_{self.calls}", step["tool"], raw, tools)
        return ModelReply(text=step.get("text", ""), tool_calls=[call], usage=usage)
