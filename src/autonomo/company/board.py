"""The task board, folded from the company's event log: each work item's state, rounds, notes and attempts,
and the spend per role and per item."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from autonomo.company.plan import Check, WorkItem
from autonomo.events import Event, ItemState

# Spend entries also split the tokens (logs from before that have only ``tokens``).
SPLIT = ("prompt_tokens", "prompt_tokens_evaluated", "completion_tokens")
CLOSED = (ItemState.MERGED, ItemState.FAILED, ItemState.COMBINED)  # states an item does not leave


@dataclass
class ItemRecord:
    """One work item on the board: its state (ItemState) and what its rounds left."""

    item: WorkItem
    state: ItemState = ItemState.TODO  # COMBINED: into another item (``into``)
    rounds: int = 0  # times the item was sent back
    notes: list[str] = field(default_factory=list)  # why, for the next engineer
    started: dict[int, Event] = field(default_factory=dict)  # this round's attempts
    finished: dict[int, Event] = field(default_factory=dict)
    worktrees: list[str] = field(default_factory=list)  # every round's, to clean up
    waits_for: list[str] = field(default_factory=list)  # items to be merged or given up before the next round
    review: Event | None = None  # the review_started of the change under review (its branch)
    rejected: Event | None = None  # the review_started of the last verified change the reviewer sent back
    rejections: int = 0  # verified changes the reviewer sent back
    repair: str = ""  # after a sampled round none passed: its best draft's branch, which half the next round repair
    drafts: list[str] = field(default_factory=list)  # every sampled draft's branch, each committed (Company._agree)
    into: str = ""  # the item this one was combined into

    def round_attempts(self) -> list[Event]:
        return [self.finished[k] for k in sorted(self.finished)]

    def last_outcomes(self) -> str:
        return ", ".join(
            f"attempt {e['attempt']}: {e['outcome']} ({e.get('tests', '')})" for e in self.round_attempts()
        )


class Board:
    def __init__(self) -> None:
        self.request = ""
        self.base = ""  # main's commit before the company started
        self.items: dict[str, ItemRecord] = {}
        self.acceptance: list[Check] = []  # the product's checks: the planner's, then those QA added
        self.explored = False  # QA has looked for checks of its own
        self.qa_rounds = 0
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self.by_role: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.by_item: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, event: Event) -> None:
        kind = event["type"]
        if kind == "company_started":
            self.request, self.base = event["request"], event.get("base", "")
        elif kind == "plan_made":
            for raw in event["items"]:
                item = WorkItem.model_validate(raw)
                self.items[item.id] = ItemRecord(item)
            self.acceptance = [Check.model_validate(c) for c in event.get("acceptance", [])]
        elif kind == "qa_explored":
            self.explored = True
            self.acceptance += [Check.model_validate(c) for c in event["checks"]]
        elif kind == "item_added":
            item = WorkItem.model_validate(event["item"])
            self.items[item.id] = ItemRecord(item)
        elif kind == "item_started":
            state = self.items[event["item"]]
            state.state = ItemState.WORKING
            state.started[event["attempt"]] = event
            state.worktrees.append(event["worktree"])
        elif kind == "checks_agreed":  # the checks no sampled draft passed are the item's, or the product's, no more
            state = self.items[event["item"]]
            dropped = [Check.model_validate(c) for c in event["dropped"]]
            state.item.checks = [c for c in state.item.checks if c not in dropped]
            self.acceptance = [c for c in self.acceptance if c not in dropped]
            state.repair = event.get("repair", "")
            state.drafts += [state.started[k]["branch"] for k in sorted(state.started)]
        elif kind == "item_attempt_finished":
            self.items[event["item"]].finished[event["attempt"]] = event
        elif kind in ("item_reopened", "item_failed"):
            state = self.items[event["item"]]
            state.state = ItemState.TODO if kind == "item_reopened" else ItemState.FAILED
            state.rounds += 1
            state.notes.append(event["reason"])
            state.started, state.finished = {}, {}
            state.waits_for = event.get("waits_for", [])
        elif kind == "review_started":
            state = self.items[event["item"]]
            state.state, state.review = ItemState.REVIEW, event
        elif kind == "items_combined":
            self.items[event["item"]["id"]].item = WorkItem.model_validate(event["item"])
            for gone in event["absorbed"]:
                self.items[gone].state, self.items[gone].into = ItemState.COMBINED, event["item"]["id"]
            for state in self.items.values():
                deps = [event["item"]["id"] if d in event["absorbed"] else d for d in state.item.depends_on]
                state.item.depends_on = [d for d in dict.fromkeys(deps) if d != state.item.id]
        elif kind == "item_interrupted":  # the process died while it was worked on: again, in the same round
            state = self.items[event["item"]]
            state.state, state.started, state.finished = ItemState.TODO, {}, {}
        elif kind == "item_reviewed" and not event["approved"]:
            state = self.items[event["item"]]
            state.rejections += 1
            state.rejected = state.review
        elif kind == "item_merged":  # a change sent back before is no fallback for what QA finds later
            state = self.items[event["item"]]
            state.state, state.rejected = ItemState.MERGED, None
        elif kind == "qa_report":
            self.qa_rounds += 1
        if "spend" in event:
            s = event["spend"]
            self.spent_usd += s["cost_usd"]
            self.spent_tokens += s["tokens"]
            for table, key in ((self.by_role, s["role"]), (self.by_item, s["item"] or "(company)")):
                for name in ("model_calls", "tokens", "cost_usd", "seconds", *SPLIT):
                    if name in s:  # an old log's fold is what its end says
                        table[key][name] += s[name]

    def ready(self) -> list[WorkItem]:
        merged = {i for i, s in self.items.items() if s.state == ItemState.MERGED}
        done = {i for i, s in self.items.items() if s.state in CLOSED}
        return [
            s.item
            for s in self.items.values()
            if s.state == ItemState.TODO and set(s.item.depends_on) <= merged and set(s.waits_for) <= done
        ]

    def needing(self, item_id: str) -> set[str]:
        """``item_id`` and every item that needs it, through dependencies or waits, however indirectly."""
        needs = {i: set(s.item.depends_on) | set(s.waits_for) for i, s in self.items.items()}
        blocked, grew = {item_id}, True
        while grew:
            more = {i for i, n in needs.items() if n & blocked} - blocked
            blocked |= more
            grew = bool(more)
        return blocked

    def open_items_for(self, item_id: str) -> list[str]:
        """The items still open that ``item_id`` could wait for without a deadlock: none that needs it."""
        blocked = self.needing(item_id)
        return [i for i, s in self.items.items() if i not in blocked and s.state not in CLOSED]

    def open_items(self) -> list[str]:
        return [i for i, s in self.items.items() if s.state not in CLOSED]

    def all_merged(self) -> bool:
        return all(s.state in (ItemState.MERGED, ItemState.COMBINED) for s in self.items.values())

    def owner(self, item_id: str) -> str:
        """The item that now answers for ``item_id``: itself, or the one it was combined into."""
        while item_id in self.items and self.items[item_id].into:
            item_id = self.items[item_id].into
        return item_id

    def open_dependents(self, item_id: str) -> list[str]:
        return [i for i, s in self.items.items() if item_id in s.item.depends_on and s.state == ItemState.TODO]

    def failed(self) -> list[str]:
        return [i for i, s in self.items.items() if s.state == ItemState.FAILED]

    def drafts(self) -> list[str]:
        """The branches of every sampled draft of every item: the company's independent implementations."""
        return [b for s in self.items.values() for b in s.drafts]

    def built(self) -> list[str]:
        """The files the merged items wrote."""
        return sorted({f for s in self.items.values() if s.state == ItemState.MERGED for f in s.item.files})

    def worktree(self, item: str, attempt: int) -> str:
        return self.items[item].started[attempt]["worktree"]

    def branch(self, item: str, attempt: int) -> str:
        return self.items[item].started[attempt]["branch"]

    def spend(self) -> dict[str, Any]:
        return {
            "usd": round(self.spent_usd, 6),
            "tokens": self.spent_tokens,
            "by_role": {k: dict(v) for k, v in self.by_role.items()},
            "by_item": {k: dict(v) for k, v in self.by_item.items()},
        }
