"""Bugs generated from a repository's own tests, as benchmark tasks: ``autonomo bench bugs --repo DIR``.

SWE-smith's recipe without a model: put a small procedural bug into the repository's code (repo/mutate.py), run its
tests, and keep the bug when tests that passed now fail. The task's issue is written from how those tests fail (their
names, the assertion, the test's own frames), never from the mutation: the agent gets the buggy repository and the
issue, as a user would file it. A task is resolved, as in SWE-bench, when the tests the bug broke pass again
(``FAIL_TO_PASS``) and every other test that passed still passes (``PASS_TO_PASS``), with the repository's test files
as they were (an agent's changes to them are dropped before scoring).
"""

from __future__ import annotations

import json
import random
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from autonomo.agent.repair import MAX_TOKENS, repair_messages, rewrite
from autonomo.bench.tasks import Score, TaskFileError
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.workspace import SKIP_DIRS, TEST_FILE, files
from autonomo.files import write_atomic
from autonomo.models.base import Model, Usage
from autonomo.prompts import render
from autonomo.repo.checkout import git
from autonomo.repo.localize import FRAME, function_source, functions_in, source_files, source_of_test
from autonomo.repo.mutate import Mutation, apply, combine, mutations
from autonomo.repo.testing import FAILING, PYTEST_ALL, passing, run_suite

PAIRED = 0.25  # of the bugs, the share that are two mutations in one function: harder, two places to find
MAX_PER_FUNCTION = 2  # bugs in one function: a benchmark of many places, not many variants of one
MAX_BROKEN_SHARE = 0.5  # a bug that breaks most of the suite (an import-time crash) says nothing of where it is
TEST_TIMEOUT = 120.0
# A bug's suite run may take this many times the clean run (at least HANG_FLOOR s): some mutations loop forever
# (parse's suite, 0.3 s clean, ran past 55 s under one), and a bug that only makes the suite slow is not kept.
HANG_FACTOR, HANG_FLOOR = 5.0, 15.0
SHOWN_TESTS = 5  # failing tests an issue names


@dataclass
class BugTask:
    """One generated bug. ``source`` is the repository as it was (never shown to an agent: the fix is in it)."""

    id: str
    source: Path
    mutations: list[dict]  # the bug, as Mutation fields (scoring material only)
    goal: str
    test_command: str
    fail_to_pass: list[str]
    pass_to_pass: list[str] = field(repr=False)

    def buggy_files(self) -> dict[str, str]:
        """The files the bug changes, as the bug leaves them."""
        by_file: dict[str, list[Mutation]] = {}
        for m in self.mutations:
            by_file.setdefault(m["path"], []).append(Mutation(**{**m, "start": tuple(m["start"]),
                                                                 "end": tuple(m["end"])}))  # fmt: skip
        return {p: apply(read(self.source / p), *ms) for p, ms in by_file.items()}

    def prepare(self, workspace: Path) -> None:
        """The workspace: the buggy repository, a git repository with one commit, as a user's would be."""
        copy_tree(self.source, workspace)
        for path, text in self.buggy_files().items():
            write(workspace / path, text)
        git(workspace, "init", "-q", "-b", "main")
        git(workspace, "add", "-A")
        git(workspace, "commit", "-q", "--no-verify", "-m", "the repository")

    def score(self, tree: Path, scratch: Path, sandbox: str = "bwrap") -> Score:
        """Runs the repository's tests on ``tree`` (the agent's result) copied into ``scratch`` with the original test
        files put back; resolved when every FAIL_TO_PASS and PASS_TO_PASS test passes."""
        copy_tree(tree, scratch)
        for path in other_files(scratch):
            path.unlink()
        for path in other_files(self.source):
            target = scratch / path.relative_to(self.source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        run = run_suite(Sandbox(scratch, kind=sandbox, timeout=TEST_TIMEOUT), self.test_command)
        now = passing(run.statuses)
        fixed = [t for t in self.fail_to_pass if t in now]
        kept = [t for t in self.pass_to_pass if t in now]
        resolved = len(fixed) == len(self.fail_to_pass) and len(kept) == len(self.pass_to_pass)
        summary = (f"{len(fixed)}/{len(self.fail_to_pass)} FAIL_TO_PASS, {len(kept)}/{len(self.pass_to_pass)} "
                   "PASS_TO_PASS")  # fmt: skip
        return Score(resolved, "timed out" if run.timed_out else summary)

    def row(self) -> dict:
        return {"id": self.id, "source": str(self.source), "mutations": self.mutations, "goal": self.goal,
                "test_command": self.test_command, "FAIL_TO_PASS": self.fail_to_pass,
                "PASS_TO_PASS": self.pass_to_pass}  # fmt: skip

    @classmethod
    def from_row(cls, row: dict) -> BugTask:
        return cls(row["id"], Path(row["source"]), row["mutations"], row["goal"], row["test_command"],
                   row["FAIL_TO_PASS"], row["PASS_TO_PASS"])  # fmt: skip


def other_files(root: Path) -> list[Path]:
    """The repository's Python files that are not its code (tests, conftest, docs, set-up): what scoring restores,
    and what generation never mutates."""
    code = set(source_files(root))
    return [p for p in files(root, "*.py") if p not in code]


def copy_tree(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.pyc"), symlinks=True)


def suite_command(args: str) -> str:
    """``--test-args``: pytest arguments (the test folder, options), after any VAR=VALUE settings for the run."""
    words = shlex.split(args)
    env = [w for w in words[: next((i for i, w in enumerate(words) if not re.match(r"^[A-Z_]+=", w)), len(words))]]
    rest = words[len(env) :]
    return " ".join([*map(shlex.quote, env), PYTEST_ALL, *map(shlex.quote, rest)])


def issue_text(failing: list[str], output: str) -> str:
    """The issue a user would file from the failing tests: which fail, and how the first one fails (its own frames
    and the error, not the frames in the library's code, which would point at the changed line)."""
    return render(
        "bench.bug_issue",
        tests="\n".join(f"- `{t}`" for t in failing[:SHOWN_TESTS]),
        more=max(0, len(failing) - SHOWN_TESTS),
        failure=failure_of(failing[0], output),
    )


def failure_of(test: str, output: str) -> str:
    name = test.split("::")[-1]
    # pytest heads a failure with its name, after its class's for a method: "___ TestFormat.test_strip ___".
    head = rf"^_+ (?:ERROR at \w+ of )?(?:[\w.]+\.)?{re.escape(name)} _+\n"
    section = re.search(head + r"(.*?)(?=^_{3,} |^=+ )", output, re.MULTILINE | re.DOTALL)
    if not section:
        return ""
    kept, in_test = [], True
    for line in section.group(1).splitlines():
        frame = FRAME.match(line)
        if frame:
            in_test = bool(TEST_FILE.match(Path(frame.group(1)).name)) or "test" in frame.group(1)
        if in_test or line.startswith("E "):
            kept.append(line)
    return "\n".join(kept).strip()


def generate(repo: Path, out: Path, count: int, args: str = "", seed: int = 0, sandbox: str = "bwrap",
             log=print) -> list[BugTask]:  # fmt: skip
    """Up to ``count`` bugs in ``repo``, each kept only when it makes tests that passed fail; written to
    ``out/tasks.jsonl``, and taken from there when that file is there already (the same seed finds the same bugs:
    an interrupted generation starts over and gets them again)."""
    tasks_file = out / "tasks.jsonl"
    if tasks_file.is_file():
        return load(tasks_file)
    repo = repo.resolve()
    name = repo.name
    command = suite_command(args)
    scratch = out / "scratch"
    copy_tree(repo, scratch)
    box = Sandbox(scratch, kind=sandbox, timeout=TEST_TIMEOUT)
    started = time.monotonic()
    baseline = run_suite(box, command)
    limit = max(HANG_FLOOR, HANG_FACTOR * (time.monotonic() - started))
    passed = passing(baseline.statuses)
    if not passed:
        raise TaskFileError(f"no test of {repo} passes with `{command}`: {baseline.output.strip()[-300:]}")
    rng = random.Random(seed)
    found = [m for p in sorted(source_files(scratch)) for m in mutations(read(p), str(p.relative_to(scratch)))]
    order = balanced(found, rng)
    tasks: list[BugTask] = []
    per_function: dict[tuple[str, str], int] = {}
    tried = 0
    for first in order:
        if len(tasks) >= count:
            break
        where = (first.path, first.function)
        if per_function.get(where, 0) >= MAX_PER_FUNCTION:
            continue
        chosen: tuple[Mutation, ...] = (first,)
        if rng.random() < PAIRED:
            pair = combine([m for m in found if (m.path, m.function) == where], rng)
            chosen = pair or chosen
        tried += 1
        original = read(scratch / first.path)
        write(scratch / first.path, apply(original, *chosen))
        try:
            run = run_suite(box, command, timeout=limit)
        finally:
            write(scratch / first.path, original)
        # The same tests must run, by the same ids: a suite whose ids follow memory addresses (isodate parametrizes
        # over a set of tuples holding None, whose hash is its address before Python 3.12) cannot be scored by id.
        if run.timed_out or set(run.statuses) != set(baseline.statuses):
            continue
        broken = sorted(t for t in passed if run.statuses[t] in FAILING)
        if not broken or len(broken) > MAX_BROKEN_SHARE * len(passed):
            continue
        per_function[where] = per_function.get(where, 0) + 1
        task = BugTask(f"{name}-{len(tasks):03d}", repo, [mutation_row(m) for m in chosen],
                       issue_text(broken, run.output), command, broken, sorted(passed - set(broken)))  # fmt: skip
        tasks.append(task)
        log(f"[bugs {name}] {task.id}: {' + '.join(m.kind for m in chosen)} in {first.function} ({first.path}) "
            f"breaks {len(broken)} test(s) · {len(tasks)} kept of {tried} tried")  # fmt: skip
    write_atomic(tasks_file, "".join(json.dumps(t.row()) + "\n" for t in tasks))
    shutil.rmtree(scratch, ignore_errors=True)
    return tasks


def balanced(found: list[Mutation], rng: random.Random) -> list[Mutation]:
    """The mutations in an order that takes each kind in turn (kinds in a random order, each kind's mutations
    shuffled): dropped statements are nearly half of all mutations, and would otherwise be half of the bugs."""
    by_kind: dict[str, list[Mutation]] = {}
    for m in found:
        by_kind.setdefault(m.kind, []).append(m)
    queues = [by_kind[k] for k in sorted(by_kind)]
    for q in queues:
        rng.shuffle(q)
    rng.shuffle(queues)
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def read(path: Path) -> str:
    """A source file as mutations see it: its line endings kept (CRLF too), a byte-order mark dropped."""
    return path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")


def write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


def mutation_row(m: Mutation) -> dict:
    return {"path": m.path, "kind": m.kind, "line": m.line, "function": m.function, "start": list(m.start),
            "end": list(m.end), "before": m.before, "after": m.after}  # fmt: skip


def load(path: Path) -> list[BugTask]:
    tasks = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                tasks.append(BugTask.from_row(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise TaskFileError(f"{path}:{n}: not a bug task ({type(exc).__name__}: {exc})") from None
    return tasks


def oneshot(task: BugTask, workspace: Path, model: Model, temperature: float, seed: int) -> tuple[str, Usage]:
    """The one-shot reference: the model alone, shown the issue and the function the bug is in (known here, so
    this measures the model's fix with localization given), writes that function once."""
    where = task.mutations[0]
    path = workspace / where["path"]
    function = next(f for f in functions_in(read(path), where["path"]) if f.name == where["function"])
    original = function_source(workspace, function)
    context = {"issue": task.goal, "test": source_of_test(workspace, task.fail_to_pass[0]), "output": ""}
    messages = repair_messages(context, function, original)
    reply = model.complete(messages, temperature=temperature, seed=seed, max_tokens=MAX_TOKENS)
    code = rewrite(reply.text, function.short, original)
    if code is None:
        return "no usable function in the reply", reply.usage
    write(path, read(path).replace(original, code, 1))
    return f"rewrote {function.name}", reply.usage
