"""Writes that a kill cannot tear: a file is either its old content or its new content."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block ends without an error it replaces ``path`` in
    one rename (keeping its mode), else it is removed and ``path`` is left as it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.autonomo-tmp")  # one per writer
    try:
        yield tmp
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def slug(text: str, limit: int | None = None) -> str:
    """A name safe as one path component and one git branch segment: lower-case kebab ("Unit_Converter" and
    "HumanEval/0" too), cut to ``limit`` characters when one is given."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit]
