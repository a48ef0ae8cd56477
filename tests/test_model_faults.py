"""Model faults: the agent against an OpenAI-compatible server that times out, rate-limits, fails, and sends
broken replies. Transient faults are retried with backoff and counted in the ledger; a bad tool call becomes a
corrective observation; when retries run out the run ends with a clear outcome."""

from __future__ import annotations

import pytest
from conftest import of_type, sandbox_kind
from fake_openai import FakeOpenAI, Reply, completion

from autonomo.agent.loop import Budget
from autonomo.assembly import RunConfig, make_agent
from autonomo.events import read_events
from autonomo.models.hosted import LiteLLMModel

FINISH = completion('{"summary": "done"}', name="finish")
FAULTS = {
    "timeout": Reply(payload=FINISH, delay=2.5),
    "429 with Retry-After": Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"}),
    "500": Reply(500, {"error": {"message": "boom"}}),
    "truncated JSON": Reply(raw=b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess'),
    "empty choices": Reply(payload=completion("{}", choices=False)),
}


def run_agent(workspace, url: str, replies: list[Reply]):
    FakeOpenAI.replies = list(replies)
    config = RunConfig(draft=False, sandbox=sandbox_kind(), retry_base=0.05, budget=Budget(max_steps=10))
    model = LiteLLMModel("openai/gpt-4o-mini", api_base=url, timeout=1.0)
    agent = make_agent(config, workspace, model=model)  # the tool loop alone: every reply here is a tool call
    result = agent.run("say done")
    return result, list(read_events(agent.log.path))


def test_every_fault_is_survived(workspace, server):
    bad_call = Reply(payload=completion('{"command": '))  # a tool call whose arguments are not JSON
    faults = list(FAULTS.values())
    result, events = run_agent(workspace, server, faults[:3] + [bad_call] + faults[3:] + [Reply(payload=FINISH)])
    assert result.outcome == "completed"
    failed = [e for e in of_type(events, "model_call") if e.get("error")]
    assert len(failed) == len(FAULTS) == len(FakeOpenAI.requests) - 2  # each fault cost exactly one request
    assert "Timeout" in failed[0]["error"] and failed[0]["seconds"] >= 1.0
    assert "RateLimitError" in failed[1]["error"] and failed[1]["retry_in"] == 1.0
    assert [e["retry_in"] for e in failed[2:]] == [0.2, 0.05, 0.1]  # doubling with each failure in a row
    (bad,) = [e for e in of_type(events, "observation") if not e["ok"]]
    assert "Invalid tool call: arguments are not valid JSON" in bad["output"]
    totals = events[-1]["totals"]
    assert totals["failed_model_calls"] == len(FAULTS) and totals["model_calls"] == len(FAULTS) + 2
    assert totals["model_seconds"] >= 1.0  # the time lost to failed calls is in the ledger
    assert totals["cost_usd"] > 0  # the calls that answered are priced


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_that_persists_ends_the_run_clearly(workspace, server, fault):
    replies = [FAULTS[fault]] * 5
    if fault == "429 with Retry-After":  # keep the test quick: the provider asks for no wait
        replies = [Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"})] * 5
    result, events = run_agent(workspace, server, replies)
    assert result.outcome == "model_error" and result.summary.startswith("model call failed 5 times in a row")
    assert events[-1]["totals"]["failed_model_calls"] == 5 and len(FakeOpenAI.requests) == 5


def test_a_bad_key_is_not_retried(workspace, server):
    result, events = run_agent(workspace, server, [Reply(401, {"error": {"message": "invalid api key"}})])
    assert result.outcome == "model_error" and "AuthenticationError" in result.summary
    assert len(FakeOpenAI.requests) == 1
