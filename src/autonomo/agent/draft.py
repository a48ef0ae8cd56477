"""The draft: one free-form completion that writes whole files, before the tool loop starts.

A small model writes its best first version of a small program when it answers in plain markdown and sees every
file at once: on the first 26 Exercism tasks the embedded model alone solved 16 this way, while the tool loop
started from the stub solved 14. So when the body can be drafted (a workspace that fits in the prompt whole),
the agent drafts first and spends its tool steps on checking and repairing the draft. The benchmark's
one-shot reference is this same completion with nothing after it.

A draft that fails its tests is redrafted: the same completion from the same files, sampled hot, now also shown
how the tests failed. Repairing through tool calls turned none of 34 failed drafts into a pass on Exercism (the
1.5B model repeats its edits), so fresh whole-file drafts come first. The failed code itself is not shown: shown
it, the model copies it out unchanged, even at temperature 0.7 (Exercism's bob, three redrafts alike). A reply
with no complete code block is a failed draft too (the first drafts of Exercism's luhn and say ran out of tokens
inside their block). A draft that passes the tests ends the run: asking the model to call finish then cost one
more call over the whole prompt, 11-55 s on each of the 24 tasks solved at commit 4c9a3c3, for nothing.
"""

from __future__ import annotations

import ast
import re

from autonomo.body import Draftable
from autonomo.models.base import Message
from autonomo.prompts import render

# A block may be named by a `### path` line just above it; its language tag is optional.
BLOCK = re.compile(r"(?:###\s*`?([\w./-]+)`?\s*\n)?```[\w+-]*[ \t]*\n(.*?)```", re.DOTALL)
HEADING = re.compile(r"###\s*`?([\w./-]+)`?\s*")
FENCE = re.compile(r"```[\w+-]*[ \t]*")
FAILURE_CHARS = 3000  # of the test output a redraft sees: the first failures say the most
MAX_STOPS = 4  # OpenAI's limit on stop sequences
NO_CODE = render("draft.no_code")


def failure_note(output: str) -> str:
    """What a redraft is told about an earlier draft whose tests failed with ``output``."""
    return render("draft.failure", output=output[:FAILURE_CHARS])


def draft_messages(goal: str, draft: Draftable, note: str = "") -> list[Message]:
    """The draft's prompt; ``note``, what went wrong with an earlier draft (``failure_note`` or ``NO_CODE``),
    makes it a redraft."""
    shown = "\n\n".join(
        render("draft.file", name=name, language=fence_language(name), text=text) for name, text in draft.files.items()
    )
    # Naming the files to change keeps the model from copying out the ones that stay (tests, above all).
    wanted = ", ".join(draft.editable) if draft.editable else render("draft.wanted_new")
    return [
        {"role": "system", "content": render("draft.system")},
        {"role": "user", "content": render("draft.request", goal=goal, files=shown, note=note, wanted=wanted)},
    ]


def stop_sequences(draft: Draftable) -> list[str]:
    """Where to cut a draft off: at the heading of a test file it may not write. Small models copy out the tests
    after the code (1,460 completion tokens on Exercism's wordy, half of them the test file), which only costs time.
    Not at other files: cut at `### units/__main__.py`, the entry file company engineers may not write, the unit
    converter's drafts lost the rest of the reply, and with it the open block of their whole `__init__.py`."""
    tests = [n for n in draft.files if n not in draft.editable and is_test(n)]
    return [f"### {name}" for name in tests][:MAX_STOPS]


def is_test(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.startswith("test") or base.endswith(("_test.py", ".test.js", ".spec.js")) or "tests/" in name


def code_blocks(text: str, draft: Draftable) -> list[tuple[str, str]]:
    """(path, content) for each fenced block of a reply that a draft may write, first block per path. An unnamed
    block goes to the only editable file, or is dropped when there is not exactly one; a block for a file that is
    there but not to be changed (the tests) is a copy, not a change: dropped too."""
    default = draft.editable[0] if len(draft.editable) == 1 else None
    found: dict[str, str] = {}
    for name, code in fenced(text):
        path = name or default
        if path and path not in found and (path in draft.editable or path not in draft.files):
            found[path] = code
    there = {*draft.files, *found}
    return [(path, own_imports_dropped(path, code, there)) for path, code in found.items()]


def own_imports_dropped(path: str, code: str, files: set[str]) -> str:
    """``code`` without its imports, from its own package, of names it defines itself, when what they import
    from is the package or a module not among ``files``. The embedded model writes a package's code in its
    ``__init__.py`` and then imports it from there or from modules it never writes: of 12 drafts of T1-06-ratelimit
    (2026-12-04), 8 imported `TokenBucket` from `ratelimit` inside `ratelimit/__init__.py` (a circular import), and
    T1-07-recipescale's imported `main` from `recipescale.main`. Such a line can only fail; the name it asks for is
    the file's own."""
    package = path.rpartition("/")[0].replace("/", ".")
    if not path.endswith(".py") or not package:
        return code
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    defined = {
        target.id if isinstance(target, ast.Name) else target.name
        for node in tree.body
        for target in (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else [node]
        )
        if isinstance(target, (ast.Name, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    spans = [(n.lineno, n.end_lineno or n.lineno) for n in tree.body]
    lines = code.splitlines(keepends=True)
    for node in reversed(tree.body):
        if not isinstance(node, ast.ImportFrom):
            continue
        parts = package.split(".")
        module = (
            ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            if node.level
            else node.module or ""
        )
        inside = module == package or module.startswith(package + ".")
        missing = (
            module == package or not {f"{module.replace('.', '/')}{end}" for end in (".py", "/__init__.py")} & files
        )
        own = all(a.name in defined and a.asname in (None, a.name) for a in node.names)
        alone = sum(start <= node.lineno <= end for start, end in spans) == 1  # no other statement on its lines
        if inside and missing and own and alone:
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def fenced(text: str) -> list[tuple[str, str]]:
    """(name, code) of each fenced block, named by a ``### path`` line above it or as its first line: the embedded
    model often puts the heading inside the fence, and then at times opens a second fence (company engineers'
    drafts of wordfreq/__init__.py, 2026-12-04: every draft had the heading inside; one became a file holding only
    the heading), and at times writes several files in one fence, each under its heading (ratelimit: clock.py,
    TokenBucket.py and SlidingWindowLimiter.py in one block, all of it written to clock.py)."""
    blocks: list[tuple[str, str]] = []
    name, lines, inside = "", None, False
    for line in text.splitlines(keepends=True):
        bare = line.strip()
        if lines is None:
            heading = HEADING.fullmatch(bare)
            if heading:
                name = heading.group(1)
            elif FENCE.fullmatch(bare):
                lines, inside = [], False
            elif bare:
                name = ""
            continue
        heading = HEADING.fullmatch(bare)
        if lines and heading and "." in heading.group(1):  # the next file's heading, in the same fence
            blocks.append((name, "".join(lines)))
            name, lines = heading.group(1), []
        elif not lines and not inside and heading:
            name, inside = heading.group(1), True  # the heading inside the fence
        elif not lines and inside and FENCE.fullmatch(bare) and bare != "```":
            inside = False  # a second fence opened after it
        elif bare.startswith("```") or bare.endswith("```"):  # a fence closed at the end of a line of code, too
            blocks.append((name, "".join(lines) + (line[: line.rindex("```")] if not bare.startswith("```") else "")))
            name, lines = "", None
        else:
            lines.append(line)
    return blocks


def fence_language(name: str) -> str:
    return {".py": "python", ".js": "javascript", ".ts": "typescript", ".sh": "bash"}.get(
        name[name.rfind(".") :] if "." in name else "", ""
    )
