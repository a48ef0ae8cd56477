"""A model that replays given replies: for tests and for demos without any weights."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from autonomo.models.base import Message, ModelError, ModelReply, ModelSpecError, ToolSpec, Usage, parse_arguments

STEP_KEYS = {"tool", "text", "error", "draft"}


class ScriptedModel:
    """Each step is a dict:
    - ``{"tool": NAME, "args": {...}}``: a call; ``"raw_args": "..."`` instead gives its argument text verbatim;
    - ``{"text": "..."}``: a reply with no tool call;
    - ``{"error": "...", "retryable": true, "retry_after": SECONDS}``: a failed call;
    - ``{"draft": "..."}``: a free-form reply (only a script that holds one can chat, so only then the agent drafts).
    Optional ``usage`` overrides the token counts, and ``sleep`` makes the reply take that many seconds."""

    def __init__(self, steps: list[dict[str, Any]], name: str = "scripted") -> None:
        self.steps = list(steps)
        self.name = name
        self.calls = 0
        self.prompts: list[list[Message]] = []  # what each chat was asked, for tests
        if any("draft" in step for step in self.steps):
            self.chat = self._chat

    def _next(self, messages: list[Message]) -> tuple[dict[str, Any], Usage]:
        if self.calls >= len(self.steps):
            raise ModelError("scripted model has no replies left", retryable=False)
        step = self.steps[self.calls]
        self.calls += 1
        time.sleep(step.get("sleep", 0))  # a stand-in for a model's latency (throughput benchmarks)
        if "error" in step:
            raise ModelError(step["error"], retryable=step.get("retryable", True), retry_after=step.get("retry_after"))
        prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
        usage = Usage(prompt_tokens=prompt, prompt_tokens_evaluated=prompt, completion_tokens=10)
        for key, value in step.get("usage", {}).items():
            setattr(usage, key, value)
        return step, usage

    def _chat(self, messages: list[Message], stop: list[str] | None = None) -> tuple[str, Usage]:
        step, usage = self._next(messages)
        self.prompts.append(messages)
        text = step.get("draft", "")
        for s in stop or []:  # as a served model would: the reply ends where a stop sequence starts
            text = text.split(s)[0]
        return text, usage

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

    def complete(self, messages: list[Message], tools: list[ToolSpec]) -> ModelReply:
        step, usage = self._next(messages)
        if "tool" not in step:
            return ModelReply(text=step.get("text", ""), usage=usage)
        raw = step["raw_args"] if "raw_args" in step else json.dumps(step.get("args", {}))
        call = parse_arguments(f"call_{self.calls}", step["tool"], raw, tools)
        return ModelReply(text=step.get("text", ""), tool_calls=[call], usage=usage)
