"""Event log and ledger: what a run did and what it cost."""

from autonomo.events.ledger import Ledger
from autonomo.events.log import Event, EventLog, find_run, list_runs, new_run_id, read_events

__all__ = ["Event", "EventLog", "Ledger", "find_run", "list_runs", "new_run_id", "read_events"]
