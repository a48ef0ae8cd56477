"""Where in a repository an issue is: its functions ranked, mostly without the model.

A small model cannot search a large repository (in a free tool loop the embedded 1.5B model converted none of 55
failures on Exercism, whose workspaces are two files), but it can often fix one function it is shown. So the
search is done here: a map of every function from ``ast``; when tests fail, which functions each test ran
(spectrum-based fault localization: a function run by the failing tests and by few passing ones is suspect,
scored by Ochiai, the measure that ranked best in Abreu et al.'s and Pearson et al.'s comparisons); the frames of
their tracebacks; and, with no failing test to go on, BM25 between the issue's words and each function's. Within
the most suspect functions, their lines are ranked the same way.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from autonomo.computer.sandbox import Sandbox
from autonomo.computer.workspace import TEST_FILE, files
from autonomo.repo.testing import run_suite

T = TypeVar("T")
PLUGIN_DIR = Path(__file__).resolve().parent / "plugins"
TRACE_FILE = ".autonomo-trace.json"  # written by the plugin into the workspace, read and removed at once
LINES_FILE = ".autonomo-trace-lines.json"  # the functions whose lines it traces, for it to read
TEST_DIRS = {"tests", "test", "testing", "docs", "doc", "examples", "benchmarks"}
FRAME = re.compile(r"^(\S+\.py):(\d+): in (\S+)", re.MULTILINE)  # pytest --tb=short's frame lines
WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+")


@dataclass(frozen=True)
class Function:
    file: str
    name: str  # qualified: Class.method
    start: int  # first line, its decorators included
    end: int
    body: int  # the def line

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Candidate:
    function: Function
    score: float
    why: str


def source_files(root: Path) -> list[Path]:
    """The repository's own code: not its tests, docs or set-up scripts."""
    return [
        p
        for p in files(root, "*.py")
        if not TEST_FILE.match(p.name)
        and p.name not in ("conftest.py", "setup.py")
        and not TEST_DIRS.intersection(p.relative_to(root).parts[:-1])
    ]


def functions_in(source: str, file: str) -> list[Function]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                name = prefix + child.name
                found.append(Function(file, name, start, child.end_lineno or child.lineno, child.lineno))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found


def repo_map(root: Path) -> list[Function]:
    out: list[Function] = []
    for path in source_files(root):
        out += functions_in(path.read_text(encoding="utf-8", errors="replace"), str(path.relative_to(root)))
    return out


def words(text: str) -> list[str]:
    """An identifier's words, lower-cased: parse_header and parseHeader both give parse, header."""
    return [w.lower() for w in WORD.findall(text)]


def bm25(query: list[str], documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> list[float]:
    n = len(documents)
    if not n:
        return []
    average = sum(map(len, documents)) / n or 1.0
    df = Counter(w for d in documents for w in set(d))
    scores = []
    for d in documents:
        tf = Counter(d)
        s = 0.0
        for w in set(query):
            if tf[w]:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                s += idf * tf[w] * (k1 + 1) / (tf[w] + k1 * (1 - b + b * len(d) / average))
        scores.append(s)
    return scores


def trace(sandbox: Sandbox, command: str, tests: list[str], lines_of: list[Function] = ()) -> dict[str, dict]:
    """Test id -> {"outcome", "functions": [[file, first line], ...]}: which of the repository's functions each
    test ran, and with ``lines_of``, "lines": [[file, line], ...], the lines it ran of those functions. The failing
    tests run with the rest of their files, whose passing tests say what is not at fault."""
    out, wanted = sandbox.workspace / TRACE_FILE, sandbox.workspace / LINES_FILE
    chosen = sorted({t.split("::")[0] for t in tests})
    traced = f"AUTONOMO_TRACE_ROOT=. AUTONOMO_TRACE_OUT={TRACE_FILE} {with_plugin_path(command)} -p autonomo_trace"
    if lines_of:
        wanted.write_text(json.dumps([[f.file, line] for f in lines_of for line in {f.start, f.body}]))
        traced = f"AUTONOMO_TRACE_LINES={LINES_FILE} {traced}"
    try:
        run_suite(sandbox, traced, chosen)
        return json.loads(out.read_text()) if out.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}
    finally:
        out.unlink(missing_ok=True)
        wanted.unlink(missing_ok=True)


def with_plugin_path(command: str) -> str:
    """The command with the plugin's folder first on PYTHONPATH, also where the command sets PYTHONPATH itself
    (``PYTHONPATH=src python -m pytest``: a src layout), which would otherwise hide it."""
    if re.match(r"^(?:[A-Za-z_]\w*=\S*\s+)*PYTHONPATH=", command):
        return re.sub(r"\bPYTHONPATH=", f"PYTHONPATH={PLUGIN_DIR}:", command, count=1)
    return f"PYTHONPATH={PLUGIN_DIR}${{PYTHONPATH:+:$PYTHONPATH}} {command}"


def ochiai(traces: dict[str, dict], key: str, of: Callable[[tuple[str, int]], T | None]) -> dict[T, float]:
    """Ochiai's suspicion of each element the failing tests ran (traces[test][key], each mapped by ``of``): the
    failing tests that ran it over sqrt(all failing tests x all tests that ran it)."""
    failed: Counter[T] = Counter()
    passed: Counter[T] = Counter()
    total_failed = 0
    for result in traces.values():
        bad = result.get("outcome") not in (None, "passed", "skipped")
        total_failed += bad
        for file, line in result.get(key, []):
            element = of((file, line))
            if element is not None:
                (failed if bad else passed)[element] += 1
    if not total_failed:
        return {}
    return {e: n / math.sqrt(total_failed * (n + passed[e])) for e, n in failed.items()}


def localize(
    root: Path, sandbox: Sandbox, command: str, issue: str, failing: list[str], output: str = "", limit: int = 5
) -> list[Candidate]:
    """The functions most likely at fault, best first. ``failing``: tests that fail (the issue's, or a
    reproduction); ``output``: their run's output, for the tracebacks."""
    functions = repo_map(root)
    if not functions:
        return []
    by_line = {(f.file, line): f for f in functions for line in (f.start, f.body)}
    suspicion = ochiai(trace(sandbox, command, failing), "functions", by_line.get) if failing else {}
    frames: set[Function] = set()
    for file, line, _ in FRAME.findall(output):
        frames |= {f for f in functions if f.file == file and f.body <= int(line) <= f.end}
    lines = {file: source_lines(root, file) for file in {f.file for f in functions}}  # each file read once
    texts = [words(f.name) + words("".join(lines[f.file][f.start - 1 : f.end])) for f in functions]
    relevance = bm25(words(issue), texts)
    top = max(relevance) or 1.0
    mentioned = set(re.findall(r"\w+", issue))
    ranked = []
    for f, r in zip(functions, relevance, strict=True):
        spectrum = suspicion.get(f, 0.0)
        score = spectrum + 0.5 * (f in frames) + 0.2 * r / top + 0.2 * (f.short in mentioned)
        if failing and suspicion and not spectrum and f not in frames:
            continue  # the failing tests never ran it
        why = ", ".join(
            part
            for part, on in (
                (f"ochiai {spectrum:.2f}", spectrum),
                ("in a traceback", f in frames),
                (f"bm25 {r:.1f}", r),
                ("named in the issue", f.short in mentioned),
            )
            if on
        )
        ranked.append(Candidate(f, round(score, 4), why))
    ranked.sort(key=lambda c: (-c.score, c.function.end - c.function.start, c.function.file, c.function.start))
    return ranked[:limit]


def suspect_lines(sandbox: Sandbox, command: str, failing: list[str], output: str,
                  functions: list[Function]) -> dict[Function, list[int]]:  # fmt: skip
    """The lines of each function that the failing tests ran, most suspect first: line-level Ochiai from a second
    traced run that traces lines in these functions only, with a traceback's line first. A small model shown the
    line fixes what it does not fix when shown the function: given the changed line of 11 generated bugs (6
    samples each; 3 of them changed two lines), the 1.5B model restored 5; asked for whole functions, it mostly
    copied them unchanged (parse-001 in stop 32's run: 20 of 20 samples)."""
    traces = trace(sandbox, command, failing, functions)
    ranked = {}
    for f in functions:

        def mine(at: tuple[str, int], f: Function = f) -> int | None:
            return at[1] if at[0] == f.file and f.body < at[1] <= f.end else None

        suspicion = ochiai(traces, "lines", mine)
        for file, line, _ in FRAME.findall(output):
            if mine((file, int(line))) is not None:
                suspicion[int(line)] = suspicion.get(int(line), 0.0) + 0.5
        ranked[f] = sorted(suspicion, key=lambda n: (-suspicion[n], n))
    return ranked


def source_lines(root: Path, file: str) -> list[str]:
    return (root / file).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)


def function_source(root: Path, f: Function) -> str:
    return "".join(source_lines(root, f.file)[f.start - 1 : f.end])


def source_of_test(root: Path, test_id: str) -> str:
    """The source of the test a pytest id names (its parameters dropped), or "" when it cannot be found."""
    file, _, name = test_id.partition("::")
    path = root / file
    if not name or not path.is_file():
        return ""
    wanted = name.split("[")[0].split("::")
    source = path.read_text(encoding="utf-8", errors="replace")
    for f in functions_in(source, file):
        if f.name.split(".")[-len(wanted) :] == wanted or f.short == wanted[-1]:
            return "".join(source.splitlines(keepends=True)[f.start - 1 : f.end])
    return ""
