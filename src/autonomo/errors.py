"""The one base class of set-up errors: what is wrong before a run can start (a bad --model, a missing extra, a
sandbox the host cannot give, a bad scene or policy file). The CLI maps every one of them to a one-line message
and exit code 2 in one place; anything else that escapes is a bug, not bad input."""

from __future__ import annotations


class SetupError(Exception):
    """A run cannot be set up as asked; the message says what to change."""
