"""The litellm path against an OpenAI-compatible server on 127.0.0.1 that the test runs itself."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, Reply, completion

from autonomo.models import ModelError, ToolSpec, load_model

TOOLS = [
    ToolSpec(
        "shell",
        "run a command",
        {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    )
]


def test_tool_call_usage_and_cache(server):
    FakeOpenAI.replies = [Reply(payload=completion('{"command": "ls"}'))]
    model = load_model("openai/gpt-4o-mini", api_base=server)
    reply = model.complete([{"role": "user", "content": "list files"}], TOOLS)
    (call,) = reply.tool_calls
    assert (call.name, call.arguments, call.error) == ("shell", {"command": "ls"}, None)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (120, 15)
    assert reply.usage.prompt_tokens_evaluated == 20  # 100 of 120 served from the provider's cache
    assert reply.usage.cost_usd > 0  # priced from litellm's local price map
    sent = FakeOpenAI.requests[0]
    assert sent["tools"][0]["function"]["name"] == "shell" and sent["tool_choice"] == "required"


def test_invalid_arguments_become_a_malformed_call(server):
    FakeOpenAI.replies = [Reply(payload=completion('{"command": '))]
    reply = load_model("openai/gpt-4o-mini", api_base=server).complete([{"role": "user", "content": "x"}], TOOLS)
    assert "not valid JSON" in reply.tool_calls[0].error


def test_server_errors_raise_a_retryable_model_error_once(server):
    FakeOpenAI.replies = [Reply(500, {"error": {"message": "boom"}})] * 3
    with pytest.raises(ModelError) as caught:
        load_model("openai/gpt-4o-mini", api_base=server).complete([{"role": "user", "content": "x"}], TOOLS)
    assert caught.value.retryable and len(FakeOpenAI.requests) == 1  # the agent retries, not litellm


def test_sampling_comes_with_each_call(server):
    FakeOpenAI.replies = [Reply(payload=completion('{"command": "ls"}'))] * 2
    model = load_model("openai/gpt-4o-mini", api_base=server)
    model.complete([{"role": "user", "content": "x"}], TOOLS, temperature=0.7, seed=42, max_tokens=100)
    model.complete([{"role": "user", "content": "x"}], TOOLS)
    hot, default = FakeOpenAI.requests
    assert (hot["temperature"], hot["seed"], hot["max_tokens"]) == (0.7, 42, 100)
    assert default["temperature"] == 0.0 and "seed" not in default  # one call's settings never stick to the model
