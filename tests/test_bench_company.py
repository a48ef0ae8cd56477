"""The company benchmark (`bench company`): product requests judged by hidden acceptance tests, for the one-shot
reference, one autonomo run and company mode. The smoke runs on requests made here, with scripted models."""

from __future__ import annotations

import json

import pytest
from conftest import sandbox_kind

from autonomo.bench.report import markdown
from autonomo.bench.runner import Bench, BenchConfig, read_report
from autonomo.bench.tasks import DEFAULT_TASKS, Task, load_tasks
from autonomo.models.scripted import ScriptedModel

needs_data = pytest.mark.skipif(not DEFAULT_TASKS["company"].is_file(), reason="../shared/benchmarks missing")


def rows() -> list[dict]:
    with open(DEFAULT_TASKS["company"], encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@needs_data
def test_no_reference_product_or_hidden_test_reaches_a_workspace(tmp_path):
    tasks = load_tasks("company")
    assert len(tasks) == len(rows()) == 21
    assert {t.labels["tier"] for t in tasks} == {"1", "2", "calibration"}
    for row, task in zip(rows(), tasks, strict=True):
        ws = tmp_path / task.id.replace("/", "_")
        task.prepare(ws)
        texts = [p.read_text() for p in ws.rglob("*") if p.is_file()] + [task.goal]
        for secret in [*row["reference"].values(), *row["tests"].values()]:
            if secret.strip():  # an empty __init__.py is in every product
                assert not any(secret.strip() in text for text in texts), (task.id, secret[:80])


@needs_data
def test_scoring_passes_the_reference_fails_the_empty_product_and_counts_the_hidden_tests(tmp_path):
    picked = {"company/T1-19-calc", "company/T2-06-kv-ttl", "company/DB-lice"}  # one a tier; calc's tests import
    for row, task in zip(rows(), load_tasks("company"), strict=True):  # the product at the top: collected only
        if task.id not in picked:  # beside the reference
            continue
        empty = tmp_path / "empty"
        task.prepare(empty)
        score = task.score(empty, tmp_path / "s1", sandbox=sandbox_kind())
        assert not score.passed and score.tests_passed == 0, (task.id, score)
        good = tmp_path / "good"
        task.prepare(good)
        for name, text in row["reference"].items():
            (good / name).parent.mkdir(parents=True, exist_ok=True)
            (good / name).write_text(text)
        (good / "test_mine.py").write_text("def test_agent_written():\n    assert False\n")  # not scored
        score = task.score(good, tmp_path / "s2", sandbox=sandbox_kind())
        assert score.passed and score.tests_passed == score.tests_total > 0, (task.id, score)


def test_the_unit_converter_request_of_our_own_checks_out(tmp_path):
    """benchmarks/tasks/company-unit-converter.jsonl: BENCHMARKS.md's unit converter, with hidden tests we wrote."""
    from pathlib import Path

    (task,) = load_tasks("company", Path(__file__).parents[1] / "benchmarks/tasks/company-unit-converter.jsonl")
    assert task.labels == {"tier": "1"} and "## Interface" in task.goal
    task.prepare(tmp_path / "empty")
    assert task.score(tmp_path / "empty", tmp_path / "s1", sandbox=sandbox_kind()).tests_passed == 0
    task.prepare(tmp_path / "good")
    for name, text in task.reference.items():
        (tmp_path / "good" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "good" / name).write_text(text)
    score = task.score(tmp_path / "good", tmp_path / "s2", sandbox=sandbox_kind())
    assert score.passed and score.tests_passed == score.tests_total == 21, score


HIDDEN = "from greet import hello\n\n\ndef test_hello():\n    assert hello() == 'hi'\n\n\ndef test_name():\n" \
    "    assert hello('ann') == 'hi ann'\n"  # fmt: skip
RIGHT = "def hello(name=''):\n    return f'hi {name}'.strip()\n"
WRONG = "def hello(name=''):\n    return 'hi'\n"  # passes one hidden test of two


def request(n: int) -> Task:
    return Task(
        id=f"company/greet-{n}",
        goal="A module greet.py with hello(name='') that greets.\n\n## Interface\n- `greet.hello()` returns `hi`.",
        files={},
        score_files={"test_acceptance.py": HIDDEN},
        score_command="python -m pytest -q test_acceptance.py",
        labels={"tier": "1"},
        reference={"greet.py": RIGHT},
    )


def draft(code: str) -> dict:
    return {"draft": f"### greet.py\n```python\n{code}```\n"}


GREETS = {"command": "python -c 'from greet import hello; print(hello())'", "expect": "hi"}
CHECK = {"draft": "```json\n" + json.dumps(GREETS) + "\n```"}  # of the interface's one rule


def plan() -> dict:
    items = [{"id": "greet", "title": "greet.py with hello", "files": ["greet.py"]}]
    return {"draft": "```json\n" + json.dumps({"items": items}) + "\n```"}


FINISH = {"tool": "finish", "args": {"summary": "done"}}


def engineer(code: str) -> list[dict]:
    return [{"tool": "create", "args": {"path": "greet.py", "content": code}}, FINISH]


def test_the_three_systems_build_two_requests_and_are_judged_by_the_hidden_tests(tmp_path):
    """CI's smoke of `bench company`: per request, the one-shot reference, one autonomo run, then company mode
    (planner, engineer, reviewer, QA). The company's own checks pass for both requests; the hidden tests decide."""
    chat = [
        draft(RIGHT),  # request 0: the one-shot reference
        draft(WRONG), FINISH,  # autonomo: a draft with no tests to check it, finished
        plan(), CHECK, {"draft": "APPROVE"}, {"draft": "[]"},  # the company: planner, QA's check of the interface,
        draft(WRONG),  # request 1                                # the reviewer, QA's own checks (none)
        draft(RIGHT), FINISH,
        plan(), CHECK, {"draft": "APPROVE"}, {"draft": "[]"},
    ]  # fmt: skip
    config = BenchConfig(out=tmp_path / "out", model_spec="scripted", sandbox=sandbox_kind(), max_tokens=50_000)
    engineers = {f"company/greet-{n}": {"engineer:greet": [engineer(code)]} for n, code in enumerate((RIGHT, WRONG))}
    bench = Bench(config, ScriptedModel(chat), log=lambda _: None, engineer_scripts=engineers)
    bench.run([request(0), request(1)], ["oneshot", "autonomo", "company"])
    report = read_report(config.out / "report.jsonl")
    got = {(r["system"], r["task"][-1]): (r["passed"], r["tests_passed"], r["tests_total"]) for r in report}
    assert got == {
        ("oneshot", "0"): (True, 2, 2), ("autonomo", "0"): (False, 1, 2), ("company", "0"): (True, 2, 2),
        ("oneshot", "1"): (False, 1, 2), ("autonomo", "1"): (True, 2, 2), ("company", "1"): (False, 1, 2),
    }  # fmt: skip
    company = [r for r in report if r["system"] == "company"]
    assert all(r["tier"] == "1" and r["outcome"].startswith("delivered") for r in company)  # by its own checks
    roles = company[0]["attempt_log"][0]["spend"]
    assert set(roles) == {"planner", "engineer", "reviewer", "qa"} and company[0]["tokens"] > 0
    assert company[0]["steps"] == sum(r["model_calls"] for r in roles.values()) == 6
    text = markdown(report, "company")
    assert "| company | 1 | 2 | 1 | 3/4 |" in text and "company spend, planner: 2 model_calls" in text


def test_the_benchmark_runs_on_a_hosted_model(tmp_path, server):
    """`bench company --model PROVIDER/MODEL --api-base URL`: the three systems through litellm against a local
    OpenAI-compatible server (the engineers load the model by its name too), with dollars counted."""
    from fake_openai import FakeOpenAI, Reply, completion, text_completion
    from test_cli import invoke

    task = request(0)
    row = {"id": task.id, "tier": 1, "request": task.goal, "files": {}, "tests": task.score_files,
           "reference": task.reference, "test_command": task.score_command}  # fmt: skip
    (tmp_path / "tasks.jsonl").write_text(json.dumps(row) + "\n")
    texts = [
        draft(WRONG)["draft"],
        None,
        draft(RIGHT)["draft"],
        plan()["draft"],
        CHECK["draft"],
        draft(RIGHT)["draft"],
        "APPROVE",
        "[]",
    ]
    # autonomo: a draft, then finish; the one-shot; the company: planner, QA, engineer, review, QA
    FakeOpenAI.replies = [
        Reply(payload=text_completion(t) if t else completion('{"summary": "done"}', name="finish")) for t in texts
    ]
    out = tmp_path / "out"
    result = invoke("bench", "company", "--tasks", str(tmp_path / "tasks.jsonl"), "--model", "openai/gpt-4o-mini",
                    "--api-base", server, "--peer", "oneshot", "--peer", "company", "--workers", "1",
                    "--sandbox", sandbox_kind(), "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not FakeOpenAI.replies  # every call went to the server, none elsewhere
    report = {r["system"]: r for r in read_report(out / "report.jsonl")}
    got = {s: (r["passed"], r["tests_passed"], r["tests_total"]) for s, r in report.items()}
    assert got == {"autonomo": (False, 1, 2), "oneshot": (True, 2, 2), "company": (True, 2, 2)}
    assert report["company"]["model"] == "openai/gpt-4o-mini" and report["company"]["cost_usd"] > 0
    assert set(report["company"]["attempt_log"][0]["spend"]) == {"planner", "engineer", "reviewer", "qa"}
