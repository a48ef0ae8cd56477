"""The draft: one free-form completion that writes whole files, before the tool loop starts.

A small model writes its best first version of a small program when it answers in plain markdown and sees every
file at once: on the first 26 Exercism tasks the embedded model alone solved 16 this way, while the tool loop
started from the stub solved 14. So when the whole workspace fits in the prompt, the agent drafts first and
spends its tool steps on checking and repairing the draft. The benchmark's one-shot reference is this same
completion with nothing after it.

A draft that fails its tests is redrafted: the same completion from the same files, sampled hot, now also shown
how the tests failed. Repairing through tool calls turned none of 34 failed drafts into a pass on Exercism (the
1.5B model repeats its edits), so fresh whole-file drafts come first. The failed code itself is not shown: shown
it, the model copies it out unchanged, even at temperature 0.7 (Exercism's bob, three redrafts alike). A reply
with no complete code block is a failed draft too (the first drafts of Exercism's luhn and say ran out of tokens
inside their block). A draft that passes the tests ends the run: asking the model to call finish then cost one
more call over the whole prompt, 11-55 s on each of the 24 tasks solved at commit 4c9a3c3, for nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from autonomo.computer.tools import TEST_FILE
from autonomo.models.base import Message

SYSTEM = "You are an expert programmer."
# A block may be named by a `### path` line just above it; its language tag is optional.
BLOCK = re.compile(r"(?:###\s*`?([\w./-]+)`?\s*\n)?```[\w+-]*[ \t]*\n(.*?)```", re.DOTALL)
FAILURE_CHARS = 3000  # of the test output a redraft sees: the first failures say the most
MAX_STOPS = 4  # OpenAI's limit on stop sequences


NO_CODE = "An earlier reply wrote no file: it had no complete fenced code block. Reply with the code only."


def failure_note(output: str) -> str:
    """What a redraft is told about an earlier draft whose tests failed with ``output``."""
    return f"An earlier version failed the tests like this:\n```\n{output[:FAILURE_CHARS]}\n```"


def draft_messages(goal: str, files: dict[str, str], wanted: str, note: str = "") -> list[Message]:
    """``wanted`` says which files to write, e.g. "leap.py" or "each file you create"; ``note``, what went wrong
    with an earlier draft (``failure_note`` or ``NO_CODE``), makes this a redraft."""
    shown = "\n\n".join(f"### {name}\n```{fence_language(name)}\n{text}\n```" for name, text in files.items())
    earlier = f"{note}\n\n" if note else ""
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"{goal}\n\nThe files:\n\n{shown or '(none yet)'}\n\n{earlier}Reply with the complete "
            f"new content of {wanted}, each in its own fenced block preceded by a "
            "line `### <file name>`.",
        },
    ]


def stop_sequences(files: list[str], editable: list[str]) -> list[str]:
    """Where to cut a draft off: at the heading of a file it may not write. Small models copy out the tests after
    the code (1,460 completion tokens on Exercism's wordy, half of them the test file), which only costs time."""
    return [f"### {name}" for name in files if name not in editable][:MAX_STOPS]


def editable_files(names: list[str], protected: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The given files a draft may rewrite: not the tests, not the protected ones."""
    return [n for n in names if n not in protected and not TEST_FILE.match(Path(n).name)]


def code_blocks(text: str, editable: list[str]) -> list[tuple[str, str]]:
    """(path, content) for each fenced block of a reply, first block per path; an unnamed block goes to the only
    editable file, or is dropped when there is not exactly one."""
    default = editable[0] if len(editable) == 1 else None
    found: dict[str, str] = {}
    for name, code in BLOCK.findall(text):
        path = name or default
        if path and path not in found:
            found[path] = code
    return list(found.items())


def fence_language(name: str) -> str:
    return {".py": "python", ".js": "javascript", ".ts": "typescript", ".sh": "bash"}.get(
        name[name.rfind(".") :] if "." in name else "", ""
    )
