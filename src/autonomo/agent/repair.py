"""The repair pipeline: from failing tests to a verified patch along a fixed path, for models too small to drive a
tool loop through a repository.

Small models do far better in fixed pipelines than in free agent loops (Agentless: localize, sample many candidate
edits, keep those the tests accept; 7B models reach 16-25% of SWE-bench Lite that way, against single digits in
loops), and our own embedded model converted none of 55 failures in its tool loop on Exercism. So here the model
does the one thing it can: fix one line it is shown, or rewrite one function. The rest is done without it: the
tests at the start say what fails (repo/testing.py), localization ranks the functions those tests ran and then
their lines (repo/localize.py), and each new version of a function is written through the body's edit tool,
checked against the failing tests, then against the whole suite, and undone when it fails (or kept when it is a
line's fix that made some pass and broke none: paired bugs). Samples of one prompt are asked for together, so the
local engine evaluates the prompt once and decodes them in one batch; duplicates (the same code up to formatting)
are tested once.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import textwrap
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autonomo.agent.draft import BLOCK
from autonomo.events import Outcome
from autonomo.models.base import Message, ModelError, ModelReply, ToolCall, Usage, call_seed, parse_arguments
from autonomo.models.scripted import ScriptedModel
from autonomo.prompts import render
from autonomo.repo.checkout import git
from autonomo.repo.localize import Candidate, Function, function_source, localize, source_of_test, suspect_lines
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
# Before those, one wave per suspect line (repo/localize.suspect_lines): (suspect, how many of its lines), best
# first. A line's fix is a few tokens where a function's is hundreds, and a small model shown the line finds the
# fix far more often (see suspect_lines), so these come first.
LINES = ((0, 4), (1, 3), (2, 2))
HOT = 0.8  # temperature of the samples after the greedy one
SHOWN_LINES = 5  # of each suspect's ranked lines, in its event
OUTPUT_CHARS = 2_000  # of the failing tests' output shown
MAX_TOKENS = 1_024  # a rewrite is one function
LINE_TOKENS = 200  # a line's fix: a statement or a few
LINE_STOP = ("\n```\n",)  # the end of its code block: what a small model writes after it is talk
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
    return fix(agent, goal, failing, output)


@dataclass(frozen=True)
class Progress:
    """A fix that made some of the failing tests pass and broke none: kept, and the rest sought on top of it.
    Paired bugs need it: 26 of the 105 generated tasks are two mutations in one function, and a line's fix
    restores one of them at most, so only the tests that needed no more than that one can pass."""

    failing: list[str]
    output: str


def fix(agent: Agent, goal: str, failing: list[str], output: str) -> Ending:
    """Localizes ``failing`` and tries the line waves, then the function waves; a fix that is progress starts
    over from it, with the tests that still fail (each time fewer)."""
    suite = agent.body.suite  # type: ignore[attr-defined]
    root = agent.body.workspace
    suspects = localize(root, suite.sandbox, suite.command, goal, failing, output)
    lined = [c.function for c in suspects[: len(LINES)]]
    lines = suspect_lines(suite.sandbox, suite.command, failing, output, lined) if lined else {}
    agent.log.emit(
        "localized",
        failing=failing,
        suspects=[
            {"file": c.function.file, "function": c.function.name, "lines": [c.function.start, c.function.end],
             "score": c.score, "why": c.why, "suspect_lines": lines.get(c.function, [])[:SHOWN_LINES]}
            for c in suspects
        ],
    )  # fmt: skip
    if not suspects:
        return Outcome.STUCK, "no function of the repository is run by the failing tests", None
    context = {"issue": goal, "test": source_of_test(root, failing[0]), "output": shown(output, OUTPUT_CHARS)}
    seen: dict[int, set[str | None]] = {}
    # A nested function's lines are its parent's too, and each is tried once (toolz-000: 2 of the first 3
    # suspect lines of evalform_back had been tried for thread_last around it; the faulty one was its 4th).
    tried: set[tuple[str, int]] = set()
    for i, n in LINES:
        if i >= len(suspects):
            continue
        f = suspects[i].function
        for line in [k for k in lines.get(f, []) if (f.file, k) not in tried][:n]:
            tried.add((f.file, line))
            original = function_source(root, f)
            span = statement_at(original, line - f.start + 1)
            if span is None:
                continue
            shown_line = textwrap.dedent("".join(original.splitlines(keepends=True)[span[0] - 1 : span[1]]))
            messages = repair_messages(context, f, original, line=shown_line)
            parse = functools.partial(fix_line, name=f.short, span=span)
            ending = wave(agent, f, messages, parse, failing, seen.setdefault(i, set()), greedy=True, span=span)
            if isinstance(ending, Progress):
                return fix(agent, goal, ending.failing, ending.output)
            if ending is not None:
                return ending
    rewritten: set[int] = set()
    for i in (i for i in SCHEDULE if i < len(suspects)):
        f = suspects[i].function
        messages = repair_messages(context, f, function_source(root, f))
        parse = functools.partial(rewrite, name=f.short)
        ending = wave(agent, f, messages, parse, failing, seen.setdefault(i, set()), greedy=i not in rewritten)
        if ending is not None:  # never Progress: a whole rewrite is no partial fix (see only)
            return ending
        rewritten.add(i)
    return Outcome.STUCK, f"no rewrite of the {len(seen)} most suspect functions passed the tests", None


def wave(agent: Agent, f: Function, messages: list[Message], parse: Callable[..., str | None],
         failing: list[str], seen: set[str | None], greedy: bool,
         span: tuple[int, int] | None = None) -> Ending | Progress | None:  # fmt: skip
    """SAMPLES replies to one prompt about function ``f``, each new version of it that ``parse`` makes of one (from
    the reply and ``original=`` the function as it is) written, checked and undone when it fails. ``seen``: the
    function's versions tried already, its own among them; ``greedy``: the first sample is at temperature 0;
    ``span``: the replies are the fix of the statement on these lines of the function (short), and one that
    changed no other line is kept when it is progress."""
    reason = agent.budget.exhausted(agent.ledger, agent.step)
    if reason:
        agent.log.emit("budget_stop", reason=reason)
        return Outcome.BUDGET_EXHAUSTED, reason, None
    root = agent.body.workspace
    original = function_source(root, f)
    seen.add(normalized(original))

    def propose(text: str, step: int) -> tuple[ToolCall, str] | None:
        code = parse(text, original=original)
        key = normalized(code) if code else None
        if not code or key is None or key in seen:
            return None
        seen.add(key)
        edit = {"path": f.file, "old": original, "new": code}
        return parse_arguments(f"repair_{step}", "edit", json.dumps(edit), agent.body.specs), code

    limits = {"max_tokens": LINE_TOKENS, "stop": LINE_STOP} if span else {"max_tokens": MAX_TOKENS}
    written = take(agent, messages, greedy, propose, **limits)
    for step, call, code in written:
        agent._run_calls(step, [call], draft=True)
        if code not in (root / f.file).read_text(encoding="utf-8", errors="replace"):
            continue  # the edit was refused (its old text is no longer unique, say): nothing to check or undo
        ending = check(agent, step, failing, f"{f.name} in {f.file}", span is not None and only(original, code, span))
        if ending is not None:
            return ending  # a Progress among them: its edit stays
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
         propose: Callable[[str, int], tuple[ToolCall, str] | None],
         **limits: Any) -> list[tuple[int, ToolCall, str]]:  # fmt: skip
    """One wave: its replies, each logged (a resumed run's are in the log already) with the call ``propose`` makes
    of it, if any. Every reply is logged before any is tried: a wave's tokens are spent whichever of them passes.
    Returns the calls with their steps and code, in order. ``limits``: the model's max_tokens and stop."""
    replies, fresh = samples(agent, messages, greedy, **limits)
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


def repair_messages(context: dict[str, str], function: Function, original: str, line: str = "") -> list[Message]:
    """The prompt that asks for one function rewritten, or with ``line``, for that line of it fixed: the issue, a
    failing test and how it fails, the function."""
    request = render("repair.request", **context, file=function.file, function=textwrap.dedent(original), line=line)
    return [{"role": "system", "content": render("repair.system")}, {"role": "user", "content": request}]


def samples(agent: Agent, messages: list[Message], greedy: bool, max_tokens: int = MAX_TOKENS,
            stop: Sequence[str] | None = None) -> tuple[list[ModelReply | ModelError], bool]:  # fmt: skip
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
                                              max_tokens=max_tokens, stop=stop)  # fmt: skip
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


def check(agent: Agent, step: int, failing: list[str], where: str, partial: bool) -> Ending | Progress | None:
    """Runs the failing tests against a rewrite just written, then, when they pass (or with ``partial``, some of
    them), the whole suite; with ``partial``, a rewrite that some passed and that broke none is Progress."""
    suite = agent.body.suite  # type: ignore[attr-defined]
    quick, _ = suite.check(failing)
    agent.log.emit("candidate_checked", step=step, target=where, passed=quick.passed, summary=quick.summary())
    if not (quick.passed or partial and quick.fixed):
        return None
    report = agent._verify(final=False)
    if report.passed:
        return Outcome.COMPLETED, f"rewrote {where}: {report.summary}", report
    if partial and suite.last and not suite.last.broken and len(suite.last.failing) < len(failing):
        return Progress(suite.last.failing, suite.last_output)
    return None


def rewrite(reply: str, name: str, original: str) -> str | None:
    """The reply's new version of function ``name``, indented as the original is; None when the reply holds no
    code block that parses to that one function. Imports beside it are dropped and a class around it is taken
    off: the 1.5B model adds them to one reply in ten (24 replies of two h11 bugs), and dropping them loses
    nothing the module lacks (a name it needs and lacks fails the check). A reply that defines anything else
    rewrote something else, and is no rewrite."""
    for _, code in BLOCK.findall(reply):
        code = textwrap.dedent(code).strip("\n")
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
        if len(body) == 1 and isinstance(body[0], ast.ClassDef):  # the method, with its class written around it
            body = [n for n in body[0].body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        if len(body) != 1 or not isinstance(body[0], ast.FunctionDef | ast.AsyncFunctionDef) or body[0].name != name:
            continue
        node = body[0]
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        code = textwrap.dedent("\n".join(code.splitlines()[first - 1 : node.end_lineno]))
        indent = original[: len(original) - len(original.lstrip())]
        ending = "\n" if original.endswith("\n") else ""
        return textwrap.indent(code, indent.rsplit("\n", 1)[-1]) + ending
    return None


def statement_at(code: str, line: int) -> tuple[int, int] | None:
    """The first and last lines (1-based, in ``code``, a function's source) of the statement that starts on ``line``;
    of a compound one (if, for, with...), its header only."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return None
    lines = code.splitlines()
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or node.lineno != line or isinstance(node, DEFINITIONS):
            continue
        end = node.end_lineno or line
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = max(line, body[0].lineno - 1)
            while end > line and (lines[end - 1].strip().startswith("#") or not lines[end - 1].strip()):
                end -= 1
        return line, end
    return None


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
DEFINES = ("def ", "async def ", "class ", "@")
CODE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)  # the block may be cut at LINE_STOP


def fix_line(reply: str, original: str, name: str, span: tuple[int, int]) -> str | None:
    """The function with the statement at ``span`` replaced by the reply's code, indented as the statement was; or
    the reply's rewrite of the whole function, when it wrote one. None when the result does not parse."""
    whole = rewrite(reply, name, original)
    if whole is not None:
        return whole
    block = CODE.search(reply)
    if block is None or not block.group(1).strip():
        return None
    new = textwrap.dedent(block.group(1)).strip("\n").splitlines()
    if any(n.startswith(DEFINES) for n in new):  # a definition is no line's fix: the function's rewrite, cut short
        return None
    lines = original.splitlines(keepends=True)
    old = lines[span[0] - 1]
    indent = old[: len(old) - len(old.lstrip())]
    # An elif's fix written as an if (or the other way) keeps the statement's own keyword.
    if old.lstrip().startswith("elif ") and new[0].startswith("if "):
        new[0] = "el" + new[0]
    elif old.lstrip().startswith("if ") and new[0].startswith("elif "):
        new[0] = new[0][2:]
    fixed = "".join(indent + n + "\n" if n.strip() else "\n" for n in new)
    code = "".join(lines[: span[0] - 1]) + fixed + "".join(lines[span[1] :])
    return code if normalized(code) is not None else None


def only(original: str, code: str, span: tuple[int, int]) -> bool:
    """Whether ``code`` is ``original`` with only the lines of ``span`` changed. A partial fix is kept only then:
    a rewrite can change far more than a fault, and the pipeline localizes again from what it keeps (on
    boltons-000, from a wrong edit that made 1 of 22 failing tests pass, the faulty function fell out of the
    suspects; that edit was a rewrite cut short and pasted in as a line's fix, which fix_line now refuses)."""
    old, new = original.splitlines(), code.splitlines()
    tail = len(old) - span[1]
    return old[: span[0] - 1] == new[: span[0] - 1] and old[len(old) - tail :] == new[len(new) - tail :]


def normalized(code: str) -> str | None:
    """The code up to formatting and comments, so that two rewrites that differ only in those are one."""
    try:
        return ast.dump(ast.parse(textwrap.dedent(code)))
    except SyntaxError:
        return None
