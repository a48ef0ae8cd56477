"""The workspace as the computer body sees it: its files, what a run changed, and what the model is shown."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from autonomo.prompts import render

# Folders that never hold the workspace's own files.
SKIP_DIRS = {".git", ".autonomo", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache"}
TEST_FILE = re.compile(r"(^test_.*|.*_test)\.py$")  # pytest's default file pattern
SHOWN_CHARS = 16_000  # file contents put in the first message
SHOWN_FILES = 50


def files(root: Path, pattern: str = "*") -> Iterator[Path]:
    """The workspace's own files matching ``pattern``, lazily (a check can stop at the first)."""
    for path in root.rglob(pattern):
        if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(root).parts):
            yield path


def snapshot(root: Path) -> dict[str, str]:
    """Content hash of every file in the workspace, to report what a run changed."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in files(root)}


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def has_python_tests(root: Path) -> bool:
    """Asked before every test run (after every write): stops at the first test file."""
    return any(TEST_FILE.match(p.name) for p in files(root, "*.py"))


def shown_files(root: Path, names: dict[str, str], budget: int = SHOWN_CHARS) -> dict[str, str]:
    """The small text files the agent is shown in full at the start (so it starts from what is there, rather
    than guessing at contents), within a character budget."""
    shown = {}
    for name in sorted(names)[:SHOWN_FILES]:
        text = (root / name).read_bytes().decode("utf-8", errors="replace")
        if len(text) <= budget and "\x00" not in text:
            budget -= len(text)
            shown[name] = text
    return shown


def listing(names: dict[str, str], shown: dict[str, str]) -> str:
    """The workspace as the agent first sees it: the shown files in full, the rest by name."""
    ordered = sorted(names)
    parts = [
        render("computer.listing_file", name=n, text=shown[n].rstrip())
        if n in shown
        else render("computer.listing_name", name=n)
        for n in ordered[:SHOWN_FILES]
    ]
    text = "\n".join(parts) or render("computer.listing_empty")
    more = len(ordered) - SHOWN_FILES
    return text + ("\n" + render("computer.listing_more", count=more) if more > 0 else "")


def describe(root: Path) -> str:
    """The listing of a workspace as it is now (the company's planner and QA read the main line this way)."""
    names = snapshot(root)
    return listing(names, shown_files(root, names))


def editable_files(names: list[str], protected: list[str]) -> list[str]:
    """The given files a draft may rewrite: not the tests, not the protected ones."""
    return [n for n in names if n not in protected and not TEST_FILE.match(Path(n).name)]
