"""The agent loop with a scripted model: finish, verification, budgets, faults."""

from __future__ import annotations

import json

from conftest import BAD_CALC, GOOD_CALC, PASSING_TEST, of_type, run_scripted

from autonomo.agent.loop import Budget
from autonomo.events import Ledger


def create(path: str, content: str) -> dict:
    return {"tool": "create", "args": {"path": path, "content": content}}


FINISH = {"tool": "finish", "args": {"summary": "add works"}}


def test_finish_after_tests_pass(workspace):
    result, events = run_scripted(
        workspace,
        [create("calc.py", GOOD_CALC), create("test_calc.py", PASSING_TEST), {"tool": "run_tests", "args": {}}, FINISH],
    )
    assert result.outcome == "completed"
    assert result.tests_passed and result.tests.startswith("passed: 1 passed")
    assert result.files_changed == ["calc.py", "test_calc.py"]
    assert result.summary == "add works"
    assert [e["type"] for e in events][0] == "run_started"
    assert events[-1]["type"] == "run_finished" and events[-1]["outcome"] == "completed"
    assert (workspace / "calc.py").read_text() == GOOD_CALC


def test_finish_refused_while_tests_fail(workspace):
    result, events = run_scripted(
        workspace,
        [
            create("calc.py", BAD_CALC),
            create("test_calc.py", PASSING_TEST),
            FINISH,  # refused: the test fails
            {"tool": "edit", "args": {"path": "calc.py", "old": "a - b", "new": "a + b"}},
            FINISH,
        ],
    )
    assert result.outcome == "completed" and result.tests_passed
    refusal = [e for e in of_type(events, "observation") if e["name"] == "finish"][0]
    assert not refusal["ok"] and "Cannot finish: tests fail" in refusal["output"]
    assert [v["passed"] for v in of_type(events, "verification")] == [False, True]


def test_claimed_success_is_not_trusted_when_budget_ends(workspace):
    steps = [create("calc.py", BAD_CALC), create("test_calc.py", PASSING_TEST), FINISH]
    result, events = run_scripted(workspace, steps, Budget(max_steps=3))
    assert result.outcome == "budget_exhausted"
    assert not result.tests_passed and result.tests.startswith("failed: 1 failed")
    assert events[-1]["tests"] == result.tests


def test_step_budget_stops_cleanly(workspace):
    steps = [{"tool": "shell", "args": {"command": f"echo {i}"}} for i in range(10)]
    result, events = run_scripted(workspace, steps, Budget(max_steps=4))
    assert result.outcome == "budget_exhausted"
    assert "step limit 4" in result.summary
    assert len(of_type(events, "model_call")) == 4
    assert of_type(events, "budget_stop")[0]["reason"] == result.summary


def test_token_budget_stops_cleanly(workspace):
    usage = {"prompt_tokens": 600, "completion_tokens": 100}
    steps = [{"tool": "shell", "args": {"command": f"echo {i}"}, "usage": usage} for i in range(10)]
    result, events = run_scripted(workspace, steps, Budget(max_steps=50, tokens=2000))
    assert result.outcome == "budget_exhausted" and "token budget 2000" in result.summary
    assert len(of_type(events, "model_call")) == 3  # 700, 1400, 2100 >= 2000
    assert result.totals["tokens"] == 2100


def test_cost_budget_stops_cleanly(workspace):
    steps = [{"tool": "shell", "args": {"command": f"echo {i}"}, "usage": {"cost_usd": 0.02}} for i in range(10)]
    result, _ = run_scripted(workspace, steps, Budget(max_steps=50, usd=0.05))
    assert result.outcome == "budget_exhausted" and "cost budget" in result.summary
    assert abs(result.totals["cost_usd"] - 0.06) < 1e-9


def test_tool_error_is_an_observation_and_the_run_continues(workspace):
    result, events = run_scripted(
        workspace,
        [
            {"tool": "edit", "args": {"path": "missing.py", "old": "x", "new": "y"}},
            {"tool": "view", "args": {"path": "../../etc/passwd"}},
            {"tool": "shell", "args": {"command": "exit 3"}},
            create("calc.py", GOOD_CALC),
            create("test_calc.py", PASSING_TEST),
            FINISH,
        ],
    )
    observations = of_type(events, "observation")
    assert [o["ok"] for o in observations[:3]] == [False, False, False]
    assert "not a file" in observations[0]["output"]
    assert "outside the workspace" in observations[1]["output"]
    assert observations[2]["output"].startswith("exit code 3")
    assert result.outcome == "completed"
    assert result.totals["tool_errors"] == 3


def test_malformed_tool_calls_get_corrective_observations(workspace):
    result, events = run_scripted(
        workspace,
        [
            {"tool": "create", "raw_args": '{"path": "calc.py", "content": '},  # truncated JSON
            {"tool": "delete_everything", "args": {}},
            {"tool": "create", "args": {"path": "calc.py"}},  # missing content
            {"text": "I think I am done."},  # no tool call at all
            create("calc.py", GOOD_CALC),
            create("test_calc.py", PASSING_TEST),
            FINISH,
        ],
    )
    outputs = [o["output"] for o in of_type(events, "observation")]
    assert "not valid JSON" in outputs[0]
    assert "unknown tool 'delete_everything'" in outputs[1]
    assert "missing required argument(s) content" in outputs[2]
    assert result.outcome == "completed"
    assert not (workspace / "delete_everything").exists()


def test_transient_model_errors_are_retried_with_backoff(workspace):
    steps = [{"error": "HTTP 500"}, {"error": "HTTP 429", "retry_after": 0.3}, create("calc.py", GOOD_CALC), FINISH]
    result, events = run_scripted(workspace, steps)
    assert result.outcome == "completed"
    failed = [e for e in of_type(events, "model_call") if e.get("error")]
    assert [e["retry_in"] for e in failed] == [0.01, 0.3]  # backoff, then the provider's Retry-After
    assert events[-1]["totals"]["failed_model_calls"] == 2 and events[-1]["totals"]["model_calls"] == 4
    assert [e["step"] for e in of_type(events, "model_call")] == [1, 1, 1, 2]  # a retry is not a new step


def test_repeated_model_errors_end_the_run(workspace):
    result, events = run_scripted(workspace, [{"error": "HTTP 500"}] * 9)
    assert result.outcome == "model_error" and "5 times in a row" in result.summary
    assert len([e for e in of_type(events, "model_call") if e.get("error")]) == 5
    assert events[-1]["totals"]["failed_model_calls"] == 5


def test_a_permanent_model_error_ends_the_run_at_once(workspace):
    result, events = run_scripted(workspace, [{"error": "HTTP 401 bad key", "retryable": False}, FINISH])
    assert result.outcome == "model_error" and "failed 1 time in a row: HTTP 401" in result.summary
    assert "retry_in" not in of_type(events, "model_call")[0]


def test_interrupt_is_logged(workspace, monkeypatch):
    from autonomo.models.scripted import ScriptedModel

    original = ScriptedModel.complete

    def interrupt_on_second_call(self, messages, tools=(), **sampling):
        if self.calls == 1:
            raise KeyboardInterrupt
        return original(self, messages, tools, **sampling)

    monkeypatch.setattr(ScriptedModel, "complete", interrupt_on_second_call)
    result, events = run_scripted(workspace, [create("calc.py", GOOD_CALC), FINISH])
    assert result.outcome == "interrupted"
    assert (workspace / "calc.py").exists()
    assert events[-1]["type"] == "run_finished" and events[-1]["outcome"] == "interrupted"
    assert of_type(events, "observation")[0]["output"].startswith("created calc.py")


def test_ledger_totals_match_the_events(workspace):
    usage = [{"prompt_tokens": 100 * i, "prompt_tokens_evaluated": 10 * i, "completion_tokens": i} for i in (1, 2, 3)]
    steps = [
        {**create("calc.py", GOOD_CALC), "usage": usage[0]},
        {**create("test_calc.py", PASSING_TEST), "usage": usage[1]},
        {**FINISH, "usage": usage[2]},
    ]
    result, events = run_scripted(workspace, steps)
    totals = result.totals
    assert (totals["prompt_tokens"], totals["prompt_tokens_evaluated"], totals["completion_tokens"]) == (600, 60, 6)
    assert totals["model_calls"] == 3 and totals["tool_calls"] == 3 and totals["tokens"] == 606
    replayed = Ledger.from_events(events).totals()
    assert {k: v for k, v in replayed.items() if k != "elapsed_seconds"} == {
        k: v for k, v in totals.items() if k != "elapsed_seconds"
    }
    assert json.loads(json.dumps(events[-1]))["totals"] == totals


def test_a_repeating_model_is_stopped_as_stuck(workspace):
    (workspace / "calc.py").write_text(BAD_CALC)
    same_edit = {"tool": "edit", "args": {"path": "calc.py", "old": "return a * b", "new": "return a + b"}}
    result, events = run_scripted(workspace, [same_edit] * 10)
    assert result.outcome == "stuck" and "same result 3 times" in result.summary
    observations = of_type(events, "observation")
    assert len(observations) == 3
    # A failed edit shows the file, so the model can correct its guess; a repeat is pointed out.
    assert "return a - b" in observations[0]["output"]
    assert "exact call before, with this result" in observations[1]["output"]


def test_each_write_shows_the_tests_now(workspace):
    result, events = run_scripted(
        workspace,
        [create("test_calc.py", PASSING_TEST), create("calc.py", BAD_CALC), create("calc.py", GOOD_CALC), FINISH],
    )
    outputs = [o["output"] for o in of_type(events, "observation")]
    assert "Tests now: failed" in outputs[0] and "Tests now: failed: 1 failed" in outputs[1]
    assert "Tests now: passed: 1 passed. Call finish" in outputs[2]  # no run time: clock noise, not news
    assert result.outcome == "completed"


def test_a_draft_that_passes_the_tests_ends_the_run(workspace):
    (workspace / "calc.py").write_text("def add(a, b):\n    pass\n")
    (workspace / "test_calc.py").write_text(PASSING_TEST)
    draft = f"Here it is.\n```python\n{GOOD_CALC}```\n### test_calc.py\n```python\nbroken\n```\n"
    result, events = run_scripted(workspace, [{"draft": draft}, FINISH], protected=("test_calc.py",))
    assert result.outcome == "completed" and result.tests_passed and result.summary == "a draft passed the tests"
    assert (workspace / "calc.py").read_text() == GOOD_CALC  # the unnamed block: the only file to change
    assert (workspace / "test_calc.py").read_text() == PASSING_TEST  # protected: the draft cannot touch it
    first = of_type(events, "model_call")[0]
    assert first["draft"] and first["step"] == 1 and first["prompt_tokens"] > 0
    writes = [(e["ok"], e["output"].split()[0]) for e in of_type(events, "observation") if e["id"].startswith("draft")]
    assert writes == [(True, "overwrote")]  # the reply was cut off at the test file's heading
    assert first["text"] == f"Here it is.\n```python\n{GOOD_CALC}```\n"
    assert of_type(events, "user_message")[0]["content"].startswith("Tests now: passed: 1 passed")
    (check,) = of_type(events, "verification")
    assert check["passed"] and check["command"]
    assert Ledger.from_events(events).model_calls == 1  # no finish call: the tests said so already


def test_a_failing_draft_is_redrafted_seeing_the_failure(workspace):
    from autonomo.models.scripted import ScriptedModel

    (workspace / "calc.py").write_text("def add(a, b):\n    pass\n")
    (workspace / "test_calc.py").write_text(PASSING_TEST)
    model = ScriptedModel([{"draft": f"```python\n{BAD_CALC}```"}, {"draft": f"```python\n{GOOD_CALC}```"}, FINISH])
    result, events = run_scripted(workspace, model, protected=("test_calc.py",))
    assert result.outcome == "completed" and result.tests_passed
    first, second = (m[1]["content"] for m in model.prompts)
    assert "failed the tests" not in first and "complete new content of calc.py" in first
    assert "An earlier version failed the tests" in second and "assert -1 == 5" in second  # the pytest output
    assert "def add(a, b):\n    pass" in second and BAD_CALC not in second  # as they were: shown, it is copied
    assert [e["step"] for e in of_type(events, "model_call") if e.get("draft")] == [1, 2]


def test_a_draft_with_no_code_block_is_redrafted(workspace):
    from autonomo.agent.draft import NO_CODE
    from autonomo.models.scripted import ScriptedModel

    (workspace / "calc.py").write_text("def add(a, b):\n    pass\n")
    (workspace / "test_calc.py").write_text(PASSING_TEST)
    cut_off = {"draft": "Let me explain addition first.\n```python\ndef add(a, b):\n    # adds"}  # out of tokens
    model = ScriptedModel([cut_off, {"draft": f"```python\n{GOOD_CALC}```"}])
    result, events = run_scripted(workspace, model, protected=("test_calc.py",))
    assert result.outcome == "completed" and result.tests_passed
    assert NO_CODE in model.prompts[1][1]["content"] and NO_CODE not in model.prompts[0][1]["content"]
    assert [e["step"] for e in of_type(events, "model_call") if e.get("draft")] == [1, 2]


def test_redrafts_stop_at_their_limit_and_the_loop_goes_on(workspace):
    from autonomo.agent.loop import REDRAFTS

    (workspace / "calc.py").write_text("def add(a, b):\n    pass\n")
    (workspace / "test_calc.py").write_text(PASSING_TEST)
    steps = [{"draft": f"```python\n{BAD_CALC}```"}, {"draft": "No code, sorry."}]  # a redraft with no code counts
    steps += [{"draft": f"```python\n{BAD_CALC}```"}] * (REDRAFTS - 1) + [create("calc.py", GOOD_CALC), FINISH]
    result, events = run_scripted(workspace, steps, protected=("test_calc.py",))
    assert result.outcome == "completed" and result.tests_passed
    calls = of_type(events, "model_call")
    assert [bool(e.get("draft")) for e in calls] == [True] * (REDRAFTS + 1) + [False, False]


def test_redrafts_stop_at_the_step_budget_and_at_a_failed_call(workspace):
    (workspace / "calc.py").write_text("def add(a, b):\n    pass\n")
    (workspace / "test_calc.py").write_text(PASSING_TEST)
    bad = {"draft": f"```python\n{BAD_CALC}```"}
    result, events = run_scripted(workspace, [bad] * 10, Budget(max_steps=2), protected=("test_calc.py",))
    assert result.outcome == "budget_exhausted" and len(of_type(events, "model_call")) == 2
    steps = [bad, {"error": "rate limited", "draft": ""}, create("calc.py", GOOD_CALC), FINISH]
    result, events = run_scripted(workspace, steps, protected=("test_calc.py",))
    assert result.outcome == "completed"  # the loop took over after the failed redraft
    assert [bool(e.get("draft")) for e in of_type(events, "model_call")] == [True, True, False, False]


def test_no_draft_when_the_script_holds_no_free_form_reply(workspace):
    result, events = run_scripted(workspace, [create("calc.py", GOOD_CALC), FINISH])
    assert result.outcome == "completed"
    assert not any(e.get("draft") for e in of_type(events, "model_call"))


def test_draft_without_code_blocks_leaves_the_loop_to_write(workspace):
    steps = [{"draft": "I would write add."}, create("calc.py", GOOD_CALC), create("test_calc.py", PASSING_TEST)]
    steps.append(FINISH)
    result, events = run_scripted(workspace, steps)
    assert result.outcome == "completed" and result.tests_passed
    assert of_type(events, "model_call")[1]["step"] == 2


def test_a_repeated_call_makes_the_next_one_sampled_hotter(workspace):
    from autonomo.models import call_seed
    from autonomo.models.scripted import ScriptedModel

    look = {"tool": "shell", "args": {"command": "ls"}}
    model = ScriptedModel([look, look, create("calc.py", GOOD_CALC), FINISH])
    result, _ = run_scripted(workspace, model)
    assert result.outcome == "completed"
    # Sampling is given with each call, never set on the model: the third call, after a repeat, is hot.
    assert [t for t, _ in model.sampling] == [0.0, 0.0, 0.7, 0.0]
    assert [s for _, s in model.sampling] == [call_seed(0, n) for n in range(1, 5)]  # a seed of its own each


def test_an_edit_that_changes_nothing_is_refused(workspace):
    (workspace / "calc.py").write_text(BAD_CALC)
    result, events = run_scripted(workspace, [{"tool": "edit", "args": {"path": "calc.py", "old": "a", "new": "a"}}])
    first = of_type(events, "observation")[0]
    assert not first["ok"] and "changes nothing" in first["output"]
