"""The model protocol: OpenAI-style messages and tool schemas in, a reply with tool calls and usage out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from autonomo.errors import SetupError

Message = dict[str, Any]


class ModelError(Exception):
    """A model call failed. ``retryable``: the same call may succeed later (rate limits, timeouts, 5xx, a broken
    reply); ``retry_after``: seconds the provider asked us to wait."""

    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class ContextOverflow(ModelError):
    """The conversation no longer fits the model's context window."""


class ModelSpecError(SetupError, ValueError):
    """The --model value names nothing we can load, or what it names cannot be loaded here."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] | None  # None when the model's argument text was not a JSON object
    raw_arguments: str = ""
    error: str | None = None  # why the call is malformed, for a corrective observation

    def to_message_part(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.raw_arguments},
        }


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens the model really computed; below prompt_tokens when a prefix cache was reused.
    prompt_tokens_evaluated: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0


@dataclass
class ModelReply:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    def to_message(self) -> Message:
        message: Message = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [c.to_message_part() for c in self.tool_calls]
        return message


@runtime_checkable
class Model(Protocol):
    """One call for everything: with ``tools``, the reply is a tool call; without, it is free-form text (a draft,
    a plan, a review). Sampling is given per call (None: the model's default, greedy unless it was built
    otherwise), so one model object serves many agents at once with no state to race on: a model must be safe
    to call from several threads (an in-process one serialises its calls)."""

    name: str

    def complete(
        self,
        messages: list[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        stop: Sequence[str] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> ModelReply: ...


def call_seed(seed: int, call: int) -> int:
    """The seed of an agent's ``call``-th model call: each call its own, so a hot sample of a peaked model does not
    repeat the previous one (seen on Exercism's bob: three redrafts at 0.7 sampled with one seed wrote the same
    code), and an attempt with a given seed samples the same replies whatever ran before it in the process."""
    return hash((seed, call)) & 0x7FFFFFFF


def parse_arguments(call_id: str, name: str, raw: str, tools: Sequence[ToolSpec]) -> ToolCall:
    """Builds a ToolCall from a name and raw argument text, recording why it is malformed if it is."""
    known = {t.name: t for t in tools}
    error = None
    arguments = None
    try:
        parsed = json.loads(raw) if raw.strip() else {}
        if isinstance(parsed, dict):
            arguments = parsed
        else:
            error = "arguments must be a JSON object"
    except json.JSONDecodeError as exc:
        error = f"arguments are not valid JSON ({exc.msg} at char {exc.pos})"
    if name not in known:
        error = f"unknown tool {name!r}; available: {', '.join(known)}"
    elif arguments is not None:
        missing = [k for k in known[name].parameters.get("required", []) if k not in arguments]
        if missing:
            error = f"missing required argument(s) {', '.join(missing)} for {name}"
    return ToolCall(id=call_id, name=name, arguments=arguments, raw_arguments=raw, error=error)
