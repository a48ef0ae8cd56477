"""The agent loop: plan, act through tools, verify, repeat until the goal is met or the budget is spent."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonomo.agent.draft import NO_CODE, code_blocks, draft_messages, editable_files, failure_note, stop_sequences
from autonomo.body import FINISH, Body, Observation, TestReport
from autonomo.computer.tools import SKIP_DIRS
from autonomo.events import Event, EventLog, Ledger
from autonomo.models.base import (
    ContextOverflow,
    Message,
    Model,
    ModelError,
    ModelReply,
    ToolCall,
    Usage,
    parse_arguments,
)

SYSTEM_PROMPT = """You are autonomo, an autonomous software engineer working alone in a workspace folder.
No human will answer questions: decide for yourself and act.
Work in small steps: look at the files, write the code, run the tests, fix what fails.
Every reply is exactly one tool call. Paths are relative to the workspace.
To change a small file, rewrite it whole with create; use edit for one small change in a big file.
If the workspace has no tests for your code, write pytest tests (files named test_*.py).
Call finish only after run_tests passes; finishing with failing tests is refused."""

MAX_MODEL_ATTEMPTS = 5  # failed model calls in a row before the run ends with model_error
MAX_RETRY_WAIT = 60.0
WRITE_TOOLS = ("create", "edit")
# Calls that may run again when a run died while they ran: the same effect twice is the effect once.
RERUN_SAFE = ("view", "create", "run_tests", FINISH)
MAX_REPEATS = 3  # the same call with the same result this often: a greedy model is going round in circles
# After a repeated call the next one is sampled at least this hot: a greedy model that repeated itself once will
# repeat itself again (measured: the same no-op edit three times in a row on Exercism's bob and isogram).
EXPLORE_TEMPERATURE = 0.7
REPEAT_NOTE = "\n[You made this exact call before, with this result. Try something else.]"
# Drafts after the first, while the tests fail (see draft.py); about 14 s each on Exercism. On the embedded model
# redrafts rescued 4 of 23 failed drafts (at the 1st to 4th redraft) and the tool loop after them none of 53, at
# ~60 s a step: so redrafts get the benchmark's whole 15-step budget, and a 30-step run keeps 15 for the loop.
REDRAFTS = 14
SHOWN_CHARS = 16_000  # file contents put in the first message
KEEP_RECENT_STEPS = 4  # steps kept verbatim when a full context forces compaction


@dataclass
class Budget:
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
    outcome: str  # completed | budget_exhausted | stuck | model_error | context_exhausted | interrupted
    summary: str
    tests: str
    tests_passed: bool
    files_changed: list[str] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


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
            self.messages.append({"role": "user", "content": f"Draft applied: {event['output']}"})
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
        tools: Body,
        log: EventLog,
        budget: Budget | None = None,
        draft: bool = False,
        retry_base: float = 1.0,
        redrafts: int = REDRAFTS,
        system: str = SYSTEM_PROMPT,
        show_files: bool = True,
    ) -> None:
        """``draft``: start with one free-form completion that writes whole files (see draft.py), when the model
        can chat and the whole workspace fits in the prompt, and ``redrafts`` more while the tests fail.
        ``retry_base``: seconds before the first retry of a failed model call, doubling after each further
        failure. ``system`` and ``show_files`` (list the workspace in the first message) fit the prompt to the
        body: a robot's workspace holds only its recording."""
        self.model = model
        self.tools = tools
        self.log = log
        self.budget = budget or Budget()
        self.draft = draft
        self.redrafts = redrafts
        self.system, self.show_files = system, show_files
        self.retry_base = retry_base
        self.ledger = Ledger()
        self.conversation = Conversation()
        self.step = 0
        self.seen: dict[str, int] = {}  # call + result -> how often it happened
        self.stalled = False  # the last call repeated an earlier one: sample the next one hotter
        log.subscribe(self.ledger.add)
        log.subscribe(self.conversation.add)

    def run(self, goal: str, config: dict[str, Any] | None = None) -> RunResult:
        """``config``: what it takes to rebuild this agent for ``autonomo resume``, kept in the log."""
        workspace = self.tools.workspace
        before = snapshot(workspace)
        shown = shown_files(workspace, before)
        self.log.emit(
            "run_started",
            goal=goal,
            workspace=str(workspace),
            model=self.model.name,
            body=self.tools.kind,
            budget=vars(self.budget),
            draft=self.draft,
            config=config or {},
            snapshot=before,
            messages=[
                {"role": "system", "content": self.system},
                {
                    "role": "user",
                    "content": f"Goal: {goal}"
                    + (f"\n\nWorkspace files:\n{listing(before, shown)}" if self.show_files else ""),
                },
            ],
        )
        return self._finish(before, lambda: self._draft_then_loop(goal, shown, len(shown) == len(before)))

    def resume(self, events: list[Event]) -> RunResult:
        """Continues a run from its log, after a crash or a kill: the conversation, the ledger and the step count
        are folded from the events; a call the model made but that never ran is run now; a call that was running
        when the run died runs again only if that is harmless (RERUN_SAFE), else the model is told to check."""
        arguments = {e["id"]: e["arguments"] for e in events if e["type"] == "tool_call"}
        for event in events:
            self.ledger.add(event)
            self.conversation.add(event)
            self.step = max(self.step, event.get("step", 0))
            if event["type"] == "observation" and not event.get("draft"):
                self._remember(event["name"], arguments.get(event["id"], ""), event["output"])
        self.log.emit("run_resumed", after_events=len(events))
        started = next(e for e in events if e["type"] == "run_started")
        return self._finish(started["snapshot"], lambda: self._resume_pending(events))

    def _finish(self, before: dict[str, str], work) -> RunResult:
        outcome, summary, report = "budget_exhausted", "", None
        try:
            outcome, summary, report = work()
        except KeyboardInterrupt:
            outcome, summary = "interrupted", "interrupted by the user (Ctrl-C)"
        if report is None and outcome != "interrupted":
            report = self._verify(final=True)
        tests = report.status() if report else "not run (interrupted)"
        changed = changed_files(before, snapshot(self.tools.workspace))
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

    def _draft_then_loop(self, goal: str, shown: dict[str, str], fits: bool) -> tuple[str, str, TestReport | None]:
        if self.draft and fits:
            try:
                report = self._drafts(goal, shown)
                if report is not None and report.passed:  # verified: a finish call would only cost a model call
                    self._verify(final=False, report=report)
                    return "completed", "a draft passed the tests", report
            except ModelError as exc:  # the loop retries, with backoff; drafts are an extra
                self.log.emit("model_call", step=self.step, draft=True, error=str(exc))
        return self._loop()

    def _drafts(self, goal: str, shown: dict[str, str]) -> TestReport | None:
        """The draft, then redrafts while it fails its tests (see draft.py). Returns the last tests' result, or
        None when there are no tests to say whether a draft works."""
        report, note = None, ""
        for n in range(1 + self.redrafts):
            if n and self.budget.exhausted(self.ledger, self.step):
                break  # the loop stops the run, with the reason
            with hotter(self.model, EXPLORE_TEMPERATURE if n else 0.0):  # greedy, it would write the same again
                report, note = self._draft(goal, shown, note)
            if report is None or report.passed:
                break
        return report

    def _resume_pending(self, events: list[Event]) -> tuple[str, str, TestReport | None]:
        calls = [e for e in events if e["type"] == "model_call" and "error" not in e]
        if calls:
            last = calls[-1]
            started = {e["id"] for e in events if e["type"] == "tool_call" and e["seq"] > last["seq"]}
            done = {e["id"] for e in events if e["type"] == "observation" and e["seq"] > last["seq"]}
            pending = [c for c in last["tool_calls"] if c["id"] not in done]
            for c in pending:
                if c["id"] in started and c["name"] not in RERUN_SAFE:
                    self.log.emit(
                        "observation",
                        step=last["step"],
                        id=c["id"],
                        name=c["name"],
                        ok=False,
                        output="The run was stopped while this call ran, so it may have done part of its work or "
                        "all of it. It was not run again: check its effect before you repeat it.",
                        **({"draft": True} if last.get("draft") else {}),
                    )
            todo = [c for c in pending if c["id"] not in started or c["name"] in RERUN_SAFE]
            if todo:
                tools = {t.name: t for t in self.tools.specs}
                parsed = [parse_arguments(c["id"], c["name"], c["arguments"], list(tools.values())) for c in todo]
                finished = self._run_calls(last["step"], parsed, draft=bool(last.get("draft")))
                if finished:
                    return finished
        return self._loop()

    def _draft(self, goal: str, files: dict[str, str], note: str = "") -> tuple[TestReport | None, str]:
        """One free-form completion whose code blocks are written as create calls (see draft.py); a redraft when
        ``note`` says what went wrong with an earlier one. Returns the tests' result after the writes (None when
        there are no tests) and, when they fail, the note for a redraft. A failed model call raises ModelError."""
        chat = getattr(self.model, "chat", None)
        if chat is None:
            return None, ""
        protected = sorted(self.tools.rel(p) for p in self.tools.protected)
        editable = editable_files(list(files), protected)
        # Naming the files to change keeps the model from copying out the ones that stay (tests, above all).
        wanted = ", ".join(editable) if editable else "each file you create"
        self.step += 1
        redact = self.log.redact  # this prompt is not folded from the (redacted) log: redact it here
        messages = draft_messages(redact(goal), {n: redact(t) for n, t in files.items()}, wanted, note)
        text, usage = chat(messages, stop_sequences(list(files), editable))
        # A block for a file that is there but not to be changed (the tests) is a copy, not a change: dropped.
        blocks = [(path, code) for path, code in code_blocks(text, editable) if path in editable or path not in files]
        calls = [
            parse_arguments(
                f"draft_{self.step}_{i}", "create", json.dumps({"path": path, "content": content}), self.tools.specs
            )
            for i, (path, content) in enumerate(blocks)
        ]
        self._emit_reply(ModelReply(text, calls, usage), draft=True)
        if calls:
            self._run_calls(self.step, calls, draft=True)
        else:
            self.log.emit("user_message", step=self.step, content="No file was written: the reply had no code block.")
        report = self.tools.test()
        if report.command is None:
            return None, ""
        if not calls:
            return report, NO_CODE
        self.log.emit("user_message", step=self.step, content=tests_note(report).lstrip())
        return report, "" if report.passed else failure_note(redact(report.output))

    def _loop(self) -> tuple[str, str, TestReport | None]:
        specs = self.tools.specs
        failures = 0  # model calls failed in a row
        while True:
            reason = self.budget.exhausted(self.ledger, self.step)
            if reason:
                self.log.emit("budget_stop", reason=reason)
                return "budget_exhausted", reason, None
            start = time.monotonic()
            try:
                with hotter(self.model, EXPLORE_TEMPERATURE if self.stalled else 0.0):
                    reply = self.model.complete(self.conversation.messages, specs)
            except ContextOverflow as exc:
                self.log.emit("model_call", step=self.step + 1, error=str(exc), seconds=seconds_since(start))
                if not compact(list(self.conversation.messages)):  # on a copy: the event does it for real
                    return "context_exhausted", str(exc), None
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
                    return "model_error", f"model call failed {tries}: {exc}", None
                time.sleep(wait)
                continue
            failures = 0
            self.step += 1
            self._emit_reply(reply)
            if not reply.tool_calls:
                self.log.emit("user_message", step=self.step, content="Reply with one tool call.")
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

    def _run_calls(
        self, step: int, calls: list[ToolCall], draft: bool = False
    ) -> tuple[str, str, TestReport | None] | None:
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
                return "completed", str((call.arguments or {}).get("summary", "")), finished
            if repeats >= MAX_REPEATS:
                return "stuck", f"the same {call.name} call with the same result {repeats} times", None
        return None

    def _remember(self, name: str, arguments: str, output: str) -> int:
        key = f"{name}:{arguments}\n{output.split(REPEAT_NOTE)[0]}"
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key]

    def _act(self, call: ToolCall, tests_after: bool = True) -> tuple[Observation, TestReport | None]:
        """Runs one tool call. The report is set only when a finish was accepted."""
        if call.error:
            return Observation(False, f"Invalid tool call: {call.error}. Reply with a valid call."), None
        if call.name != FINISH:
            observation = self.tools.call(call.name, call.arguments or {})
            if call.name in WRITE_TOOLS and observation.ok and tests_after:
                observation.output += self._tests_after_write()
            return observation, None
        report = self._verify(final=False)
        if report.passed:
            return Observation(True, f"Finished. Tests: {report.status()}"), report
        return Observation(False, f"Cannot finish: tests fail.\n{report.output}"), None

    def _tests_after_write(self) -> str:
        """The test result after each change, so the model sees at once whether its change worked instead of
        having to remember to check (small models often do not)."""
        report = self.tools.test()
        return tests_note(report) if report.command is not None else ""

    def _verify(self, final: bool, report: TestReport | None = None) -> TestReport:
        """Logs the check of the goal: ``report``, or the tests run now."""
        report = report or self.tools.test()
        self.log.emit(
            "verification",
            final=final,
            command=report.command,
            passed=report.passed,
            exit_code=report.exit_code,
            summary=report.summary,
        )
        return report


@contextmanager
def hotter(model: Model, temperature: float) -> Iterator[None]:
    """Samples the calls in this block at ``temperature`` at least, when the model has a temperature to set."""
    before = getattr(model, "temperature", None)
    if before is None or before >= temperature:
        yield
        return
    model.temperature = temperature  # type: ignore[attr-defined]
    try:
        yield
    finally:
        model.temperature = before  # type: ignore[attr-defined]


def tests_note(report: TestReport) -> str:
    if report.passed:
        return f"\nTests now: {report.status()}. Call finish if the goal is met."
    return f"\nTests now: {report.status()}\n{report.output}"


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
    note = {"role": "user", "content": f"[{len([s for s in starts if s < cut])} earlier steps omitted]"}
    messages[:] = head + [note] + body[cut:]
    return True


def snapshot(root: Path) -> dict[str, str]:
    """Content hash of every file in the workspace, to report what a run changed."""
    files = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not SKIP_DIRS.intersection(rel.parts):
            files[str(rel)] = hashlib.sha1(path.read_bytes()).hexdigest()
    return files


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def shown_files(root: Path, files: dict[str, str], limit: int = 50, budget: int = SHOWN_CHARS) -> dict[str, str]:
    """The small text files the agent is shown in full at the start (so it starts from what is there, rather
    than guessing at contents), within a character budget."""
    shown = {}
    for name in sorted(files)[:limit]:
        text = (root / name).read_bytes().decode("utf-8", errors="replace")
        if len(text) <= budget and "\x00" not in text:
            budget -= len(text)
            shown[name] = text
    return shown


def listing(files: dict[str, str], shown: dict[str, str], limit: int = 50) -> str:
    """The workspace as the agent first sees it: the shown files in full, the rest by name."""
    names = sorted(files)
    parts = [
        f"--- {n}\n{shown[n].rstrip()}\n--- end of {n}" if n in shown else f"--- {n} (use view to read it)"
        for n in names[:limit]
    ]
    text = "\n".join(parts) or "(empty)"
    return text + (f"\n... and {len(names) - limit} more files" if len(names) > limit else "")
