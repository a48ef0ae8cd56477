"""The agent loop: plan, act through tools, verify, repeat until the goal is met or the budget is spent."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonomo.agent.draft import code_blocks, draft_messages
from autonomo.computer.tools import FINISH, SKIP_DIRS, TEST_FILE, ComputerTools, Observation, TestReport
from autonomo.events import EventLog, Ledger
from autonomo.models.base import ContextOverflow, Message, Model, ModelError, ToolCall, Usage

SYSTEM_PROMPT = """You are autonomo, an autonomous software engineer working alone in a workspace folder.
No human will answer questions: decide for yourself and act.
Work in small steps: look at the files, write the code, run the tests, fix what fails.
Every reply is exactly one tool call. Paths are relative to the workspace.
To change a small file, rewrite it whole with create; use edit for one small change in a big file.
If the workspace has no tests for your code, write pytest tests (files named test_*.py).
Call finish only after run_tests passes; finishing with failing tests is refused."""

MAX_CONSECUTIVE_MODEL_ERRORS = 3
WRITE_TOOLS = ("create", "edit")
MAX_REPEATS = 3  # the same call with the same result this often: a greedy model is going round in circles
SHOWN_CHARS = 16_000  # file contents put in the first message
KEEP_RECENT_STEPS = 4  # steps kept verbatim when a full context forces compaction


@dataclass
class Budget:
    max_steps: int = 30
    tokens: int | None = None
    usd: float | None = None
    seconds: float | None = None

    def exhausted(self, ledger: Ledger, steps: int, elapsed: float) -> str | None:
        """Why the run must stop now, or None."""
        if steps >= self.max_steps:
            return f"step limit {self.max_steps} reached"
        if self.tokens is not None and ledger.tokens >= self.tokens:
            return f"token budget {self.tokens} spent ({ledger.tokens} used)"
        if self.usd is not None and ledger.cost_usd >= self.usd:
            return f"cost budget ${self.usd:g} spent (${ledger.cost_usd:.4f} used)"
        if self.seconds is not None and elapsed >= self.seconds:
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


class Agent:
    def __init__(
        self, model: Model, tools: ComputerTools, log: EventLog, budget: Budget | None = None, draft: bool = False
    ) -> None:
        """``draft``: start with one free-form completion that writes whole files (see draft.py), when the model
        can chat and the whole workspace fits in the prompt."""
        self.model = model
        self.tools = tools
        self.log = log
        self.budget = budget or Budget()
        self.draft = draft
        self.ledger = Ledger()
        log.subscribe(self.ledger.add)

    def run(self, goal: str) -> RunResult:
        workspace = self.tools.workspace
        before = snapshot(workspace)
        self.log.emit(
            "run_started",
            goal=goal,
            workspace=str(workspace),
            model=self.model.name,
            sandbox=self.tools.sandbox.kind,
            budget=vars(self.budget),
            draft=self.draft,
        )
        shown = shown_files(workspace, before)
        messages: list[Message] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Goal: {goal}\n\nWorkspace files:\n{listing(before, shown)}"},
        ]
        start = time.monotonic()
        outcome, summary, report = "budget_exhausted", "", None
        try:
            step = self._draft(goal, shown, messages) if self.draft and len(shown) == len(before) else 0
            outcome, summary, report = self._loop(messages, start, step)
        except KeyboardInterrupt:
            outcome, summary = "interrupted", "interrupted by the user (Ctrl-C)"
        if report is None and outcome != "interrupted":
            report = self._verify(final=True)
        tests = report.status() if report else "not run (interrupted)"
        changed = changed_files(before, snapshot(workspace))
        totals = self.ledger.totals()
        self.log.emit(
            "run_finished",
            outcome=outcome,
            summary=summary,
            tests=tests,
            tests_passed=bool(report and report.passed),
            files_changed=changed,
            totals=totals,
        )
        return RunResult(
            run_id=self.log.run_id,
            run_dir=self.log.run_dir,
            outcome=outcome,
            summary=summary,
            tests=tests,
            tests_passed=bool(report and report.passed),
            files_changed=changed,
            totals=totals,
        )

    def _draft(self, goal: str, files: dict[str, str], messages: list[Message]) -> int:
        """Writes the model's free-form draft into the workspace and appends it, with the test result, to the
        conversation. Returns the steps used: 1, or 0 when the model cannot chat."""
        chat = getattr(self.model, "chat", None)
        if chat is None:
            return 0
        protected = sorted(self.tools.rel(p) for p in self.tools.protected)
        editable = [n for n in files if n not in protected and not TEST_FILE.match(Path(n).name)]
        # Naming the files to change keeps the model from copying out the ones that stay (tests, above all).
        wanted = ", ".join(editable) if editable else "each file you create"
        try:
            text, usage = chat(draft_messages(goal, files, wanted))
        except ModelError as exc:
            self.log.emit("model_call", step=1, draft=True, error=str(exc))
            return 1
        self.log.emit("model_call", step=1, draft=True, text=text, tool_calls=[], **usage_fields(usage))
        results = []
        for i, (path, content) in enumerate(code_blocks(text, editable[0] if len(editable) == 1 else None)):
            arguments = {"path": path, "content": content}
            self.log.emit("tool_call", step=1, id=f"draft_{i}", name="create", arguments=json.dumps(arguments))
            observation = self.tools.call("create", arguments)
            self.log.emit(
                "observation", step=1, id=f"draft_{i}", name="create", ok=observation.ok, output=observation.output
            )
            results.append(observation.output)
        written = "\n".join(results) or "No file was written: the reply had no fenced code block."
        messages.append({"role": "assistant", "content": text})
        messages.append({"role": "user", "content": f"Draft applied.\n{written}{self._tests_after_write()}"})
        return 1

    def _loop(self, messages: list[Message], start: float, step: int) -> tuple[str, str, TestReport | None]:
        specs = self.tools.specs
        errors_in_a_row = 0
        seen: dict[str, int] = {}  # call + result -> how often it happened
        while True:
            reason = self.budget.exhausted(self.ledger, step, time.monotonic() - start)
            if reason:
                self.log.emit("budget_stop", reason=reason)
                return "budget_exhausted", reason, None
            step += 1
            try:
                reply = self.model.complete(messages, specs)
            except ContextOverflow as exc:
                self.log.emit("model_call", step=step, error=str(exc))
                if not compact(messages):
                    return "context_exhausted", str(exc), None
                self.log.emit("context_compacted", step=step, messages=len(messages))
                continue
            except ModelError as exc:
                self.log.emit("model_call", step=step, error=str(exc))
                errors_in_a_row += 1
                if errors_in_a_row >= MAX_CONSECUTIVE_MODEL_ERRORS:
                    return "model_error", f"model failed {errors_in_a_row} times in a row: {exc}", None
                continue
            errors_in_a_row = 0
            self.log.emit(
                "model_call",
                step=step,
                text=reply.text,
                tool_calls=[{"name": c.name, "arguments": c.raw_arguments} for c in reply.tool_calls],
                **usage_fields(reply.usage),
            )
            messages.append(reply.to_message())
            if not reply.tool_calls:
                messages.append({"role": "user", "content": "Reply with one tool call."})
                continue
            for call in reply.tool_calls:
                self.log.emit("tool_call", step=step, id=call.id, name=call.name, arguments=call.raw_arguments)
                t0 = time.monotonic()
                observation, finished = self._act(call)
                key = f"{call.name}:{call.raw_arguments}\n{observation.output}"
                seen[key] = repeats = seen.get(key, 0) + 1
                if repeats > 1 and not finished:
                    observation.output += "\n[You made this exact call before, with this result. Try something else.]"
                self.log.emit(
                    "observation",
                    step=step,
                    id=call.id,
                    name=call.name,
                    ok=observation.ok,
                    output=observation.output,
                    seconds=round(time.monotonic() - t0, 3),
                )
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "name": call.name,
                        "content": observation.output,
                    }
                )
                if finished is not None:
                    return "completed", str((call.arguments or {}).get("summary", "")), finished
                if repeats >= MAX_REPEATS:
                    return "stuck", f"the same {call.name} call with the same result {repeats} times", None

    def _act(self, call: ToolCall) -> tuple[Observation, TestReport | None]:
        """Runs one tool call. The report is set only when a finish was accepted."""
        if call.error:
            return Observation(False, f"Invalid tool call: {call.error}. Reply with a valid call."), None
        if call.name != FINISH:
            observation = self.tools.call(call.name, call.arguments or {})
            if call.name in WRITE_TOOLS and observation.ok:
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
        if report.command is None:
            return ""
        if report.passed:
            return f"\nTests now: {report.status()}. Call finish if the goal is met."
        return f"\nTests now: {report.status()}\n{report.output}"

    def _verify(self, final: bool) -> TestReport:
        report = self.tools.test()
        self.log.emit(
            "verification",
            final=final,
            command=report.command,
            passed=report.passed,
            exit_code=report.exit_code,
            summary=report.summary,
        )
        return report


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
