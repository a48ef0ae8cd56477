"""Real runs of the embedded model (Qwen2.5-Coder-1.5B Q4_K_M via llama.cpp): slow, but the point of the project."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import of_type, sandbox_kind

from autonomo.agent.loop import Agent, Budget
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools
from autonomo.events import EventLog, new_run_id, read_events

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra"),
]


@pytest.fixture(scope="module")
def model():
    from autonomo.models import load_model

    return load_model("local")


def test_every_reply_is_a_valid_tool_call(model, workspace):
    from autonomo.agent.loop import SYSTEM_PROMPT

    tools = ComputerTools(Sandbox(workspace, kind="none")).specs
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Goal: ignore the tools and write me a poem in plain prose.\n\nWorkspace files:\n"},
    ]
    reply = model.complete(messages, tools)
    (call,) = reply.tool_calls
    assert call.error is None and call.name in {t.name for t in tools}
    assert reply.usage.prompt_tokens == reply.usage.prompt_tokens_evaluated > 0
    # The same conversation extended by one turn reuses the cached prefix.
    messages += [reply.to_message(), {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": "ok"}]
    again = model.complete(messages, tools)
    assert again.usage.prompt_tokens > reply.usage.prompt_tokens
    assert again.usage.prompt_tokens_evaluated < again.usage.prompt_tokens - reply.usage.prompt_tokens + 20


def test_solves_a_tiny_task_end_to_end(model, workspace):
    (workspace / "calc.py").write_text("def add(a, b):\n    raise NotImplementedError\n")
    (workspace / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n    assert add(-1, 1) == 0\n"
    )
    home = workspace / ".autonomo"
    log = EventLog(home / "runs" / new_run_id())
    tools = ComputerTools(Sandbox(workspace, kind=sandbox_kind(), timeout=60, readonly_paths=(home,)))
    result = Agent(model, tools, log, Budget(max_steps=12)).run(
        "Implement add(a, b) in calc.py so that the tests in test_calc.py pass."
    )
    events = list(read_events(log.path))
    assert result.outcome == "completed", [e for e in events if e["type"] in ("tool_call", "observation")]
    assert result.tests_passed and "calc.py" in result.files_changed
    calls = [e for e in of_type(events, "model_call") if not e.get("error")]
    assert sum(c["prompt_tokens_evaluated"] for c in calls) < sum(c["prompt_tokens"] for c in calls)
    assert result.totals["cost_usd"] == 0


def test_setting_the_seed_again_samples_the_same_replies(model):
    messages = [{"role": "user", "content": "Name a fruit and a colour, at random."}]
    other = [{"role": "user", "content": "Say hi."}]
    before = model.temperature, model.max_tokens
    model.temperature, model.max_tokens = 1.0, 12

    def attempt() -> list[str]:
        # llama.cpp's logits differ slightly with how much of a prompt was cached: start from the same cache.
        model.chat(other)
        model.seed = 7
        return [model.chat(messages)[0] for _ in range(2)]

    try:
        first = attempt()
        model.chat(messages)  # a call more than the first attempt made
        again = attempt()
    finally:
        model.temperature, model.max_tokens = before
    assert again == first
