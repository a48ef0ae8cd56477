"""The append-only event log: the one source of truth for a run.

Everything a run does is one JSON line in ``<home>/runs/<run_id>/events.jsonl``. The live terminal view,
``autonomo show``, the ledger totals and the benchmarks all read these events and nothing else. Each kind of event
and its fields is declared in schema.py, and docs/events.md describes the format for those who build on it.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from autonomo.events.redact import Redactor
from autonomo.events.schema import FIRST_KINDS, FORMAT, validate_event

Event = dict[str, Any]
Listener = Callable[[Event], None]

EVENTS_FILE = "events.jsonl"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


class EventLog:
    """Appends events to a JSONL file, one whole line per write, and tells listeners about each one.
    Every string in an event is redacted of secrets first (see redact.py), and every event is checked against its
    kind's schema (schema.py) before it is written: one that does not fit is a bug, and raises."""

    def __init__(self, run_dir: Path, redact: Redactor | None = None) -> None:
        self.run_dir = run_dir
        self.path = run_dir / EVENTS_FILE
        self.redact = redact or Redactor()
        run_dir.mkdir(parents=True, exist_ok=True)
        self._seq = 0
        if self.path.exists():
            drop_torn_tail(self.path)
            self._seq = sum(1 for _ in read_events(self.path))
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, type: str, **fields: Any) -> Event:
        """Writes one event and returns it, a plain dict. Raises ValueError (before writing anything) when the event
        does not fit its kind's schema. The first event of a new log gets the format version (schema.FORMAT)."""
        if "format" in fields:
            raise ValueError("the format version is written by EventLog, not passed to emit")
        fields = self.redact.scrub(fields)
        with self._lock:  # agents working in parallel threads share a company's log
            event: Event = {"seq": self._seq, "ts": round(time.time(), 3), "type": type}
            if self._seq == 0 and type in FIRST_KINDS:
                event["format"] = FORMAT
            event.update(fields)
            validate_event(event)
            line = json.dumps(event, ensure_ascii=False, default=str) + "\n"
            # One O_APPEND write of a whole line, then fsync: a killed process leaves at most a torn last line,
            # which read_events drops.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._seq += 1
        for listener in self._listeners:
            listener(event)
        return event


def read_events(path: Path) -> Iterator[Event]:
    """Yields the events of a log, skipping a torn (partially written) line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def drop_torn_tail(path: Path) -> None:
    """Cuts a partial last line left by a killed writer, so the next event starts on a line of its own."""
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)


def runs_dir(home: Path, folder: str = "runs") -> Path:
    """Agent runs live in ``runs``, company runs in ``company``."""
    return home / folder


def list_runs(home: Path, folder: str = "runs") -> list[Path]:
    """Run directories under ``home``, oldest first."""
    root = runs_dir(home, folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / EVENTS_FILE).is_file())


def find_run(home: Path, ref: str, folder: str = "runs") -> Path:
    """A run by id, unique id prefix, or ``last``."""
    runs = list_runs(home, folder)
    if ref == "last" and runs:
        return runs[-1]
    matches = [p for p in runs if p.name == ref] or [p for p in runs if p.name.startswith(ref)]
    if len(matches) != 1:
        found = "no run" if not matches else f"{len(matches)} runs"
        raise LookupError(f"{found} matches {ref!r} under {runs_dir(home, folder)}")
    return matches[0]
