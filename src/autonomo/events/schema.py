"""The event schema: every kind of event a log holds, with its fields and their types (docs/events.md).

``EventLog.emit`` checks each event against its kind's model before it writes it: an unknown kind, a missing or
undeclared field, or a field of the wrong type is a bug in the emitter and raises at once. Readers keep plain dicts;
``validate_event`` checks one they read.

Format versions: ``FORMAT`` is written into the first event of each new log (``run_started``, ``company_started``).
A log without one is format 1 (written before the schema existed); its events have the same shapes, so every reader
takes both. A change that would break a reader of an older log needs a new format number and a reader for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

FORMAT = 2  # of the logs written now; a log whose first event has no "format" is format 1
FIRST_KINDS = ("run_started", "company_started")  # the first event of a log: it carries the format


class Outcome(StrEnum):
    """How an agent run ended (``run_finished.outcome``)."""

    COMPLETED = "completed"  # finished with the tests passing (or a draft passed them)
    BUDGET_EXHAUSTED = "budget_exhausted"  # a step, token, cost or time limit was reached
    STUCK = "stuck"  # the same call with the same result too often
    MODEL_ERROR = "model_error"  # model calls failed in a row, or one failed that cannot succeed on a retry
    CONTEXT_EXHAUSTED = "context_exhausted"  # the conversation no longer fits, even compacted
    INTERRUPTED = "interrupted"  # Ctrl-C


class CompanyOutcome(StrEnum):
    """How a company run ended (``company_finished.outcome``)."""

    DELIVERED = "delivered"  # every acceptance check passes on main
    BUDGET_EXHAUSTED = "budget_exhausted"  # the company's cost or token budget is spent
    FAILED = "failed"  # work items were given up, or QA still failed after its last round
    PLANNING_FAILED = "planning_failed"  # the planner gave no valid plan


class ItemState(StrEnum):
    """A work item's state on the board, folded from the company's events (company/board.py)."""

    TODO = "todo"  # planned, sent back, or interrupted: waits for engineers
    WORKING = "working"  # engineers at work (item_started)
    REVIEW = "review"  # an attempt passed the item's checks and is being reviewed (review_started)
    MERGED = "merged"  # on main (item_merged)
    FAILED = "failed"  # given up (item_failed)
    COMBINED = "combined"  # its work was taken over by another item (items_combined)


# Enums are given as strings in a log (and as members by emitters): the one place where a value is converted.
OutcomeField = Annotated[Outcome, Strict(False)]
CompanyOutcomeField = Annotated[CompanyOutcome, Strict(False)]
ItemStateField = Annotated[ItemState, Strict(False)]
Crashed = Annotated[str, StringConstraints(pattern=r"^crashed: ")]


class Record(BaseModel):
    """A part of an event with a fixed shape."""

    model_config = ConfigDict(extra="forbid", strict=True)


class EventModel(Record):
    """Fields every event has."""

    seq: int = Field(ge=0, description="position in the log, from 0, one more on each line")
    ts: float = Field(description="Unix time the event was written, in seconds (ms resolution)")
    type: str = Field(description="the kind of event")


class ToolCallRecord(Record):
    id: str = Field(description="the call's id; its tool_call and observation events carry it")
    name: str = Field(description="the tool")
    arguments: str = Field(description="the argument text as the model wrote it (JSON, or not when malformed)")


class Spend(Record):
    """What one role's work cost; the board sums these per role and per item."""

    role: str = Field(description="planner, engineer, reviewer or qa")
    item: str = Field(description='the work item it was for; "" for the company as a whole')
    model_calls: int = Field(description="model calls made")
    tokens: int = Field(description="prompt and completion tokens")
    prompt_tokens: int = Field(0, description="of tokens, the prompts' (0 in logs from before they were split)")
    prompt_tokens_evaluated: int = Field(0, description="of prompt tokens, those the model computed (no cache hit)")
    completion_tokens: int = Field(0, description="of tokens, the replies'")
    cost_usd: float = Field(description="dollars, as the provider prices them (0 for local models)")
    seconds: float = Field(description="seconds spent: in the model call, or the engineer run's wall time")


class QaFailure(Record):
    command: str = Field(description="the check's command")
    expect: str = Field(description="text its output had to contain")
    item: str = Field(description='the work item that answers for the check; "" for none')
    output: str = Field(description="the last 2000 characters of what it printed")


# -- agent runs (agent/loop.py) ---------------------------------------------------------------------------------


class RunStarted(EventModel):
    """An agent run began. Its config is what ``autonomo resume`` rebuilds the agent from."""

    type: Literal["run_started"]
    format: int = Field(1, ge=1, description="the log's format version; absent in format 1")
    goal: str = Field(description="what the agent is to achieve")
    workspace: str = Field(description="absolute path of the folder it works in")
    model: str = Field(description="the model's name")
    body: str = Field(description="what it acts through: the sandbox kind (bwrap, none) or robot:SCENE")
    budget: dict[str, Any] = Field(description="max_steps, tokens, usd, seconds (null: no limit)")
    draft: bool = Field(description="the run may start with a draft (agent/draft.py)")
    config: dict[str, Any] = Field(description="the command line's settings, for resume (names of env vars only)")
    snapshot: dict[str, str] = Field(description="path -> SHA-1 of every workspace file at the start")
    messages: list[dict[str, Any]] = Field(description="the first prompt: the system and the goal messages")


class RunResumed(EventModel):
    """``autonomo resume`` continues the run from its log; the elapsed time restarts from here."""

    type: Literal["run_resumed"]
    after_events: int = Field(description="events the log held when the run was resumed")


class ModelCall(EventModel):
    """A model reply (a failed call is a ModelCallFailed, with the same type)."""

    type: Literal["model_call"]
    step: int = Field(description="the step this reply starts, from 1")
    text: str = Field(description="the reply's text")
    tool_calls: list[ToolCallRecord] = Field(description="the calls it makes; a draft's are its files as create calls")
    draft: bool = Field(False, description="a draft's free-form reply (written only when true)")
    prompt_tokens: int = Field(description="prompt tokens")
    completion_tokens: int = Field(description="completion tokens")
    prompt_tokens_evaluated: int = Field(description="prompt tokens computed (fewer when a prefix cache was reused)")
    seconds: float = Field(description="seconds the call took")
    cost_usd: float = Field(description="dollars (0 for local models or unknown prices)")


class ModelCallFailed(EventModel):
    """A model call that failed: the loop retries it after ``retry_in`` seconds, or the run ends."""

    type: Literal["model_call"]
    step: int = Field(description="the step the call was for")
    error: str = Field(description="what went wrong")
    draft: bool = Field(False, description="the call was a draft's (the run goes on to the tool loop)")
    retryable: bool | None = Field(
        None, description="the same call may succeed later; absent for a draft's call and a context overflow"
    )
    seconds: float | None = Field(None, description="seconds until it failed; absent for a draft's call")
    retry_in: float | None = Field(None, description="seconds before the retry; absent when the run gives up")


class ToolCallStarted(EventModel):
    """A tool call is about to run (written first, so resume knows a call that was running when a run died)."""

    type: Literal["tool_call"]
    step: int = Field(description="the step of the reply that made the call")
    id: str = Field(description="the call's id")
    name: str = Field(description="the tool")
    arguments: str = Field(description="the argument text as the model wrote it")


class ObservationMade(EventModel):
    """A tool call's result, as the model is shown it."""

    type: Literal["observation"]
    step: int = Field(description="the step of the reply that made the call")
    id: str = Field(description="the call's id")
    name: str = Field(description="the tool")
    ok: bool = Field(description="the call succeeded")
    output: str = Field(description="what the model is shown (test results after a write included)")
    seconds: float | None = Field(None, description="seconds the call took; absent for a call a resume did not rerun")
    draft: bool = Field(False, description="a draft's file write (written only when true)")


class UserMessage(EventModel):
    """A message the loop adds to the conversation as the user (a nudge, a draft's test results)."""

    type: Literal["user_message"]
    step: int = Field(description="the step it follows")
    content: str = Field(description="the message")


class ContextCompacted(EventModel):
    """The oldest steps were dropped from the conversation so that it fits the context again."""

    type: Literal["context_compacted"]
    step: int = Field(description="the step whose call overflowed")


class BudgetStop(EventModel):
    """A budget ran out: of an agent run or of a company (the same kind in both logs). The run ends next."""

    type: Literal["budget_stop"]
    reason: str = Field(description="which limit, and how much was used")


class Verification(EventModel):
    """The goal's measured check: the tests, run at a finish call or at the end."""

    type: Literal["verification"]
    final: bool = Field(description="run at the end of the run rather than for a finish call or a draft")
    command: str | None = Field(description="the test command; null when the body has nothing to run")
    passed: bool = Field(description="the tests passed (true when there are none to run)")
    exit_code: int | None = Field(description="the command's exit code (124: timed out); null when nothing ran")
    summary: str = Field(description="the runner's summary line, e.g. 1 passed")


class RunFinished(EventModel):
    """The run's end: the last event of a finished run."""

    type: Literal["run_finished"]
    outcome: OutcomeField = Field(description="how the run ended (Outcome)")
    summary: str = Field(description="the finish call's summary, or why the run stopped")
    tests: str = Field(description='the last test status, e.g. "passed: 1 passed", "no tests found"')
    tests_passed: bool = Field(description="the last tests passed")
    files_changed: list[str] = Field(description="workspace files added, changed or removed")
    totals: dict[str, Any] = Field(description="the ledger's totals (events/ledger.py: Ledger.totals)")


class Suspect(Record):
    file: str = Field(description="the function's file, relative to the workspace")
    function: str = Field(description="its qualified name, e.g. Parser.parse")
    lines: list[int] = Field(description="its first and last line")
    score: float = Field(description="how suspect it is (higher: more)")
    why: str = Field(description="what the score comes from: ochiai, a traceback, bm25, a name in the issue")
    suspect_lines: list[int] = Field(
        default=[], description="the lines of it the failing tests ran, most suspect first (the first few)"
    )


class Localized(EventModel):
    """The repair pipeline ranked the functions likely at fault (repo/localize.py), best first."""

    type: Literal["localized"]
    failing: list[str] = Field(description="the failing tests it started from")
    suspects: list[Suspect] = Field(description="the ranked functions")


class CandidateChecked(EventModel):
    """A rewrite the repair pipeline wrote was run against the failing tests (or a reproduction test as things are)."""

    type: Literal["candidate_checked"]
    step: int = Field(description="the step of the model call that wrote it")
    target: str = Field(description="the function rewritten, and its file")
    passed: bool = Field(
        description="the failing tests pass with it (the whole suite runs next); a reproduction test: it fails"
    )
    summary: str = Field(description="the comparison with the tests at the start")


class PatchMade(EventModel):
    """A repository run's work was committed on its branch and written as a patch (after run_finished)."""

    type: Literal["patch_made"]
    branch: str = Field(description="the run's branch in the user's repository")
    commit: str = Field(description="the branch's head: the base commit when nothing changed")
    patch: str = Field(description="path of the patch from the base commit")
    files: list[str] = Field(description="files the patch changes")


# -- company runs (company/orchestrator.py) ---------------------------------------------------------------------


class CompanyStarted(EventModel):
    """A company run began; these settings are what ``autonomo resume --company`` rebuilds it from."""

    type: Literal["company_started"]
    format: int = Field(1, ge=1, description="the log's format version; absent in format 1")
    request: str = Field(description="the product to build")
    workspace: str = Field(description="absolute path of the git repository worked in")
    model: str = Field(description="the model spec engineers load")
    api_base: str | None = Field(description="base URL of an OpenAI-compatible server, or null")
    workers: int = Field(description="engineers at work at once")
    attempts: int = Field(description="independent attempts per work item")
    samples: int = Field(1, description="drafts per round of an item, for agreement; absent before (1)")
    budget: dict[str, Any] = Field(description="usd, tokens, agent_usd, agent_steps (null: no limit)")
    sandbox: str = Field(description="the sandbox kind: bwrap or none")
    ray: str | None = Field(description="the Ray cluster's address, or null for local threads")
    base: str = Field(description="main's commit at the start")


class CompanyResumed(EventModel):
    """``autonomo resume --company`` continues the company from its log."""

    type: Literal["company_resumed"]
    after_events: int = Field(description="events the log held when it was resumed")


class PlanReply(EventModel):
    """One reply of the planner (a reply that is no valid plan is asked again)."""

    type: Literal["plan_reply"]
    attempt: int = Field(description="the try, from 1")
    text: str = Field(description="the reply")
    spend: Spend = Field(description="its cost")


class PlanMade(EventModel):
    """The plan: the board's items (all todo) and the product's acceptance checks."""

    type: Literal["plan_made"]
    items: list[dict[str, Any]] = Field(description="work items: id, title, description, files, checks, depends_on")
    acceptance: list[dict[str, Any]] = Field(description="checks: command, expect, item, url, actions")


class CheckWritten(EventModel):
    """One check written from one rule of the request's interface (company/contract.py: rules), as QA."""

    type: Literal["check_written"]
    rule: str = Field(description="the rule, as the interface gives it")
    sample: int | None = Field(None, description="which of the rule's checks, sampled hot; absent: the first, greedy")
    text: str | None = Field(None, description="the reply; absent when no reply came")
    check: dict[str, Any] | None = Field(None, description="the check read from it; absent when none could be")
    error: str | None = Field(None, description="why there is no check; absent when there is one")
    spend: Spend | None = Field(None, description="its cost; absent when no reply came")


class ChecksVetted(EventModel):
    """The planner's checks held to the request's interface (company/contract.py), before plan_made."""

    type: Literal["checks_vetted"]
    attempt: int = Field(description="the planner's try, from 1 (with an interface: the replies its items took)")
    rejected: list[dict[str, str]] = Field(
        description="checks dropped: item (empty for a product check), command, reason"
    )
    moved: list[dict[str, str]] = Field(
        description="checks given to the item that builds what they run: command, from, to"
    )


class ScaffoldMade(EventModel):
    """The files the interface fixes were committed to main, empty, before any engineer started."""

    type: Literal["scaffold_made"]
    files: list[str] = Field(description="the files created")
    commit: str = Field(description="main's commit after it")


class ItemStarted(EventModel):
    """One engineer attempt on an item began, in its own worktree and branch."""

    type: Literal["item_started"]
    item: str = Field(description="the work item's id")
    round: int = Field(description="times the item was sent back before, from 0")
    attempt: int = Field(description="the attempt in this round, from 0")
    branch: str = Field(description="the attempt's git branch")
    worktree: str = Field(description="the attempt's worktree path")
    sample: bool = Field(False, description="a draft for agreement (checks_agreed); written only when true")
    repairs: str | None = Field(None, description="a sample's start: the branch of the draft it repairs; absent: main")


class ItemAttemptFinished(EventModel):
    """An engineer attempt ended; ``verified`` says whether it passed the item's checks."""

    type: Literal["item_attempt_finished"]
    item: str = Field(description="the work item's id")
    attempt: int = Field(description="the attempt; -1 when the job crashed")
    outcome: OutcomeField | Crashed = Field(description='the engineer run\'s Outcome, or "crashed: ERROR"')
    verified: bool = Field(description="completed with its tests (the item's checks) passing")
    run_id: str | None = Field(None, description="the engineer's run in WORKSPACE/.autonomo/runs; absent on a crash")
    tests: str | None = Field(None, description="its last test status; absent on a crash")
    spend: Spend | None = Field(None, description="its cost; absent on a crash")


class ChecksAgreed(EventModel):
    """A round of sampled drafts was held to the item's checks: the checks none passed are dropped when the best
    draft passes at least as many, and the draft the most others agree with goes to review."""

    type: Literal["checks_agreed"]
    item: str = Field(description="the work item's id")
    passes: dict[str, list[bool]] = Field(description="by attempt: whether it passed each of the item's checks")
    dropped: list[dict[str, Any]] = Field(
        description="the checks dropped from the item (and from the product's): command, expect, ..."
    )
    chosen: int | None = Field(description="the attempt that goes to review; null: none passed (the item goes back)")
    repair: str | None = Field(
        None, description="when none passed: the best draft's branch, where half the next round's drafts start"
    )


class ReviewStarted(EventModel):
    """The round's first verified attempt (or the sampled draft chosen) was committed and goes to the reviewer."""

    type: Literal["review_started"]
    item: str = Field(description="the work item's id")
    attempt: int = Field(description="the attempt under review")
    branch: str = Field(description="its branch")
    again: bool = Field(
        False, description="the change the reviewer sent back, again: no attempt since passed (only when true)"
    )


class ItemReviewed(EventModel):
    """The reviewer's verdict."""

    type: Literal["item_reviewed"]
    item: str = Field(description="the work item's id")
    approved: bool = Field(description="approved (else the item is sent back, the first time; then merged)")
    notes: str = Field(description="the reviewer's reply")
    spend: Spend = Field(description="its cost")


class MergeConflict(EventModel):
    """The approved branch did not merge into main (the item is sent back next)."""

    type: Literal["merge_conflict"]
    item: str = Field(description="the work item's id")
    files: list[str] = Field(description="the conflicting files")


class ItemMerged(EventModel):
    """The item's branch is on main (also written on resume for a merge the kill left unlogged)."""

    type: Literal["item_merged"]
    item: str = Field(description="the work item's id")
    commit: str = Field(description="main's commit after the merge")


class ItemReopened(EventModel):
    """The item goes back to todo for another round, with a note for the next engineers."""

    type: Literal["item_reopened"]
    item: str = Field(description="the work item's id")
    reason: str = Field(description="why: the next engineers are told")
    waits_for: list[str] = Field(default_factory=list, description="items to be done first (written only when some)")


class ItemFailed(EventModel):
    """The item was sent back too often and is given up."""

    type: Literal["item_failed"]
    item: str = Field(description="the work item's id")
    reason: str = Field(description="why it was sent back the last time")


class ItemAdded(EventModel):
    """A new work item on the board (a fix for a QA failure no item answers for)."""

    type: Literal["item_added"]
    item: dict[str, Any] = Field(description="the work item: id, title, description, checks, depends_on")
    reason: str = Field(description="why it was added")


class ItemsCombined(EventModel):
    """An item takes over the work (and checks) of the open items that depend on it."""

    type: Literal["items_combined"]
    item: dict[str, Any] = Field(description="the item as it is now, the others' work included")
    absorbed: list[str] = Field(description="the items it took over: now combined")
    reason: str = Field(description="why")


class ItemInterrupted(EventModel):
    """On resume: the item was being worked on or reviewed when the company died; it goes again, same round."""

    type: Literal["item_interrupted"]
    item: str = Field(description="the work item's id")
    was: ItemStateField = Field(description="its state then: working or review")


class QaReport(EventModel):
    """QA ran every acceptance check and every item's checks on main."""

    type: Literal["qa_report"]
    passed: bool = Field(description="all passed")
    checks: int = Field(description="checks run")
    failures: list[QaFailure] = Field(description="those that failed")


class QaExplored(EventModel):
    """QA's own checks, thought up once the planned ones pass (once per company)."""

    type: Literal["qa_explored"]
    checks: list[dict[str, Any]] = Field(description="the checks it added to the acceptance checks")
    rejected: list[dict[str, str]] = Field(
        default_factory=list, description="its checks dropped by vetting: item, command, reason"
    )
    unconfirmed: list[dict[str, Any]] = Field(
        default_factory=list, description="its checks dropped as the product and every sampled draft fail them"
    )
    spend: Spend | None = Field(None, description="its cost; absent when no reply came")
    error: str | None = Field(None, description="why no checks came of it; absent when the reply was usable")


class DraftSalvaged(EventModel):
    """The company ends undelivered: an item that left nothing on main gets its best sampled draft merged."""

    type: Literal["draft_salvaged"]
    item: str = Field(description="the work item's id")
    branch: str = Field(description="the draft's branch")
    passes: int = Field(description="how many of the item's checks it passes")
    checks: int = Field(description="the item's checks")
    commit: str | None = Field(description="main's commit after the merge; null: the merge conflicted")


class CompanyFinished(EventModel):
    """The company's end: the last event of a finished company run."""

    type: Literal["company_finished"]
    outcome: CompanyOutcomeField = Field(description="how it ended (CompanyOutcome)")
    summary: str = Field(description="why")
    items: dict[str, ItemStateField] = Field(description="each work item's final state")
    totals: dict[str, Any] = Field(description="spend: usd, tokens, by_role, by_item (board.py: Board.spend)")


RUN_EVENTS: tuple[type[EventModel], ...] = (
    RunStarted, RunResumed, ModelCall, ModelCallFailed, ToolCallStarted, ObservationMade, UserMessage,
    ContextCompacted, BudgetStop, Verification, RunFinished, Localized, CandidateChecked, PatchMade,
)  # fmt: skip
COMPANY_EVENTS: tuple[type[EventModel], ...] = (
    CompanyStarted, CompanyResumed, PlanReply, CheckWritten, ChecksVetted, PlanMade, ScaffoldMade, ItemStarted,
    ItemAttemptFinished, ChecksAgreed, ReviewStarted, ItemReviewed, MergeConflict, ItemMerged, ItemReopened,
    ItemFailed, ItemAdded, ItemsCombined, ItemInterrupted, QaReport, QaExplored, BudgetStop, DraftSalvaged,
    CompanyFinished,
)  # fmt: skip


def kind_of(model: type[EventModel]) -> str:
    return model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]


EVENT_MODELS: dict[str, type[EventModel]] = {
    kind_of(m): m for m in (*RUN_EVENTS, *COMPANY_EVENTS) if m is not ModelCallFailed
}
KINDS = frozenset(EVENT_MODELS)


def model_for(event: Mapping[str, Any]) -> type[EventModel]:
    """The model an event is checked against: by its type, and for model_call by whether it failed."""
    kind = event.get("type")
    if kind == "model_call" and "error" in event:
        return ModelCallFailed
    model = EVENT_MODELS.get(kind)  # type: ignore[arg-type]
    if model is None:
        raise ValueError(f"unknown event kind {kind!r}; the kinds are in autonomo/events/schema.py")
    return model


def validate_event(event: Mapping[str, Any]) -> EventModel:
    """The event as its kind's model; raises ValueError (pydantic's ValidationError is one) when it does not fit."""
    return model_for(event).model_validate(event)


def log_format(events: Iterable[Mapping[str, Any]]) -> int:
    """The format version of a log, from its first event: 1 when it names none (or the log is empty)."""
    for event in events:
        return int(event.get("format", 1))
    return 1
