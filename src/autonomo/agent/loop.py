"""The agent loop: plan, act through tools, verify, repeat until the goal is met or the budget is spent."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autonomo.agent.draft import NO_CODE, code_blocks, draft_messages, failure_note, stop_sequences
from autonomo.agent.repair import repair
from autonomo.agent.repair import resume as resume_repair
from autonomo.body import FINISH, Body, Draftable, Observation, TestReport
from autonomo.events import Event, EventLog, Ledger, Outcome
from autonomo.models.base import (
    ContextOverflow,
    Message,
    Model,
    ModelError,
    ModelReply,
    ToolCall,
    Usage,
    call_seed,
    parse_arguments,
)
from autonomo.prompts import render

MAX_MODEL_ATTEMPTS = 5  # failed model calls in a row before the run ends with model_error
MAX_RETRY_WAIT = 60.0
MAX_REPEATS = 3  # the same call with the same result this often: a greedy model is going round in circles
# After a repeated call the next one is sampled at least this hot: a greedy model that repeated itself once will
# repeat itself again (measured: the same no-op edit three times in a row on Exercism's bob and isogram).
EXPLORE_TEMPERATURE = 0.7
REPEAT_NOTE = "\n" + render("agent.repeat_note")
# Drafts after the first, while the tests fail (see draft.py); about 14 s each on Exercism. On the embedded model
# redrafts rescued 4 of 23 failed drafts (at the 1st to 4th redraft) and the tool loop after them none of 53, at
# ~60 s a step: so redrafts get the benchmark's whole 15-step budget, and a 30-step run keeps 15 for the loop.
REDRAFTS = 14
KEEP_RECENT_STEPS = 4  # steps kept verbatim when a full context forces compaction


class Budget(BaseModel):
    """When a run stops. Steps and tokens do not depend on how loaded the machine is; seconds do."""

    max_steps: int = 30
    tokens: int | None = None
    usd: float | None = None
    seconds: float | None = None

    def exhausted(self, ledger: Ledger, steps: int) -> str | None:
        """Why the run must stop now, or None."""
        if steps >= self.max_steps:
            return f"step limit {self.max_steps} reached"
        if self.tokens is not None and ledger.tokens >= self.tokens:
            return f"token budget {self.tokens} spent ({ledger.tokens} used)"
        if self.usd is not None and ledger.cost_usd >= self.usd:
            return f"cost budget ${self.usd:g} spent (${ledger.cost_usd:.4f} used)"
        if self.seconds is not None and ledger.elapsed >= self.seconds:
            return f"time limit {self.seconds:g} s reached"
        return None


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    outcome: Outcome
    summary: str
    tests: str
    tests_passed: bool
    files_changed: list[str] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


Ending = tuple[Outcome, str, TestReport | None]  # how a run ended, why, and the check that ended it (if one did)


class Conversation:
    """The model's messages, folded from the run's events: a live run and a resumed one build the same prompt,
    and since the log is redacted, no secret reaches a prompt either."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def add(self, event: Event) -> None:
        kind = event["type"]
        if kind == "run_started":
            self.messages = [dict(m) for m in event["messages"]]
        elif kind == "model_call" and "error" not in event:
            message: Message = {"role": "assistant", "content": event["text"]}
            if event["tool_calls"] and not event.get("draft"):  # a draft is prose with code, not a tool call
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in event["tool_calls"]
                ]
            self.messages.append(message)
        elif kind == "observation" and event.get("draft"):
            self.messages.append({"role": "user", "content": render("agent.draft_applied", output=event["output"])})
        elif kind == "observation":
            self.messages.append(
                {"role": "tool", "tool_call_id": event["id"], "name": event["name"], "content": event["output"]}
            )
        elif kind == "user_message":
            self.messages.append({"role": "user", "content": event["content"]})
        elif kind == "context_compacted":
            compact(self.messages)


class Agent:
    def __init__(
        self,
        model: Model,
        body: Body,
        log: EventLog,
        budget: Budget | None = None,
        *,
        draft: bool = False,
        redrafts: int = REDRAFTS,
        temperature: float = 0.0,
        seed: int = 0,
        retry_base: float = 1.0,
        repair: bool = False,
    ) -> None:
        """``draft``: start with one free-form completion that writes whole files (see draft.py), when the body
        can be drafted, and ``redrafts`` more while the tests fail. ``temperature``: the least any call samples
        at (0: greedy); ``seed``: where this agent's per-call seeds start (``call_seed``). ``retry_base``: seconds
        before the first retry of a failed model call, doubling after each further failure. ``repair``: start
        with the repair pipeline instead (agent/repair.py), when the body is a repository's with failing tests."""
        self.model = model
        self.body = body
        self.log = log
        self.budget = budget or Budget()
        self.draft = draft
        self.redrafts = redrafts
        self.temperature, self.seed = temperature, seed
        self.retry_base = retry_base
        self.repair = repair
        self.replayed: list[ModelReply | ModelError] = []  # a resumed repair run's logged replies (agent/repair.py)
        self.ledger = Ledger()
        self.conversation = Conversation()
        self.step = 0
        self.calls = 0  # model calls made, failed ones too: each gets its own seed
        self.seen: dict[str, int] = {}  # call + result -> how often it happened
        self.stalled = False  # the last call repeated an earlier one: sample the next one hotter
        log.subscribe(self.ledger.add)
        log.subscribe(self.conversation.add)

    def run(self, goal: str, config: dict[str, Any] | None = None) -> RunResult:
        """``config``: what it takes to rebuild this agent for ``autonomo resume``, kept in the log."""
        start = self.body.reset()
        self.log.emit(
            "run_started",
            goal=goal,
            workspace=str(self.body.workspace),
            model=self.model.name,
            body=self.body.kind,
            budget=self.budget.model_dump(),
            draft=self.draft,
            config=config or {},
            snapshot=start.baseline,
            messages=[
                {"role": "system", "content": self.body.system_prompt},
                {"role": "user", "content": render("agent.first", goal=goal, observation=start.observation)},
            ],
        )
        return self._finish(start.baseline, lambda: self._draft_then_loop(goal))

    def resume(self, events: list[Event]) -> RunResult:
        """Continues a run from its log, after a crash or a kill: the conversation, the ledger and the step count
        are folded from the events; a call the model made but that never ran is run now; a call that was running
        when the run died runs again only if the body says that is harmless, else the model is told to check."""
        arguments = {e["id"]: e["arguments"] for e in events if e["type"] == "tool_call"}
        for event in events:
            self.ledger.add(event)
            self.conversation.add(event)
            self.step = max(self.step, event.get("step", 0))
            if event["type"] == "observation" and not event.get("draft"):
                self._remember(event["name"], arguments.get(event["id"], ""), event["output"])
        self.calls = self.ledger.model_calls  # the seeds go on where the run stopped
        self.log.emit("run_resumed", after_events=len(events))
        started = next(e for e in events if e["type"] == "run_started")
        if self.repair and not any(e["type"] == "model_call" and not e.get("draft") for e in events):
            return self._finish(started["snapshot"], lambda: resume_repair(self, started["goal"], events))
        return self._finish(started["snapshot"], lambda: self._resume_pending(events))

    def _finish(self, baseline: dict[str, str], work: Callable[[], Ending]) -> RunResult:
        outcome, summary, report = Outcome.BUDGET_EXHAUSTED, "", None
        try:
            outcome, summary, report = work()
        except KeyboardInterrupt:
            outcome, summary = Outcome.INTERRUPTED, "interrupted by the user (Ctrl-C)"
        if report is None and outcome != Outcome.INTERRUPTED:
            report = self._verify(final=True)
        tests = report.status() if report else "not run (interrupted)"
        changed = self.body.changed(baseline)
        totals = self.ledger.totals()
        passed = bool(report and report.passed)
        self.log.emit(
            "run_finished",
            outcome=outcome,
            summary=summary,
            tests=tests,
            tests_passed=passed,
            files_changed=changed,
            totals=totals,
        )
        return RunResult(self.log.run_id, self.log.run_dir, outcome, summary, tests, passed, changed, totals)

    def _complete(self, messages: list[Message], hot: bool, **kwargs: Any) -> ModelReply:
        """One model call, sampled at the agent's temperature (or hotter, when ``hot``) with a seed of its own."""
        self.calls += 1
        temperature = max(self.temperature, EXPLORE_TEMPERATURE if hot else 0.0)
        return self.model.complete(messages, temperature=temperature, seed=call_seed(self.seed, self.calls), **kwargs)

    def _draft_then_loop(self, goal: str) -> Ending:
        if self.repair:
            ending = repair(self, goal)
            if ending is not None:
                return ending
        draftable = self.body.draftable() if self.draft else None
        if draftable is not None:
            try:
                report = self._drafts(goal, draftable)
                if report is not None and report.passed:  # verified: a finish call would only cost a model call
                    self._verify(final=False, report=report)
                    return Outcome.COMPLETED, "a draft passed the tests", report
            except ModelError as exc:  # the loop retries, with backoff; drafts are an extra
                self.log.emit("model_call", step=self.step, draft=True, error=str(exc))
        return self._loop()

    def _drafts(self, goal: str, draftable: Draftable) -> TestReport | None:
        """The draft, then redrafts while it fails its tests (see draft.py). Returns the last tests' result, or
        None when there are no tests to say whether a draft works."""
        report, note = None, ""
        for n in range(1 + self.redrafts):
            if n and self.budget.exhausted(self.ledger, self.step):
                break  # the loop stops the run, with the reason
            report, note = self._draft(goal, draftable, note, hot=n > 0)  # greedy, it would write the same again
            if report is None or report.passed:
                break
        return report

    def _resume_pending(self, events: list[Event]) -> Ending:
        calls = [e for e in events if e["type"] == "model_call" and "error" not in e]
        if calls:
            last = calls[-1]
            started = {e["id"] for e in events if e["type"] == "tool_call" and e["seq"] > last["seq"]}
            done = {e["id"] for e in events if e["type"] == "observation" and e["seq"] > last["seq"]}
            pending = [c for c in last["tool_calls"] if c["id"] not in done]
            safe = self.body.rerun_safe
            for c in pending:
                if c["id"] in started and c["name"] not in safe:
                    self.log.emit(
                        "observation",
                        step=last["step"],
                        id=c["id"],
                        name=c["name"],
                        ok=False,
                        output=render("agent.interrupted_call"),
                        **({"draft": True} if last.get("draft") else {}),
                    )
            todo = [c for c in pending if c["id"] not in started or c["name"] in safe]
            if todo:
                specs = self.body.specs
                parsed = [parse_arguments(c["id"], c["name"], c["arguments"], specs) for c in todo]
                finished = self._run_calls(last["step"], parsed, draft=bool(last.get("draft")))
                if finished:
                    return finished
        return self._loop()

    def _draft(self, goal: str, draftable: Draftable, note: str, hot: bool) -> tuple[TestReport | None, str]:
        """One free-form completion whose code blocks are written through the body's write tool (see draft.py);
        a redraft when ``note`` says what went wrong with an earlier one. Returns the tests' result after the
        writes (None when there are no tests) and, when they fail, the note for a redraft. A failed model call
        raises ModelError."""
        self.step += 1
        redact = self.log.redact  # this prompt is not folded from the (redacted) log: redact it here
        seen = replace(draftable, files={n: redact(t) for n, t in draftable.files.items()})
        reply = self._complete(draft_messages(redact(goal), seen, note), hot, stop=stop_sequences(draftable))
        calls = [
            parse_arguments(
                f"draft_{self.step}_{i}",
                draftable.write_tool,
                json.dumps({"path": path, "content": content}),
                self.body.specs,
            )
            for i, (path, content) in enumerate(code_blocks(reply.text, draftable))
        ]
        self._emit_reply(ModelReply(reply.text, calls, reply.usage), draft=True)
        if calls:
            self._run_calls(self.step, calls, draft=True)
        else:
            self.log.emit("user_message", step=self.step, content=render("agent.draft_no_code"))
        report = self.body.test()
        if report.command is None:
            return None, ""
        if not calls:
            return report, NO_CODE
        self.log.emit("user_message", step=self.step, content=tests_note(report).lstrip())
        return report, "" if report.passed else failure_note(redact(report.output))

    def _loop(self) -> Ending:
        specs = self.body.specs
        failures = 0  # model calls failed in a row
        while True:
            reason = self.budget.exhausted(self.ledger, self.step)
            if reason:
                self.log.emit("budget_stop", reason=reason)
                return Outcome.BUDGET_EXHAUSTED, reason, None
            start = time.monotonic()
            try:
                reply = self._complete(self.conversation.messages, self.stalled, tools=specs)
            except ContextOverflow as exc:
                self.log.emit("model_call", step=self.step + 1, error=str(exc), seconds=seconds_since(start))
                if not compact(list(self.conversation.messages)):  # on a copy: the event does it for real
                    return Outcome.CONTEXT_EXHAUSTED, str(exc), None
                self.log.emit("context_compacted", step=self.step + 1)
                continue
            except ModelError as exc:
                failures += 1
                wait = self.backoff(exc, failures)
                self.log.emit(
                    "model_call",
                    step=self.step + 1,
                    error=str(exc),
                    retryable=exc.retryable,
                    seconds=seconds_since(start),
                    **({"retry_in": wait} if wait is not None else {}),
                )
                if wait is None:
                    tries = f"{failures} time{'s' if failures > 1 else ''} in a row"
                    return Outcome.MODEL_ERROR, f"model call failed {tries}: {exc}", None
                time.sleep(wait)
                continue
            failures = 0
            self.step += 1
            self._emit_reply(reply)
            if not reply.tool_calls:
                self.log.emit("user_message", step=self.step, content=render("agent.reply_with_tool_call"))
                continue
            finished = self._run_calls(self.step, reply.tool_calls)
            if finished:
                return finished

    def backoff(self, exc: ModelError, failures: int) -> float | None:
        """Seconds to wait before calling again, or None to give up: exponential from ``retry_base``, or what
        the provider asked for (capped)."""
        if not exc.retryable or failures >= MAX_MODEL_ATTEMPTS:
            return None
        if exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_WAIT)
        return min(self.retry_base * 2 ** (failures - 1), MAX_RETRY_WAIT)

    def _emit_reply(self, reply: ModelReply, draft: bool = False) -> None:
        self.log.emit(
            "model_call",
            step=self.step,
            text=reply.text,
            tool_calls=[{"id": c.id, "name": c.name, "arguments": c.raw_arguments} for c in reply.tool_calls],
            **({"draft": True} if draft else {}),
            **usage_fields(reply.usage),
        )

    def _run_calls(self, step: int, calls: list[ToolCall], draft: bool = False) -> Ending | None:
        """Runs a reply's tool calls, each logged before and after; returns the run's end when one ends it."""
        for call in calls:
            self.log.emit("tool_call", step=step, id=call.id, name=call.name, arguments=call.raw_arguments)
            t0 = time.monotonic()
            observation, finished = self._act(call, tests_after=not draft)
            repeats = 0 if draft else self._remember(call.name, call.raw_arguments, observation.output)
            self.stalled = repeats > 1
            if self.stalled and not finished:
                observation.output += REPEAT_NOTE
            self.log.emit(
                "observation",
                step=step,
                id=call.id,
                name=call.name,
                ok=observation.ok,
                output=observation.output,
                seconds=round(time.monotonic() - t0, 3),
                **({"draft": True} if draft else {}),
            )
            if finished is not None:
                return Outcome.COMPLETED, str((call.arguments or {}).get("summary", "")), finished
            if repeats >= MAX_REPEATS:
                return Outcome.STUCK, f"the same {call.name} call with the same result {repeats} times", None
        return None

    def _remember(self, name: str, arguments: str, output: str) -> int:
        key = f"{name}:{arguments}\n{output.split(REPEAT_NOTE)[0]}"
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key]

    def _act(self, call: ToolCall, tests_after: bool = True) -> tuple[Observation, TestReport | None]:
        """Runs one tool call. The report is set only when a finish was accepted."""
        if call.error:
            return Observation(False, render("agent.invalid_call", error=call.error)), None
        if call.name != FINISH:
            observation = self.body.call(call.name, call.arguments or {})
            if call.name in self.body.write_tools and observation.ok and tests_after:
                observation.output += self._tests_after_write()
            return observation, None
        report = self._verify(final=False)
        if report.passed:
            return Observation(True, render("agent.finished", status=report.status())), report
        return Observation(False, render("agent.cannot_finish", output=report.output)), None

    def _tests_after_write(self) -> str:
        """The test result after each change, so the model sees at once whether its change worked instead of
        having to remember to check (small models often do not)."""
        report = self.body.test()
        return tests_note(report) if report.command is not None else ""

    def _verify(self, final: bool, report: TestReport | None = None) -> TestReport:
        """Logs the check of the goal: ``report``, or the tests run now."""
        report = report or self.body.test()
        self.log.emit(
            "verification",
            final=final,
            command=report.command,
            passed=report.passed,
            exit_code=report.exit_code,
            summary=report.summary,
        )
        return report


def tests_note(report: TestReport) -> str:
    if report.passed:
        return "\n" + render("agent.tests_passed", status=report.status())
    return "\n" + render("agent.tests_failed", status=report.status(), output=report.output)


def seconds_since(start: float) -> float:
    return round(time.monotonic() - start, 3)


def usage_fields(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "prompt_tokens_evaluated": u.prompt_tokens_evaluated,
        "seconds": round(u.seconds, 3),
        "cost_usd": u.cost_usd,
    }


def compact(messages: list[Message]) -> bool:
    """Drops the oldest whole steps (an assistant turn and its observations) so the context fits again.
    Returns False when nothing is left to drop."""
    head, body = messages[:2], messages[2:]
    starts = [i for i, m in enumerate(body) if m["role"] == "assistant"]
    if len(starts) <= KEEP_RECENT_STEPS:
        return False
    cut = starts[-KEEP_RECENT_STEPS]
    note = {"role": "user", "content": render("agent.steps_omitted", count=len([s for s in starts if s < cut]))}
    messages[:] = head + [note] + body[cut:]
    return True
