"""Event log and ledger: what a run did and what it cost. schema.py declares every kind of event (docs/events.md)."""

from autonomo.events.ledger import Ledger
from autonomo.events.log import Event, EventLog, find_run, list_runs, new_run_id, read_events
from autonomo.events.schema import (
    FORMAT,
    KINDS,
    CompanyOutcome,
    EventModel,
    ItemState,
    Outcome,
    log_format,
    model_for,
    validate_event,
)

__all__ = [
    "FORMAT",
    "KINDS",
    "CompanyOutcome",
    "Event",
    "EventLog",
    "EventModel",
    "ItemState",
    "Ledger",
    "Outcome",
    "find_run",
    "list_runs",
    "log_format",
    "model_for",
    "new_run_id",
    "read_events",
    "validate_event",
]
