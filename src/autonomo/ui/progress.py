"""Terminal view of a run, drawn from its events: the same code renders a live run and a replay."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status
from rich.table import Table

from autonomo.events import Event, Ledger, Outcome

PREVIEW = 160


def one_line(text: object, limit: int = PREVIEW) -> str:
    """Model and tool text flattened, shortened and escaped: it must never be read as rich markup."""
    flat = " ".join(str(text).split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


class ProgressView:
    """An event listener. ``live`` adds a status line with the running totals while a step is in flight."""

    def __init__(self, console: Console | None = None, live: bool = True) -> None:
        self.console = console or Console()
        self.ledger = Ledger()
        self.step = 0
        self.status: Status | None = self.console.status("starting") if live else None
        if self.status:
            self.status.start()

    def _totals(self) -> str:
        led = self.ledger
        return (
            f"step {self.step} · tokens in {led.prompt_tokens} (evaluated {led.prompt_tokens_evaluated}) "
            f"out {led.completion_tokens} · {led.elapsed:.0f}s · ${led.cost_usd:.4f}"
        )

    def __call__(self, event: Event) -> None:
        self.ledger.add(event)
        kind = event["type"]
        c = self.console
        if kind == "run_started":
            body = event.get("body") or event.get("sandbox")  # logs older than the Body protocol say sandbox
            c.print(f"[bold]autonomo[/] run · model [cyan]{one_line(event['model'])}[/] · body {body}")
            c.print(f"[bold]goal:[/] {one_line(event['goal'], 400)}")
        elif kind == "model_call":
            self.step = event.get("step", self.step)
            if event.get("error"):
                retry = f" (retrying in {event['retry_in']:g} s)" if "retry_in" in event else ""
                c.print(f"[red]step {self.step}: model error{retry}:[/] {one_line(event['error'])}")
            else:
                draft = " (draft)" if event.get("draft") else ""
                c.print(
                    f"[dim]step {self.step}{draft} · {event['seconds']:.1f}s · in {event['prompt_tokens']} "
                    f"(evaluated {event['prompt_tokens_evaluated']}) out {event['completion_tokens']}[/]"
                )
        elif kind == "tool_call":
            c.print(f"  [yellow]→ {event['name']}[/] {one_line(event['arguments'])}", highlight=False)
        elif kind == "observation":
            mark = "[green]✓[/]" if event["ok"] else "[red]✗[/]"
            c.print(f"    {mark} {one_line(event['output'])}", highlight=False)
        elif kind == "verification":
            mark = "[green]passed[/]" if event["passed"] else "[red]failed[/]"
            c.print(f"  [bold]tests[/] {mark} {one_line(event.get('summary', ''))}")
        elif kind == "run_resumed":
            c.print(f"[magenta]resumed[/] from the log ({event['after_events']} events)")
        elif kind in ("budget_stop", "context_compacted"):
            c.print(f"[magenta]{kind.replace('_', ' ')}:[/] {one_line(event.get('reason', event.get('messages', '')))}")
        elif kind == "run_finished":
            self.close()
            c.print(summary_panel(event))
        if self.status:
            self.status.update(self._totals())

    def close(self) -> None:
        if self.status:
            self.status.stop()
            self.status = None


def summary_panel(event: Event) -> Panel:
    totals = event["totals"]
    table = Table.grid(padding=(0, 2))
    table.add_row("outcome", f"[bold]{event['outcome']}[/]")
    if event.get("summary"):
        table.add_row("summary", one_line(event["summary"], 300))
    table.add_row("tests", one_line(event["tests"]))
    changed = event["files_changed"]
    table.add_row(
        "files changed", one_line(", ".join(changed[:20]) + (" …" if len(changed) > 20 else ""), 2000) or "none"
    )
    table.add_row(
        "model",
        f"{totals['model_calls']} calls · {totals['prompt_tokens']} prompt tokens "
        f"({totals['prompt_tokens_evaluated']} evaluated) · {totals['completion_tokens']} completion tokens",
    )
    table.add_row(
        "cost",
        f"${totals['cost_usd']:.4f} · {totals['elapsed_seconds']:.1f}s wall · {totals['model_seconds']:.1f}s in model",
    )
    table.add_row("tools", f"{totals['tool_calls']} calls · {totals['tool_errors']} errors")
    style = "green" if event["outcome"] == Outcome.COMPLETED and event.get("tests_passed") else "red"
    return Panel(table, title="run summary", border_style=style, expand=False)
