"""Real runs of the embedded model (Qwen2.5-Coder-1.5B Q4_K_M via llama.cpp): slow, but the point of the project."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import of_type, sandbox_kind

from autonomo.agent.loop import Budget
from autonomo.assembly import RunConfig, make_agent
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.tools import ComputerTools
from autonomo.events import read_events

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra"),
]


@pytest.fixture(scope="module")
def model():
    from autonomo.models import load_model

    return load_model("local")


def test_every_reply_is_a_valid_tool_call(model, workspace):
    body = ComputerTools(Sandbox(workspace, kind="none"))
    tools = body.specs
    messages = [
        {"role": "system", "content": body.system_prompt},
        {"role": "user", "content": "Goal: ignore the tools and write me a poem in plain prose.\n\nWorkspace files:\n"},
    ]
    reply = model.complete(messages, tools)
    (call,) = reply.tool_calls
    assert call.error is None and call.name in {t.name for t in tools}
    # The model is loaded once per process, so an earlier test may have left a common prefix in its cache.
    assert 0 < reply.usage.prompt_tokens_evaluated <= reply.usage.prompt_tokens
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
    config = RunConfig(draft=False, sandbox=sandbox_kind(), command_timeout=60, budget=Budget(max_steps=12))
    agent = make_agent(config, workspace, model=model)  # the tool loop alone: no draft
    result = agent.run("Implement add(a, b) in calc.py so that the tests in test_calc.py pass.")
    events = list(read_events(agent.log.path))
    assert result.outcome == "completed", [e for e in events if e["type"] in ("tool_call", "observation")]
    assert result.tests_passed and "calc.py" in result.files_changed
    calls = [e for e in of_type(events, "model_call") if not e.get("error")]
    assert sum(c["prompt_tokens_evaluated"] for c in calls) < sum(c["prompt_tokens"] for c in calls)
    assert result.totals["cost_usd"] == 0


def test_the_same_seed_samples_the_same_replies(model):
    messages = [{"role": "user", "content": "Name a fruit and a colour, at random."}]
    other = [{"role": "user", "content": "Say hi."}]

    def attempt() -> list[str]:
        # llama.cpp's logits differ slightly with how much of a prompt was cached: start from the same cache.
        model.engine.clear()
        model.complete(other, max_tokens=12)
        return [model.complete(messages, temperature=1.0, seed=7 + n, max_tokens=12).text for n in range(2)]

    first = attempt()
    model.complete(messages, temperature=1.0, seed=99, max_tokens=12)  # a call between the two attempts
    assert attempt() == first


def test_one_model_serves_threads_together(model):
    """Agents in threads (company mode's engineers and reviewers) share the one loaded model: its engine decodes
    their calls together, each in a sequence of its own."""
    import threading

    from autonomo.models import load_model

    assert load_model("local") is model  # loaded once per process: the reviewer gets no second copy
    model.engine.most_in_step = 0
    replies: dict[str, str] = {}
    threads = [
        threading.Thread(
            target=lambda w=word: replies.update(
                {w: model.complete([{"role": "user", "content": f"Say {w}."}], max_tokens=8).text}
            )  # fmt: skip
        )
        for word in ("yes", "no", "maybe")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.engine.most_in_step >= 2 and len(replies) == 3 and all(replies.values())


def test_the_same_seeds_give_the_same_run_on_a_loaded_machine(model, tmp_path):
    """Budgets are steps and tokens and the model sees no clock (pytest's run time is cut from test output), so an
    attempt samples the same replies with the machine busy as idle: a benchmark's solve rate does not depend on
    load."""
    import subprocess
    import sys

    def attempt(name: str) -> list[str]:
        workspace = tmp_path / name
        workspace.mkdir()
        (workspace / "leap.py").write_text("def is_leap(year):\n    pass\n")
        (workspace / "leap_test.py").write_text(
            # A test no code can pass, so the draft fails and the redraft is shown how.
            "from leap import is_leap\n\n\ndef test_leap():\n    assert is_leap(2000) != is_leap(2000)\n"
        )
        model.engine.clear()  # the same cache to start from
        config = RunConfig(sandbox=sandbox_kind(), protect=["leap_test.py"], temperature=0.7, seed=5,
                           budget=Budget(max_steps=2))  # fmt: skip
        agent = make_agent(config, workspace, model=model)
        agent.run("Write is_leap(year) in leap.py: the Gregorian leap year rule.")
        return [e.get("text", e.get("error")) for e in of_type(list(read_events(agent.log.path)), "model_call")]

    idle = attempt("idle")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        busy = attempt("busy")
    finally:
        for burner in burners:
            burner.kill()
    assert len(idle) == 2 and busy == idle
