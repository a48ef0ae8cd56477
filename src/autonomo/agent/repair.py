"""The repair pipeline: from failing tests to a verified patch along a fixed path, for models too small to drive a
tool loop through a repository.

Small models do far better in fixed pipelines than in free agent loops (Agentless: localize, sample many candidate
edits, keep those the tests accept; 7B models reach 16-25% of SWE-bench Lite that way, against single digits in
loops), and our own embedded model converted none of 55 failures in its tool loop on Exercism. So here the model
does the one thing it can: rewrite one function it is shown. The rest is done without it: the tests at the start
say what fails (repo/testing.py), localization ranks the functions those tests ran (repo/localize.py), and each
rewrite is written through the body's edit tool, checked against the failing tests, then against the whole
suite, and undone when it fails. Samples of one prompt are asked for together, so the local engine evaluates the
prompt once and decodes them in one batch; duplicates (the same code up to formatting) are tested once.
"""

from __future__ import annotations

import ast
import json
import textwrap
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from autonomo.agent.draft import BLOCK
from autonomo.events import Outcome
from autonomo.models.base import Message, ModelError, ModelReply, ToolCall, Usage, call_seed, parse_arguments
from autonomo.models.scripted import ScriptedModel
from autonomo.prompts import render
from autonomo.repo.checkout import git
from autonomo.repo.localize import Candidate, Function, function_source, localize, source_of_test
from autonomo.repo.testing import shown

if TYPE_CHECKING:
    from autonomo.agent.loop import Agent, Ending

SAMPLES = 4  # rewrites asked for together (a wave): the engine's default sequence count
# Which suspect each wave is for, in order: the best one twice (a greedy sample and 7 hot ones), the next four once
# (a greedy sample and 3 hot ones each).
# Breadth pays: on a trial of 6 tinydb bugs, the faulty function ranked 1st in 4 and 3rd or 4th in the other two
# (LRUCache.set, run by most passing tests, so its Ochiai score is low); the two fixed at rank 1 took the 4th and
# the 8th sample.
SCHEDULE = (0, 0, 1, 2, 3, 4)
HOT = 0.8  # temperature of the samples after the greedy one
OUTPUT_CHARS = 2_000  # of the failing tests' output shown
MAX_TOKENS = 1_024  # a rewrite is one function
REPRODUCTION = "test_autonomo_reproduction.py"  # at the repository's root, where `python -m pytest` imports from
OWN_MISTAKES = ("E   NameError", "E   ImportError", "E   ModuleNotFoundError", "SyntaxError", "fixture '")


def repair(agent: Agent, goal: str) -> Ending | None:
    """Runs the pipeline; None when there is nothing for it to start from (no failing test, and none of the
    reproduction tests the model wrote fails), so the caller goes on as it otherwise would."""
    suite = agent.body.suite  # type: ignore[attr-defined]  # only a repository's body has one (make_agent)
    report = agent._verify(final=False)
    failing = suite.last.failing if suite.last else []
    output = report.output
    root = agent.body.workspace
    if not failing:  # an issue, no failing test: one is written first
        found = reproduce(agent, goal, localize(root, suite.sandbox, suite.command, goal, [])[:1])
        if found is None:
            return None
        failing, output = found
    suspects = localize(root, suite.sandbox, suite.command, goal, failing, output)
    agent.log.emit(
        "localized",
        failing=failing,
        suspects=[
            {"file": c.function.file, "function": c.function.name, "lines": [c.function.start, c.function.end],
             "score": c.score, "why": c.why}
            for c in suspects
        ],
    )  # fmt: skip
    if not suspects:
        return Outcome.STUCK, "no function of the repository is run by the failing tests", None
    context = {"issue": goal, "test": source_of_test(root, failing[0]), "output": shown(output, OUTPUT_CHARS)}
    waves = [i for i in SCHEDULE if i < len(suspects)]
    seen: dict[int, set[str | None]] = {}
    for i in waves:
        first = i not in seen
        ending = wave(agent, suspects[i], context, failing, seen.setdefault(i, set()), greedy=first)
        if ending is not None:
            return ending
    return Outcome.STUCK, f"no rewrite of the {len(seen)} most suspect functions passed the tests", None


def wave(agent: Agent, suspect: Candidate, context: dict[str, str], failing: list[str], seen: set[str | None],
         greedy: bool) -> Ending | None:  # fmt: skip
    """SAMPLES rewrites of one suspect, each new one written, checked and undone when it fails. ``seen``: the
    suspect's versions tried already, its own among them; ``greedy``: the first sample is at temperature 0."""
    reason = agent.budget.exhausted(agent.ledger, agent.step)
    if reason:
        agent.log.emit("budget_stop", reason=reason)
        return Outcome.BUDGET_EXHAUSTED, reason, None
    root = agent.body.workspace
    f = suspect.function
    original = function_source(root, f)
    seen.add(normalized(original))
    messages = repair_messages(context["issue"], f, original, context["test"], context["output"])

    def propose(text: str, step: int) -> tuple[ToolCall, str] | None:
        code = rewrite(text, f.short, original)
        key = normalized(code) if code else None
        if not code or key is None or key in seen:
            return None
        seen.add(key)
        edit = {"path": f.file, "old": original, "new": code}
        return parse_arguments(f"repair_{step}", "edit", json.dumps(edit), agent.body.specs), code

    written = take(agent, messages, greedy, propose)
    for step, call, code in written:
        agent._run_calls(step, [call], draft=True)
        if code not in (root / f.file).read_text(encoding="utf-8", errors="replace"):
            continue  # the edit was refused (its old text is no longer unique, say): nothing to check or undo
        ending = check(agent, step, failing, f"{f.name} in {f.file}")
        if ending is not None:
            return ending
        undo = parse_arguments(f"undo_{step}", "edit", json.dumps({"path": f.file, "old": code, "new": original}),
                               agent.body.specs)  # fmt: skip
        agent._run_calls(step, [undo], draft=True)
    return None


def reproduce(agent: Agent, goal: str, hint: list[Candidate]) -> tuple[list[str], str] | None:
    """One wave of tests written to reproduce the issue (Agentless's reproduction tests), shown the most likely
    function for its names and imports. The first that fails as things are, for a reason other than its own
    mistakes, stays in the workspace as REPRODUCTION (so it becomes part of the patch, a regression test to
    review); the others are removed. Returns its failing tests and their output, or None."""
    suite = agent.body.suite  # type: ignore[attr-defined]
    root = agent.body.workspace
    function = ""
    if hint:
        f = hint[0].function
        function = render("repair.reproduce_hint", file=f.file, function=textwrap.dedent(function_source(root, f)))
    request = render("repair.reproduce", issue=goal, hint=function, file=REPRODUCTION)
    messages: list[Message] = [{"role": "system", "content": render("repair.system")},
                               {"role": "user", "content": request}]  # fmt: skip
    seen: set[str] = set()

    def propose(text: str, step: int) -> tuple[ToolCall, str] | None:
        code = test_module(text)
        key = normalized(code) if code is not None else None
        if key is None or key in seen:
            return None
        seen.add(key)
        create = {"path": REPRODUCTION, "content": code}
        return parse_arguments(f"reproduce_{step}", "create", json.dumps(create), agent.body.specs), code

    written = take(agent, messages, True, propose)
    for step, call, _ in written:
        agent._run_calls(step, [call], draft=True)
        comparison, run = suite.check([REPRODUCTION])
        failing = [t for t in comparison.failing if t.startswith(REPRODUCTION + "::")]
        reproduces = bool(failing) and not own_mistake(run.output)
        agent.log.emit("candidate_checked", step=step, target=REPRODUCTION, passed=reproduces,
                       summary=f"{len(failing)} of its tests fail as things are")  # fmt: skip
        if reproduces:
            return failing, run.output
    if written:
        remove = parse_arguments("reproduce_rm", "shell", json.dumps({"command": f"rm -f {REPRODUCTION}"}),
                                 agent.body.specs)  # fmt: skip
        agent._run_calls(agent.step, [remove], draft=True)
    return None


def take(agent: Agent, messages: list[Message], greedy: bool,
         propose: Callable[[str, int], tuple[ToolCall, str] | None]) -> list[tuple[int, ToolCall, str]]:  # fmt: skip
    """One wave: its replies, each logged (a resumed run's are in the log already) with the call ``propose`` makes
    of it, if any. Every reply is logged before any is tried: a wave's tokens are spent whichever of them passes.
    Returns the calls with their steps and code, in order."""
    replies, fresh = samples(agent, messages, greedy)
    written = []
    for reply in replies:
        agent.step += 1
        if isinstance(reply, ModelError):
            if fresh:
                agent.log.emit("model_call", step=agent.step, draft=True, error=str(reply))
            continue
        proposal = propose(reply.text, agent.step)
        if proposal is not None:
            written.append((agent.step, *proposal))
        if fresh:
            calls = [proposal[0]] if proposal else []
            agent._emit_reply(ModelReply(reply.text, calls, reply.usage), draft=True)
    return written


def test_module(reply: str) -> str | None:
    """The reply's code block that parses and defines a test function, or None."""
    for _, code in BLOCK.findall(reply):
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        if any(isinstance(n, ast.FunctionDef) and n.name.startswith("test") for n in ast.walk(tree)):
            return code
    return None


def own_mistake(output: str) -> bool:
    """A reproduction test that fails because it is broken itself (a bad import or name, a missing fixture)
    reproduces nothing."""
    return any(sign in output for sign in OWN_MISTAKES)


def repair_messages(issue: str, function: Function, original: str, test: str, output: str) -> list[Message]:
    """The prompt that asks for one function rewritten: the issue, a failing test and how it fails, the function."""
    request = render("repair.request", issue=issue, test=test, output=output, file=function.file,
                     function=textwrap.dedent(original))  # fmt: skip
    return [{"role": "system", "content": render("repair.system")}, {"role": "user", "content": request}]


def samples(agent: Agent, messages: list[Message], greedy: bool) -> tuple[list[ModelReply | ModelError], bool]:
    """SAMPLES completions of one prompt, asked for at once (the local engine decodes them together), the first
    greedy when ``greedy``. Each has its own seed, fixed by the order of calls, so a rerun samples the same.
    A resumed run's logged wave comes first, with False: it is in the log already."""
    if len(agent.replayed) >= SAMPLES:
        wave, agent.replayed[:SAMPLES] = agent.replayed[:SAMPLES], []
        return wave, False
    agent.replayed.clear()  # a wave cut short by the kill: sampled again (its tokens are in the ledger)
    first = agent.calls + 1
    agent.calls += SAMPLES
    replies: list[ModelReply | ModelError | None] = [None] * SAMPLES

    def one(i: int) -> None:
        temperature = max(agent.temperature, 0.0 if greedy and i == 0 else HOT)
        try:
            replies[i] = agent.model.complete(messages, temperature=temperature, seed=call_seed(agent.seed, first + i),
                                              max_tokens=MAX_TOKENS)  # fmt: skip
        except ModelError as exc:
            replies[i] = exc

    if isinstance(agent.model, ScriptedModel):  # a script replays by position: its calls must come in order
        for i in range(SAMPLES):
            one(i)
    else:
        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(SAMPLES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return [r for r in replies if r is not None], True


def resume(agent: Agent, goal: str, events: list[dict]) -> Ending:
    """Continues a repair run from its log (one that never left the pipeline): every rewrite is put back to the base
    commit, then the pipeline runs again from the start (the checks are cheap and the same), taking the waves it
    logged instead of asking the model again, and going on with new waves where the log ends."""
    git(agent.body.workspace, "checkout", "-q", "--", ".")
    git(agent.body.workspace, "clean", "-q", "-f", "--", REPRODUCTION)
    agent.replayed = [
        ModelError(e["error"]) if "error" in e else ModelReply(e["text"], [], Usage())
        for e in events
        if e["type"] == "model_call"
    ]
    agent.step = 0  # the replayed waves count their steps again, as they did the first time
    return repair(agent, goal) or agent._loop()


def check(agent: Agent, step: int, failing: list[str], where: str) -> Ending | None:
    """Runs the failing tests against a rewrite just written, then, when they pass, the whole suite."""
    suite = agent.body.suite  # type: ignore[attr-defined]
    quick, _ = suite.check(failing)
    agent.log.emit("candidate_checked", step=step, target=where, passed=quick.passed, summary=quick.summary())
    if not quick.passed:
        return None
    report = agent._verify(final=False)
    if report.passed:
        return Outcome.COMPLETED, f"rewrote {where}: {report.summary}", report
    return None


def rewrite(reply: str, name: str, original: str) -> str | None:
    """The reply's new version of function ``name``, indented as the original is; None when the reply holds no
    code block that parses to exactly that one function (a reply that rewrote something else is no rewrite)."""
    for _, code in BLOCK.findall(reply):
        code = textwrap.dedent(code).strip("\n")
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        if len(tree.body) == 1 and len(defs) == 1 and defs[0].name == name:
            indent = original[: len(original) - len(original.lstrip())]
            ending = "\n" if original.endswith("\n") else ""
            return textwrap.indent(code, indent.rsplit("\n", 1)[-1]) + ending
    return None


def normalized(code: str) -> str | None:
    """The code up to formatting and comments, so that two rewrites that differ only in those are one."""
    try:
        return ast.dump(ast.parse(textwrap.dedent(code)))
    except SyntaxError:
        return None
