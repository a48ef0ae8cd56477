"""The typed event log: every event fits its kind's schema, logs written before the schema (format 1, by commit
a49593e: tests/fixtures/logs/a49593e) still replay, and docs/events.md documents what schema.py declares."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autonomo.cli import app
from autonomo.company.board import Board
from autonomo.events import (
    FORMAT,
    KINDS,
    CompanyOutcome,
    EventLog,
    ItemState,
    Ledger,
    Outcome,
    log_format,
    read_events,
    schema,
    validate_event,
)

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(__file__).resolve().parent / "fixtures" / "logs" / "a49593e"  # a home as autonomo lays one out
RUN_LOG = next((HOME / "runs").glob("*/events.jsonl"))
COMPANY_LOG = next((HOME / "company").glob("*/events.jsonl"))
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "250"})


def events_of(path: Path) -> list[dict]:
    return list(read_events(path))


@pytest.mark.parametrize("path", [RUN_LOG, COMPANY_LOG], ids=["run", "company"])
def test_every_event_of_a_format_1_log_fits_the_schema(path):
    events = events_of(path)
    assert log_format(events) == 1 and "format" not in events[0]
    for event in events:
        validate_event(event)
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_the_fixtures_cover_the_kinds_they_were_made_for():
    run = {e["type"] for e in events_of(RUN_LOG)}
    assert run >= {"run_started", "model_call", "tool_call", "observation", "user_message", "verification"}
    calls = [e for e in events_of(RUN_LOG) if e["type"] == "model_call"]
    assert any(e.get("draft") and "error" not in e for e in calls)  # a draft
    assert any(e.get("retryable") and "retry_in" in e for e in calls)  # a failed call that was retried
    assert {e["name"] for e in events_of(RUN_LOG) if e["type"] == "tool_call"} >= {"create", "run_tests", "finish"}
    company = {e["type"] for e in events_of(COMPANY_LOG)}
    assert company >= {
        "company_started", "plan_reply", "plan_made", "item_started", "item_attempt_finished", "review_started",
        "item_reviewed", "item_merged", "merge_conflict", "item_reopened", "qa_explored", "qa_report",
        "company_finished",
    }  # fmt: skip


def test_show_replays_a_format_1_log():
    finished = events_of(RUN_LOG)[-1]
    shown = invoke("show", RUN_LOG.parent.name, "--home", str(HOME))
    assert shown.exit_code == 0, shown.output
    goal = events_of(RUN_LOG)[0]["goal"]
    for text in (goal, finished["outcome"], "→ create", "→ run_tests", "→ finish", "model error", "(draft)"):
        assert text in shown.output
    assert invoke("show", "last", "--home", str(HOME)).output == shown.output


def test_runs_lists_a_format_1_run():
    listed = invoke("runs", "--home", str(HOME))
    assert listed.exit_code == 0, listed.output
    assert RUN_LOG.parent.name in listed.output and "completed" in listed.output


def test_the_ledger_of_a_format_1_log_matches_its_totals():
    events = events_of(RUN_LOG)
    written = events[-1]["totals"]
    folded = Ledger.from_events(events[:-1]).totals()
    shared = set(written) & set(folded)
    assert shared >= {"model_calls", "failed_model_calls", "tokens", "cost_usd", "tool_calls", "elapsed_seconds"}
    assert {k: folded[k] for k in shared} == {k: written[k] for k in shared}


def test_the_board_of_a_format_1_log_matches_its_end():
    events = events_of(COMPANY_LOG)
    board = Board()
    for event in events[:-1]:
        board.add(event)
    finished = events[-1]
    assert {i: s.state for i, s in board.items.items()} == finished["items"]
    assert all(isinstance(s.state, ItemState) for s in board.items.values())
    assert board.spend() == finished["totals"]
    assert CompanyOutcome(finished["outcome"]) is CompanyOutcome.DELIVERED


def started_fields() -> dict:
    """run_started's fields as the fixture has them, without those EventLog writes itself."""
    first = events_of(RUN_LOG)[0]
    return {k: v for k, v in first.items() if k not in ("seq", "ts", "type", "format")}


def test_a_new_log_carries_the_current_format(tmp_path):
    log = EventLog(tmp_path / "run")
    event = log.emit("run_started", **started_fields())
    assert event["format"] == FORMAT == 2
    written = events_of(log.path)
    assert written[0]["format"] == FORMAT and log_format(written) == FORMAT
    validate_event(written[0])
    again = EventLog(tmp_path / "run")  # a resumed log goes on in its format: only its first event says which
    assert "format" not in again.emit("run_resumed", after_events=1)
    assert log_format(events_of(log.path)) == FORMAT


def test_only_the_first_event_carries_the_format(tmp_path):
    log = EventLog(tmp_path / "run")
    assert "format" not in log.emit("budget_stop", reason="r")  # not a log's first kind
    with pytest.raises(ValueError, match="format"):
        log.emit("budget_stop", reason="r", format=1)  # written by EventLog, not by its callers


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("no_such_kind", {}),  # unknown kind
        ("budget_stop", {}),  # a required field missing
        ("budget_stop", {"reason": 3}),  # a field of the wrong type
        ("budget_stop", {"reason": "r", "extra": 1}),  # a field not declared
        ("observation", {"step": 1, "id": "c", "name": "view", "ok": 1, "output": ""}),  # 1 is no boolean
        (
            "run_finished",
            {"outcome": "done", "summary": "", "tests": "", "tests_passed": True, "files_changed": [], "totals": {}},
        ),  # not an Outcome  # fmt: skip
        ("item_interrupted", {"item": "a", "was": "sleeping"}),  # not an ItemState
        ("item_attempt_finished", {"item": "a", "attempt": 0, "outcome": "fine", "verified": False}),
        ("model_call", {"step": 1, "text": "hi"}),  # a reply without its tool calls and usage
    ],
)
def test_an_event_that_does_not_fit_its_kind_raises_and_is_not_written(tmp_path, kind, fields):
    log = EventLog(tmp_path / "run")
    with pytest.raises(ValueError):
        log.emit(kind, **fields)
    assert not log.path.exists() or log.path.read_text() == ""
    assert log.emit("budget_stop", reason="r")["seq"] == 0  # the seq was not used up


def test_enums_are_written_as_plain_strings(tmp_path):
    log = EventLog(tmp_path / "run")
    log.emit(
        "run_finished",
        outcome=Outcome.COMPLETED,
        summary="",
        tests="",
        tests_passed=True,
        files_changed=[],
        totals={},
    )
    log.emit("item_interrupted", item="a", was=ItemState.REVIEW)
    log.emit("item_attempt_finished", item="a", attempt=-1, outcome="crashed: boom", verified=False)
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert lines[0]["outcome"] == "completed" and type(lines[0]["outcome"]) is str
    assert lines[1]["was"] == "review"


def test_every_kind_emitted_has_a_model():
    emitted = set()
    for path in (ROOT / "src" / "autonomo").rglob("*.py"):
        emitted |= set(re.findall(r"""\.emit\(\s*["'](\w+)["']""", path.read_text(encoding="utf-8")))
    assert emitted and emitted <= KINDS, emitted - KINDS


def doc_sections() -> dict[str, set[str]]:
    """docs/events.md's field tables: heading -> the fields in its table."""
    sections: dict[str, set[str]] = {}
    heading = None
    for line in (ROOT / "docs" / "events.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            heading = line[4:].strip().strip("`").replace("` (", " (")
            sections[heading] = set()
        elif line.startswith("## "):
            heading = None
        elif heading and line.startswith("| `"):
            sections[heading].add(line.split("`")[1])
    return sections


def test_the_docs_tables_match_the_schema():
    sections = doc_sections()
    common = {"seq", "ts", "type"}
    models = {schema.kind_of(m): m for m in (*schema.RUN_EVENTS, *schema.COMPANY_EVENTS)}
    models["model_call"], models["model_call (failed)"] = schema.ModelCall, schema.ModelCallFailed
    for title, model in models.items():
        assert title in sections, f"docs/events.md has no table for {title}"
        assert sections[title] == set(model.model_fields) - common, title
    for part in (schema.ToolCallRecord, schema.Spend, schema.QaFailure, schema.Suspect):
        assert sections[part.__name__] == set(part.model_fields)
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    for enum in (Outcome, CompanyOutcome, ItemState):
        for member in enum:
            assert f"| `{member.value}` |" in text
    assert f"`FORMAT = {FORMAT}`" in text
