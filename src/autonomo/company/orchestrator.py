"""The orchestrator: plans, hands work items to engineers working in parallel, has each result reviewed, merges
it, and lets QA use the product until every acceptance check passes or the budget is spent.

The task board is the company's event log: item states, owners and spend are folded from it (see board.py).
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonomo.company.backends import Backend, local_backend
from autonomo.company.board import SPLIT, Board
from autonomo.company.contract import Contract, Vetted, claim, contract, place, rules, vet
from autonomo.company.git import Repo
from autonomo.company.jobs import Job, JobResult
from autonomo.company.plan import (
    Check,
    Plan,
    PlanError,
    WorkItem,
    check_messages,
    parse_check,
    parse_checks,
    parse_plan,
    planner_messages,
    qa_messages,
)
from autonomo.computer.sandbox import CommandResult, Sandbox
from autonomo.computer.workspace import describe
from autonomo.events import CompanyOutcome, Event, EventLog, ItemState
from autonomo.models import Model, ModelError, Usage
from autonomo.models.base import Message
from autonomo.prompts import render

PLAN_TRIES = 3
PLAN_TOKENS = 1200  # items alone: a plan of a few items fits; a reply that loops stops here
CHECK_TOKENS = 300  # one check
CHECK_SAMPLES = 2  # checks written per rule of the interface when drafts are sampled
SHOWN_REPLY = 1500  # characters of a failed plan shown back to the planner
MAX_QA_ROUNDS = 5  # QA runs on a fully merged main; new fix items could otherwise go on for ever
MAX_QA_CHECKS = 3  # checks QA adds of its own
MAX_REOPEN = 3  # an item sent back this often (failed attempts, conflicts, QA) is given up
# The reviewer sends an item's verified change back once; a later verified change merges, its notes kept. The
# embedded reviewer's rejections were wrong (T1-02-wordfreq: 2 of 5 changes, "most_common sorts ascending"), and
# three of them failed the unit converter's tests item, whose checks passed each time.
MAX_REJECTIONS = 1
SAMPLE_TEMPERATURE = 0.7
CHECK_TIMEOUT = 60.0
REVIEW_CHARS = 12_000  # of a diff the reviewer reads
CRASH = re.compile(r"Traceback \(most recent call last\)|Error while finding module specification")


@dataclass
class CompanyBudget:
    usd: float | None = None  # the whole company
    tokens: int | None = None
    agent_usd: float | None = None  # each agent
    agent_steps: int = 20

    def exhausted(self, board: Board) -> str | None:
        if self.usd is not None and board.spent_usd >= self.usd:
            return f"company budget ${self.usd:g} spent (${board.spent_usd:.4f})"
        if self.tokens is not None and board.spent_tokens >= self.tokens:
            return f"company token budget {self.tokens} spent ({board.spent_tokens})"
        return None


@dataclass
class CompanyResult:
    outcome: CompanyOutcome
    summary: str
    items: dict[str, str] = field(default_factory=dict)  # id -> final state
    spend: dict[str, Any] = field(default_factory=dict)


class Company:
    def __init__(
        self,
        workspace: Path,
        log: EventLog,
        model: str,
        chat_model: Model,
        workers: int = 2,
        attempts: int = 1,
        budget: CompanyBudget | None = None,
        sandbox: str = "bwrap",
        api_base: str | None = None,
        backend: Backend = local_backend,
        scripts: dict[str, list[list[dict]]] | None = None,
        ray: str | None = None,
        samples: int = 1,
    ) -> None:
        """``model``: the spec engineers load (in their own process under Ray); ``chat_model``: the same model
        here, for the planner, the reviewer and QA (in local mode, the very object the engineers share:
        load_model loads a GGUF once per process, and the model serialises the calls of parallel reviews).
        ``scripts``: scripted engineer runs per item, in order (tests). ``ray``: the address ``backend`` runs on,
        kept in the log for resume. ``samples``: drafts of each round of an item, instead of ``attempts`` full
        runs, whose agreement with its checks decides which checks stand and which draft goes to review
        (``_agree``); 1: none."""
        self.workspace = workspace.resolve()
        self.log = log
        self.model, self.chat_model, self.api_base = model, chat_model, api_base
        self.workers, self.attempts, self.samples = workers, attempts, samples
        self.budget = budget or CompanyBudget()
        self.sandbox = sandbox
        self.backend, self.ray = backend, ray
        self.scripts = {k: list(v) for k, v in (scripts or {}).items()}
        self.repo = Repo(self.workspace)
        self.board = Board()
        log.subscribe(self.board.add)
        self.home = self.workspace / ".autonomo"

    # -- the run -------------------------------------------------------------------------------------------

    def run(self, request: str) -> CompanyResult:
        return asyncio.run(self._run(request))

    def resume(self, events: list[Event]) -> CompanyResult:
        """Continues a company that was killed, from its log: the board is folded from the events; an item whose
        engineers or review died with the process goes again (a merge that did happen is recorded)."""
        return asyncio.run(self._resume(events))

    async def _run(self, request: str) -> CompanyResult:
        self._threads()
        base = self.repo.init()
        self.log.emit(
            "company_started",
            request=request,
            workspace=str(self.workspace),
            model=self.model,
            api_base=self.api_base,
            workers=self.workers,
            attempts=self.attempts,
            samples=self.samples,
            budget=vars(self.budget),
            sandbox=self.sandbox,
            ray=self.ray,
            base=base,
        )
        return await self._plan_and_work(request)

    async def _resume(self, events: list[Event]) -> CompanyResult:
        self._threads()
        self.repo.recover()
        for event in events:
            self.board.add(event)
        self.log.emit("company_resumed", after_events=len(events))
        planned = next((e for e in events if e["type"] == "plan_made"), None)
        if planned is None:
            return await self._plan_and_work(next(e for e in events if e["type"] == "company_started")["request"])
        for item_id, state in self.board.items.items():
            cut_short = state.state == ItemState.WORKING and len(state.finished) < len(state.started)
            if state.state == ItemState.REVIEW and state.review and self.repo.merged(state.review["branch"]):
                self.log.emit("item_merged", item=item_id, commit=self.repo.head(self.repo.main))
            elif state.state == ItemState.REVIEW or cut_short:
                self.log.emit("item_interrupted", item=item_id, was=state.state)
        return await self._work()

    def _threads(self) -> None:
        # Threads for engineers (local mode) and reviewers: the default pool has only a few, whatever --workers says.
        threads = 2 * self.workers + max(self.samples, self.attempts) + 2
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=threads))

    async def _plan_and_work(self, request: str) -> CompanyResult:
        try:
            self._plan(request)
        except (PlanError, ModelError) as exc:
            return self._finish(CompanyOutcome.PLANNING_FAILED, str(exc))
        self._scaffold()
        return await self._work()

    async def _work(self) -> CompanyResult:
        jobs: dict[asyncio.Future[JobResult], str] = {}  # engineers at work, by item
        reviews: dict[asyncio.Future[tuple[bool, str, Usage]], tuple[str, str]] = {}  # item, branch
        stop = None
        while True:
            # Items whose attempts are all in go to review (on resume, too: the kill may have come just then).
            for item_id, state in self.board.items.items():
                if state.state == ItemState.WORKING and item_id not in jobs.values():
                    review = self._to_review(item_id)
                    if review:  # reviews run beside the engineers; merges stay here, one at a time
                        branch, diff = review
                        verdict = asyncio.to_thread(self._review, state.item, diff, self.contract.interface)
                        future = asyncio.ensure_future(verdict)
                        reviews[future] = (item_id, branch)
            stop = stop or self.budget.exhausted(self.board)
            if stop is None:
                for item in self.board.ready():
                    if len(jobs) + max(self.attempts, self.samples) > self.workers and jobs:
                        break
                    for job in self._jobs(item):
                        jobs[self.backend(job)] = item.id
            if not jobs and not reviews:
                if stop:
                    self.log.emit("budget_stop", reason=stop)
                    return self._finish(CompanyOutcome.BUDGET_EXHAUSTED, stop)
                if self.board.all_merged():
                    if self._qa():
                        return self._finish(CompanyOutcome.DELIVERED, "every acceptance check passes")
                    if self.board.qa_rounds >= MAX_QA_ROUNDS:
                        rounds = self.board.qa_rounds
                        return self._finish(CompanyOutcome.FAILED, f"QA still fails after {rounds} rounds")
                    continue
                return self._finish(CompanyOutcome.FAILED, "work items failed: " + ", ".join(self.board.failed()))
            done, _ = await asyncio.wait([*jobs, *reviews], return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                if future in jobs:
                    self._attempt_done(jobs.pop(future), future)
                else:
                    self._merge(*reviews.pop(future), *future.result())

    def _finish(self, outcome: CompanyOutcome, summary: str) -> CompanyResult:
        salvaged = self._salvage() if outcome != CompanyOutcome.DELIVERED else []
        if salvaged:
            summary += render("company.salvaged", items=", ".join(salvaged))
        states = {i: s.state for i, s in self.board.items.items()}
        totals = self.board.spend()
        self.log.emit("company_finished", outcome=outcome, summary=summary, items=states, totals=totals)
        return CompanyResult(outcome, summary, states, totals)

    # -- roles ---------------------------------------------------------------------------------------------

    @property
    def contract(self) -> Contract:
        return contract(self.board.request)

    def _plan(self, request: str) -> Plan:
        """The plan, its checks vetted against the request's interface. With an interface, the planner writes the
        items and the checks are written one rule of the interface at a time (``_write_checks``): the embedded
        planner, asked for items and exact checks in one reply, repeated one expected line until its tokens ran
        out (T1-02-wordfreq, both tries). Without one, the planner writes both."""
        product = self.contract
        if product.interface:
            # A product the interface fixes in one package or one file is one item: the embedded planner split
            # such products into 3-4 items anyway, and copied its prompt's example ("add and mul" for the unit
            # converter).
            one_part = len({Path(f).parts[0] for f in product.files}) == 1
            items, replies = ([whole(product)], 0) if one_part else self._plan_items(request, product)
            items = claim(items, product)
            vetted = vet(place(self._write_checks(product), items, product), [], product, self.workspace, self.sandbox)
            self.log.emit("checks_vetted", attempt=replies, rejected=vetted.rejected, moved=vetted.moved)
        else:
            vetted = self._plan_with_checks(request, product)
        plan = Plan(items=[compiles(i) for i in vetted.items], acceptance=vetted.acceptance)
        items_, acceptance = [i.model_dump() for i in plan.items], [c.model_dump() for c in plan.acceptance]
        self.log.emit("plan_made", items=items_, acceptance=acceptance)
        return plan

    def _ask_planner(self, messages: list[Message], attempt: int, **options: Any) -> str:
        reply = self.chat_model.complete(messages, **options)
        self.log.emit("plan_reply", attempt=attempt, text=reply.text, spend=spend("planner", "", reply.usage))
        return reply.text

    def _plan_items(self, request: str, product: Contract) -> tuple[list[WorkItem], int]:
        """The planner's items (and the replies it took); when no reply is a valid plan, one item builds the
        whole product: the interface still fixes its files and its checks."""
        messages = planner_messages(request, self._repository(), product.files, checks=False)
        for attempt in range(1, PLAN_TRIES + 1):
            text = self._ask_planner(messages, attempt, max_tokens=PLAN_TOKENS)
            try:
                return parse_plan(text).items, attempt
            except PlanError as exc:
                retry = render("company.planner_retry", error=str(exc))
                # Not its whole reply: a reply that looped on one line until its tokens ran out only grows the
                # prompt, and the model loops again.
                messages = [
                    *messages,
                    {"role": "assistant", "content": text[:SHOWN_REPLY]},
                    {"role": "user", "content": retry},
                ]
        return [whole(product)], PLAN_TRIES

    def _write_checks(self, product: Contract) -> list[Check]:
        """One check per rule of the interface (contract.rules), each its own short call, as QA. With sampled
        drafts, a second check per rule, sampled hot: the drafts' agreement (``_agree``) keeps the checks that
        hold, and one greedy check per rule was often wrong in what it expected, or the same for every rule (the
        6 of T1-02-wordfreq, 6fd10f3), so an item held to it had nothing to tell its drafts apart."""
        checks: list[Check] = []
        for n, rule in enumerate(rules(product.interface)):
            for k in range(CHECK_SAMPLES if self.samples > 1 else 1):
                outcome: dict[str, Any] = {}
                hot = {"temperature": SAMPLE_TEMPERATURE, "seed": n} if k else {}
                try:
                    messages = check_messages(product.interface, rule)
                    reply = self.chat_model.complete(messages, max_tokens=CHECK_TOKENS, **hot)
                    outcome |= {"text": reply.text, "spend": spend("qa", "", reply.usage)}
                    check = parse_check(reply.text)
                    checks += [check] if check not in checks else []
                    outcome["check"] = check.model_dump()
                except (ModelError, PlanError) as exc:
                    outcome["error"] = str(exc)
                self.log.emit("check_written", rule=rule, **({"sample": k} if k else {}), **outcome)
        return checks

    def _plan_with_checks(self, request: str, product: Contract) -> Vetted:
        """The planner's items and checks in one reply. A reply that is not a valid plan is shown its error, one
        whose vetting left an item without a check is shown why, and asked again; of the plans made, the one
        leaving the fewest items without a check wins."""
        messages = planner_messages(request, self._repository(), product.files)
        plans: list[Vetted] = []
        for attempt in range(1, PLAN_TRIES + 1):
            try:
                text = self._ask_planner(messages, attempt)
            except ModelError:
                if not plans:
                    raise
                break  # an outage after a usable plan: that plan goes ahead
            try:
                plan = parse_plan(text)
            except PlanError as exc:
                if attempt == PLAN_TRIES and not plans:
                    raise
                retry = render("company.planner_retry", error=str(exc))
            else:
                vetted = vet(plan.items, plan.acceptance, product, self.workspace, self.sandbox)
                self.log.emit("checks_vetted", attempt=attempt, rejected=vetted.rejected, moved=vetted.moved)
                plans.append(vetted)
                bare = [i.id for i in vetted.items if not i.checks]
                if not bare:
                    break
                lines = "\n".join(render("company.rejected_line", **r) for r in vetted.rejected)
                retry = render("company.planner_rejected", rejected=lines, items=", ".join(bare))
            messages = [*messages, {"role": "assistant", "content": text}, {"role": "user", "content": retry}]
        return min(plans, key=lambda v: sum(not i.checks for i in v.items))

    def _scaffold(self) -> None:
        """The files the interface fixes, on main before any engineer starts (empty, but for the entry files,
        contract.ENTRY): every worktree then has the layout the request asks for (the one-shot reference's
        products often did not: a package whose __main__ imports a module nobody wrote)."""
        made = []
        product = self.contract
        for name in product.files:
            path = self.workspace / name
            if not path.exists() and path.resolve().is_relative_to(self.workspace):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(product.entry.get(name, ""), encoding="utf-8")
                made.append(name)
        if made and self.repo.commit_all(self.workspace, "the files the interface fixes"):
            self.log.emit("scaffold_made", files=made, commit=self.repo.head())

    def _repository(self) -> str:
        """The main line's files as the planner and QA see them: small ones in full, the rest by name."""
        return describe(self.workspace)

    def _jobs(self, item: WorkItem) -> list[Job]:
        """K independent attempts on one item, each in a fresh worktree from the current main; with ``samples``,
        that many drafts instead (``_agree``), each told, as an attempt is, why the last round failed. After a
        sampled round that no draft passed, half the drafts start from its best one, which they see, so that they
        repair it: fresh drafts told only the failure repeated it (ratelimit, 2026-12-04: all 12 drafts failed every
        check, on a circular import or a property with no setter, round after round)."""
        state = self.board.items[item.id]
        round_ = state.rounds
        sampled = self.samples > 1 and bool(item.checks)
        width = self.samples if sampled else self.attempts
        jobs = []
        for k in range(width):
            branch = f"item/{item.id}/r{round_}a{k}"
            tree = self.home / "worktrees" / f"{item.id}-r{round_}a{k}"
            if tree.exists():
                self.repo.remove_worktree(tree)
                shutil.rmtree(tree, ignore_errors=True)
            repairs = sampled and state.repair and k >= width // 2
            self.repo.worktree(tree, branch, start=state.repair if repairs else "")
            script = self.scripts.get(f"engineer:{item.id}")
            job = Job(
                item=item.id,
                attempt=k,
                worktree=str(tree),
                goal=engineer_goal(item, state.notes, self.contract),
                test_command=" && ".join(c.script() for c in item.checks) or "true",
                files=item.files,
                home=str(self.home),
                model=self.model,
                api_base=self.api_base,
                script=script.pop(0) if script else None,
                max_steps=self.budget.agent_steps,
                usd=self._agent_usd(),
                tokens=self._agent_tokens(),
                sandbox=self.sandbox,
                # One greedy attempt first; every other attempt, and every later round, samples: a greedy model
                # given the same item again mostly writes the same code again.
                temperature=0.0 if k == 0 and round_ == 0 else SAMPLE_TEMPERATURE,
                seed=round_ * width + k,
                draft_only=sampled,
            )
            mark = {"sample": True, **({"repairs": state.repair} if repairs else {})} if sampled else {}
            self.log.emit(
                "item_started", item=item.id, round=round_, attempt=k, branch=branch, worktree=str(tree), **mark
            )
            jobs.append(job)
        return jobs

    def _agent_usd(self) -> float | None:
        left = None if self.budget.usd is None else max(self.budget.usd - self.board.spent_usd, 0.0)
        caps = [c for c in (left, self.budget.agent_usd) if c is not None]
        return min(caps) if caps else None

    def _agent_tokens(self) -> int | None:
        """An even share of the company's tokens left among the items still open, so that the first item's
        redrafts cannot spend what the others need (a draft and its redrafts take whatever they are given)."""
        if self.budget.tokens is None:
            return None
        left = self.budget.tokens - self.board.spent_tokens
        return max(left // max(len(self.board.open_items()), 1), 1)

    def _attempt_done(self, item_id: str, future: asyncio.Future[JobResult]) -> None:
        try:
            r = future.result()
        except Exception as exc:  # a crashed job is a failed attempt, not a crashed company
            self.log.emit("item_attempt_finished", item=item_id, attempt=-1, outcome=f"crashed: {exc}", verified=False)
            return
        self.log.emit(
            "item_attempt_finished",
            item=item_id,
            attempt=r.attempt,
            run_id=r.run_id,
            outcome=r.outcome,
            verified=r.verified,
            tests=r.tests,
            spend={"role": "engineer", "item": item_id, **pick(r.totals)},
        )

    def _to_review(self, item_id: str) -> tuple[str, str] | None:
        """All attempts of a round are in: keep the first verified one and commit it. Returns its branch and diff
        for review, or None when no attempt passed (the item goes back). When none passed but the reviewer sent
        back a change that did, that change is reviewed again (a second rejection merges it): the embedded
        reviewer's rejections were wrong (T1-02-wordfreq, 2026-12-04: "does not address the request for the whole
        product" of the only draft that passed its checks, whose redrafts then passed none, so the item failed)."""
        state = self.board.items[item_id]
        if all(e.get("sample") for e in state.started.values()):
            winner, note = self._agree(item_id)
        else:
            winner, note = next((a["attempt"] for a in state.round_attempts() if a["verified"]), None), ""
        if winner is None and state.rejected is not None:
            again = state.rejected
            self.log.emit("review_started", item=item_id, attempt=again["attempt"], branch=again["branch"], again=True)
            return again["branch"], self.repo.diff(again["branch"])
        if winner is None:
            self._replan(item_id, note or render("company.note_no_pass", outcomes=state.last_outcomes()))
            return None
        tree = Path(self.board.worktree(item_id, winner))
        branch = self.board.branch(item_id, winner)
        self.repo.commit_all(tree, f"{item_id}: {state.item.title}")
        self.log.emit("review_started", item=item_id, attempt=winner, branch=branch)
        return branch, self.repo.diff(branch)

    def _agree(self, item_id: str) -> tuple[int | None, str]:
        """Which of an item's checks stand, and which of its sampled drafts goes to review, by agreement between
        the two (after CodeT: generated tests are often wrong, and independent samples tell a wrong test from a
        wrong implementation). The embedded QA's expected outputs were wrong in format for whole rules (the unit
        converter: "100.0" where the interface's format prints "100"), and an item held to such a check spent
        every round on it. So a check that no draft passes is dropped, when the drafts are evidently working
        implementations: the best passes at least as many checks as none pass. Of the drafts that pass every
        check left, the one whose outputs on all the checks most others share goes to review (AlphaCode's
        clustering by behaviour). Returns its attempt, or None and what the best draft failed (for the next
        round's drafts, which see no test output of their own)."""
        state = self.board.items[item_id]
        checks = state.item.checks
        outputs: dict[int, list[str]] = {}
        passes: dict[int, list[bool]] = {}
        for k in sorted(state.started):
            tree = self.board.worktree(item_id, k)
            # Each draft on its branch: the next round's repairs start from the best, QA's own checks are held to all.
            self.repo.commit_all(Path(tree), f"{item_id}: {state.item.title} (draft {k})")
            runs = [self._check(c, Path(tree)) for c in checks]
            passes[k] = [r.ok for r in runs]
            outputs[k] = [r.output.replace(tree, ".") for r in runs]  # a traceback names its worktree
        unconfirmed = [i for i in range(len(checks)) if not any(p[i] for p in passes.values())]
        best = max((sum(p) for p in passes.values()), default=0)
        dropped = unconfirmed if best and best >= len(unconfirmed) else []
        kept = [i for i in range(len(checks)) if i not in dropped]
        passing = [k for k, p in passes.items() if all(p[i] for i in kept)]
        clusters = [sum(outputs[j] == outputs[k] for j in passing) for k in passing]
        chosen = passing[clusters.index(max(clusters))] if passing else None
        top = max(passes, key=lambda k: sum(passes[k]))
        repair = {} if chosen is not None else {"repair": self.board.branch(item_id, top)}
        self.log.emit(
            "checks_agreed",
            item=item_id,
            passes={str(k): p for k, p in passes.items()},
            dropped=[checks[i].model_dump() for i in dropped],
            chosen=chosen,
            **repair,
        )
        if chosen is not None:
            return chosen, ""
        failed = next(i for i in kept if not passes[top][i])
        check = checks[failed]
        return None, render(
            "company.note_drafts", command=check.command, expect=repr(check.expect), output=outputs[top][failed][-1500:]
        )

    def _review(self, item: WorkItem, diff: str, interface: str) -> tuple[bool, str, Usage]:
        """The reviewer's verdict on a diff (runs in a thread: no board access here)."""
        request = render(
            "company.reviewer_request",
            title=item.title,
            description=item.description,
            interface=interface,
            diff=diff[:REVIEW_CHARS],
        )
        messages = [
            {"role": "system", "content": render("company.reviewer_system")},
            {"role": "user", "content": request},
        ]
        try:
            reply = self.chat_model.complete(messages)
        except ModelError as exc:  # the item's checks passed: a reviewer outage does not stop delivery
            return True, f"APPROVE (the review failed: {exc})", Usage()
        text = reply.text
        return "APPROVE" in text.upper() and "REJECT" not in text.upper(), text, reply.usage

    def _merge(self, item_id: str, branch: str, approved: bool, notes: str, usage: Usage) -> None:
        self.log.emit(
            "item_reviewed", item=item_id, approved=approved, notes=notes, spend=spend("reviewer", item_id, usage)
        )
        state = self.board.items[item_id]
        # Not in an item's last round: sent back then, a verified change would be lost with the item.
        if not approved and state.rejections <= MAX_REJECTIONS and state.rounds + 1 < MAX_REOPEN:
            self._reopen(item_id, render("company.note_rejected", notes=notes))
            return
        merge = self.repo.merge(branch, f"merge {item_id}")
        if not merge.ok:
            self.log.emit("merge_conflict", item=item_id, files=merge.conflicts)
            self._reopen(item_id, render("company.note_conflict", files=", ".join(merge.conflicts)))
            return
        self.log.emit("item_merged", item=item_id, commit=self.repo.head(self.repo.main))
        for path in self.board.items[item_id].worktrees:
            self.repo.remove_worktree(Path(path))

    def _qa(self) -> bool:
        """QA uses the product as a user would: every acceptance check, and every item's own checks, run on main;
        once they all pass, QA thinks up checks of its own (``_explore``) and runs those too. A failure goes back
        on the board: to the item it belongs to; those of no item's, together, to one new fix item, held also to
        every check main passes now (T1-02-wordfreq at 307ca1c: QA's three failing checks opened three fix items,
        which spent the company's budget, and one merged a change that broke the product)."""
        planned = [(c, c.item) for c in self.board.acceptance] + [
            (c, i) for i, s in self.board.items.items() if s.state != ItemState.COMBINED for c in s.item.checks
        ]
        unique: dict[tuple[str, str], tuple[Check, str]] = {}  # a fix item holds copies of the others' checks
        for check, owner in planned:
            unique.setdefault((check.command, check.expect), (check, owner))
        checks = list(unique.values())
        failures = self._run_checks(checks)
        if not failures and not self.board.explored:
            found = [(c, "") for c in self._explore()]
            checks += found
            failures = self._run_checks(found)
        self.log.emit("qa_report", passed=not failures, checks=len(checks), failures=failures)
        orphans = []
        for failure in failures:
            note = render(
                "company.note_qa", command=failure["command"], expect=repr(failure["expect"]), output=failure["output"]
            )
            owner = self.board.owner(failure["item"])
            if owner in self.board.items:
                self._reopen(owner, note)
            else:
                orphans.append((Check(command=failure["command"], expect=failure["expect"]), note))
        if orphans:
            failed = {(f["command"], f["expect"]) for f in failures}
            fix = WorkItem(
                id=f"qa-fix-{self.board.qa_rounds}",
                title=render("company.fix_title", command=orphans[0][0].command, more=len(orphans) - 1),
                description="\n\n".join(note for _, note in orphans),
                files=self.board.built(),
                checks=[c for c, _ in orphans] + [c for c, _ in checks if (c.command, c.expect) not in failed],
            )
            self.log.emit("item_added", item=fix.model_dump(), reason="QA failure")
        return not failures

    def _check(self, check: Check, root: Path) -> CommandResult:
        # The company's own files stay read-only where they lie inside the folder checked (main's, not a worktree's,
        # whose checks write their input files: the worktrees lie inside the company's folder).
        readonly = (self.home,) if self.home.is_relative_to(root) else ()
        box = Sandbox(root, kind=self.sandbox, timeout=CHECK_TIMEOUT, readonly_paths=readonly)
        return box.run(check.script())

    def _run_checks(self, checks: list[tuple[Check, str]]) -> list[dict[str, str]]:
        failures = []
        for check, owner in checks:
            result = self._check(check, self.workspace)
            if not result.ok:
                failures.append(
                    {"command": check.command, "expect": check.expect, "item": owner, "output": result.output[-2000:]}
                )
        return failures

    def _explore(self) -> list[Check]:
        """QA's own checks: the model reads the product as it now is and writes what a user would try that the
        planned checks do not (once per company; a reply that is not a list of checks adds none). A check the
        product fails stands only when one of the company's sampled drafts passes it, as an item's checks are held
        to its drafts (``_agree``): at 307ca1c all three of QA's checks on T1-02-wordfreq expected `b 2\\na 2`,
        which no input of theirs gives, and the fix items they opened broke the product (6 of 13 hidden tests
        passed before, 1 after)."""
        found: list[Check] = []
        outcome: dict[str, Any] = {}
        messages = qa_messages(self.board.request, self._repository(), self.board.acceptance)
        try:
            reply = self.chat_model.complete(messages)
            outcome["spend"] = spend("qa", "", reply.usage)
            built = frozenset(self.repo.git("diff", "--name-only", self.board.base, "HEAD").split())
            vetted = vet([], parse_checks(reply.text), self.contract, self.workspace, self.sandbox, built)
            found, outcome["rejected"] = vetted.acceptance[:MAX_QA_CHECKS], vetted.rejected
        except (ModelError, PlanError) as exc:
            outcome["error"] = str(exc)
        failing = [c for c in found if not self._check(c, self.workspace).ok]
        confirmed = self._confirmed(failing)
        unconfirmed = [c for c in failing if c not in confirmed]
        found = [c for c in found if c not in unconfirmed]
        outcome["unconfirmed"] = [c.model_dump() for c in unconfirmed]
        self.log.emit("qa_explored", checks=[c.model_dump() for c in found], **outcome)
        return found

    def _confirmed(self, checks: list[Check]) -> list[Check]:
        """Those of ``checks`` that at least one sampled draft passes; all of them when there are no drafts."""
        drafts = self.board.drafts()
        if not drafts:
            return checks
        confirmed: list[Check] = []
        for branch in drafts:
            left = [c for c in checks if c not in confirmed]
            if not left:
                break
            with self._checked_out(branch) as tree:
                confirmed += [c for c in left if self._check(c, tree).ok]
        return [c for c in checks if c in confirmed]

    @contextmanager
    def _checked_out(self, branch: str) -> Iterator[Path]:
        """A draft's branch in a worktree of its own, for its checks to run in."""
        tree = self.home / "worktrees" / "draft-check"
        self.repo.remove_worktree(tree)
        shutil.rmtree(tree, ignore_errors=True)
        self.repo.checkout(tree, branch)
        try:
            yield tree
        finally:
            self.repo.remove_worktree(tree)

    def _salvage(self) -> list[str]:
        """The company ends undelivered: each item that left nothing on main (its files are missing there, or as
        empty as the scaffold made them) gets its best sampled draft merged, so the user has the company's best
        attempt rather than an empty package. At 658b710, T1-05-ini2json's only check was wrong (a key before any
        section is an error by the request's rules; the check expected it parsed), the greedy draft rightly failed
        it, and the item failed with nothing on main: 0 of 14 hidden tests. Never over merged work: a fix item's
        files are on main. Returns the items salvaged."""
        salvaged = []
        for item_id, state in self.board.items.items():
            files = [self.workspace / f for f in state.item.files]
            if state.state in (ItemState.MERGED, ItemState.COMBINED) or not state.drafts or not files:
                continue
            if any(f.is_file() and f.read_text(encoding="utf-8", errors="replace").strip() for f in files):
                continue
            best = self._best_draft(item_id)
            if best is None:
                continue
            branch, passes = best
            merge = self.repo.merge(branch, f"merge {item_id}: its best draft")
            commit = self.repo.head(self.repo.main) if merge.ok else None
            checks = len(state.item.checks)
            self.log.emit("draft_salvaged", item=item_id, branch=branch, passes=passes, checks=checks, commit=commit)
            if merge.ok:
                salvaged.append(item_id)
        return salvaged

    def _best_draft(self, item_id: str) -> tuple[str, int] | None:
        """Of an item's sampled drafts, every round's, that wrote its files: the one passing the most of its checks;
        of those, the one whose checks crash the least (a traceback, a package that does not import); then the one
        whose outputs most others share; then the earliest (round 0's first is the greedy one). At 15e2a9d none of
        T1-06-ratelimit's 12 drafts passed a check, and the most alike were drafts that left
        `ratelimit/__init__.py` empty, failing alike: one of them was merged (0 of 14 hidden tests). None when no
        draft wrote the item's files. Returns its branch and how many checks it passes."""
        state = self.board.items[item_id]
        scored: list[tuple[str, int, int, list[str]]] = []
        for branch in dict.fromkeys(state.drafts):
            with self._checked_out(branch) as tree:
                written = [tree / f for f in state.item.files]
                if not any(f.is_file() and f.read_text(encoding="utf-8", errors="replace").strip() for f in written):
                    continue
                runs = [self._check(c, tree) for c in state.item.checks]
            outputs = [r.output.replace(str(tree), ".") for r in runs]
            crashes = sum(bool(CRASH.search(o)) for o in outputs)
            scored.append((branch, sum(r.ok for r in runs), crashes, outputs))

        def rank(n: int) -> tuple[int, int, int, int]:
            _, passes, crashes, outputs = scored[n]
            return passes, -crashes, sum(outputs == other for *_, other in scored), -n

        if not scored:
            return None
        branch, passes, *_ = scored[max(range(len(scored)), key=rank)]
        return branch, passes

    def _replan(self, item_id: str, reason: str) -> None:
        """Sends back an item no attempt could pass. Planners miss dependencies and misplace checks (seen on the
        embedded model: a converter's core item checked through the command line its dependent item was to
        build). So the item first waits for the open items it could need; when every open item needs it, it
        takes over the work of those that depend on it directly, checks included."""
        waits = self.board.open_items_for(item_id)
        if waits:
            reason += render("company.note_waits", items=", ".join(waits))
            self._reopen(item_id, reason, waits)
            return
        absorbed = self.board.open_dependents(item_id)
        if absorbed and self.board.items[item_id].rounds + 1 < MAX_REOPEN:
            item = self.board.items[item_id].item
            parts = [self.board.items[i].item for i in absorbed]
            combined = item.model_copy(
                update={
                    "title": "; ".join([item.title, *(p.title for p in parts)]),
                    "description": "\n\n".join(filter(None, [item.description, *(p.description for p in parts)])),
                    "checks": [*item.checks, *(c for p in parts for c in p.checks)],
                    # not what needs this item (through the absorbed ones, say): that would be a cycle
                    "depends_on": sorted(
                        set(item.depends_on).union(*(p.depends_on for p in parts))
                        - self.board.needing(item_id)
                        - set(absorbed)
                    ),
                }
            )
            self.log.emit("items_combined", item=combined.model_dump(), absorbed=absorbed, reason=reason)
            reason += render("company.note_absorbed", items=", ".join(absorbed))
        self._reopen(item_id, reason)

    def _reopen(self, item_id: str, reason: str, waits_for: list[str] | None = None) -> None:
        state = self.board.items[item_id]
        if state.rounds + 1 >= MAX_REOPEN:
            self.log.emit("item_failed", item=item_id, reason=reason)
        else:
            self.log.emit(
                "item_reopened", item=item_id, reason=reason, **({"waits_for": waits_for} if waits_for else {})
            )


def engineer_goal(item: WorkItem, notes: list[str], product: Contract | None = None) -> str:
    checks = "\n".join(
        render("company.check_line", command=c.command, expect=repr(c.expect) if c.expect else "") for c in item.checks
    )
    lines = "\n".join(render("company.note_line", note=n) for n in notes[-3:])
    files = f"Files: {', '.join(item.files)}" if item.files else ""
    head = "\n\n".join(filter(None, [item.title, item.description, files]))
    interface = product.interface if product else ""
    entry = "\n".join(render("company.entry_note", package=p) for p in (product.packages if product else []))
    return render("company.engineer_goal", head=head, interface=interface, entry=entry, checks=checks, notes=lines)


def whole(product: Contract) -> WorkItem:
    """One item that builds the whole product."""
    return WorkItem(id="product", title=render("company.whole_title"), files=product.files,
                    description=render("company.whole_description"))  # fmt: skip


def compiles(item: WorkItem) -> WorkItem:
    """An item whose checks were all dropped is checked at least for writing its files as valid Python."""
    sources = [f for f in item.files if f.endswith(".py")]
    if item.checks or not sources:
        return item
    return item.model_copy(update={"checks": [Check(command=shlex.join(["python", "-m", "py_compile", *sources]))]})


def spend(role: str, item: str, usage: Usage) -> dict[str, Any]:
    return {
        "role": role,
        "item": item,
        "model_calls": 1,
        "tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens": usage.prompt_tokens,
        "prompt_tokens_evaluated": usage.prompt_tokens_evaluated,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "seconds": round(usage.seconds, 3),
    }


def pick(totals: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_calls": totals.get("model_calls", 0),
        "tokens": totals.get("tokens", 0),
        **{key: totals.get(key, 0) for key in SPLIT},
        "cost_usd": totals.get("cost_usd", 0.0),
        "seconds": totals.get("elapsed_seconds", 0.0),
    }
