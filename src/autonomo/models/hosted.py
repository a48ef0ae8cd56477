"""Hosted models through litellm: xAI, OpenAI, Anthropic, OpenRouter, Ollama, any OpenAI-compatible server."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from autonomo.models.base import (
    ContextOverflow,
    Message,
    ModelError,
    ModelReply,
    ToolSpec,
    Usage,
    parse_arguments,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else litellm fetches prices at import

PROVIDERS = (
    "xai",
    "openai",
    "anthropic",
    "openrouter",
    "ollama",
    "ollama_chat",
    "hosted_vllm",
    "gemini",
    "groq",
    "deepseek",
    "mistral",
    "together_ai",
    "azure",
)


def _permanent() -> tuple[type[Exception], ...]:
    import litellm

    # Asking again cannot help: the key, the model name or the request itself is wrong.
    return (
        litellm.AuthenticationError,
        litellm.PermissionDeniedError,
        litellm.NotFoundError,
        litellm.BadRequestError,
        litellm.UnprocessableEntityError,
    )


def retry_after(exc: Exception) -> float | None:
    """The Retry-After a provider sent with a 429 or 503, in seconds."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


class LiteLLMModel:
    """Stateless between calls (litellm opens a connection per call), so threads share one freely."""

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 2048,
        timeout: float = 120.0,
    ) -> None:
        self.name = model
        self.api_base = api_base
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout

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
        extra: dict[str, Any] = {"stop": list(stop)} if stop else {}
        if tools:
            extra.update(tools=[t.openai_schema() for t in tools], tool_choice="required")
        if seed is not None:
            extra["seed"] = seed
        sampling = self.temperature if temperature is None else temperature
        message, usage = self._call(messages, sampling, max_tokens or self.max_tokens, **extra)
        calls = [
            parse_arguments(tc.id or f"call_{i}", tc.function.name or "", tc.function.arguments or "", tools)
            for i, tc in enumerate(message.tool_calls or [])
        ]
        return ModelReply(text=message.content or "", tool_calls=calls, usage=usage)

    def _call(self, messages: list[Message], temperature: float, max_tokens: int, **extra: Any) -> tuple[Any, Usage]:
        import litellm

        litellm.suppress_debug_info = True  # else an unpriced model prints litellm's provider list on stdout

        start = time.monotonic()
        try:
            response = litellm.completion(
                model=self.name,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
                api_base=self.api_base,
                num_retries=0,  # the agent retries, so that each failed call is logged and counted
                drop_params=True,  # what a model does not take (stop, seed, temperature on reasoning models): left out
                timeout=self.timeout,
                **extra,
            )
        except litellm.ContextWindowExceededError as exc:
            raise ContextOverflow(str(exc)) from exc
        except _permanent() as exc:
            raise ModelError(f"{type(exc).__name__}: {exc}", retryable=False) from exc
        except Exception as exc:  # litellm maps every provider failure onto its own exception types
            raise ModelError(f"{type(exc).__name__}: {exc}", retry_after=retry_after(exc)) from exc
        seconds = time.monotonic() - start
        if not response.choices:
            raise ModelError("the model returned no choices")
        try:
            cost = float(litellm.completion_cost(completion_response=response))
        except Exception:  # unknown price (local servers, new models): the call is free as far as we know
            cost = 0.0
        usage = response.usage
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None) or 0
        sent = usage.prompt_tokens or 0  # some servers send null counts; the log's schema takes numbers
        return response.choices[0].message, Usage(
            prompt_tokens=sent,
            completion_tokens=usage.completion_tokens or 0,
            prompt_tokens_evaluated=sent - cached,
            seconds=seconds,
            cost_usd=cost,
        )
