"""Bugs put into a repository's own code, SWE-smith style, so that its own tests become benchmark tasks.

Each mutation is one small, realistic slip (a flipped comparison, an off-by-one, a dropped line, ...) found
procedurally in the module's AST: the same source always gives the same mutations, in source order. A mutation only
swaps one source segment for another, so the rest of the file stays byte-identical and the fix is a one-hunk diff;
positions are ast's (line, UTF-8 byte column), and every mutation returned is checked to parse and to change the AST.
Which mutations make a passing test fail is decided elsewhere, by running the tests.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import random
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

KINDS = (
    "flip_comparison",
    "off_by_one",
    "drop_statement",
    "swap_arguments",
    "change_constant",
    "invert_condition",
    "swap_operator",
)
COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
COMPARISONS |= {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.And: "and", ast.Or: "or"}
PAIRS = [("<", "<="), (">", ">="), ("==", "!="), ("is", "is not"), ("in", "not in"), ("+", "-"), ("and", "or")]
FLIPS = dict(PAIRS) | {b: a for a, b in PAIRS}
ATOMS = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)  # `not x` needs no parentheses
DROPPED = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return)  # with a value; and calls


@dataclass(frozen=True)
class Mutation:
    """One bug: where it goes and the text that makes it, enough to apply it to the file or to undo it."""

    path: str  # file path as given by the caller
    kind: str  # one of KINDS
    line: int  # 1-based line of the changed code
    function: str  # qualified name of the enclosing function or method, e.g. "Parser.parse"
    start: tuple[int, int]  # (line, UTF-8 byte column) where the replaced segment starts, as ast counts
    end: tuple[int, int]  # (line, UTF-8 byte column) just past its end
    before: str  # the exact source segment replaced
    after: str  # its replacement


class _Text:
    """Converts between ast's (line, byte column) positions and offsets into the str, which differ on non-ASCII
    lines. Lines end as the tokenizer ends them (\\n, \\r\\n or \\r), not as str.splitlines does."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", source)]

    def line(self, number: int) -> str:
        if not 1 <= number <= len(self.starts):
            raise ValueError(f"no line {number}")
        stop = self.starts[number] if number < len(self.starts) else len(self.source)
        return self.source[self.starts[number - 1] : stop]

    def offset(self, number: int, col: int) -> int:
        text = self.line(number)
        if not text.isascii():
            encoded = text.encode()
            if col > len(encoded):
                raise ValueError(f"no column {col} on line {number}")
            col = len(encoded[:col].decode())  # UnicodeDecodeError (a ValueError) mid-character
        elif col > len(text):
            raise ValueError(f"no column {col} on line {number}")
        return self.starts[number - 1] + col

    def position(self, offset: int) -> tuple[int, int]:
        number = bisect.bisect_right(self.starts, offset)
        return number, len(self.source[self.starts[number - 1] : offset].encode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def of(self, node: ast.AST) -> str:
        a, b = self.span(node)
        return self.source[a:b]


def mutations(source: str, path: str = "") -> list[Mutation]:
    """Every single mutation of the module's functions, in source order (deterministic). Module and class level
    code, decorators, default values, annotations, docstrings, f-strings, ``test*`` functions and the
    ``__main__`` block are left alone: a bug there is rarely a bug a test of the function can find. A file that
    does not parse (a syntax error, Python 2) has none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences warn on every parse of the file
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            return []
        text, found = _Text(source), []
        for unit, prefix in _units(tree):  # each mutation is checked in its unit alone: the rest is unchanged
            first = min([unit.lineno] + [d.lineno for d in getattr(unit, "decorator_list", [])])
            begin, end = text.starts[first - 1], text.starts[unit.end_lineno - 1] + len(text.line(unit.end_lineno))
            head = "if 1:\n" if prefix else ""  # a class member is indented
            original = None
            for node, parent, block, function in _nodes(unit, prefix):
                for kind, a, b, after in _candidates(text, node, parent, block):
                    original = original or _dump(head + source[begin:end])
                    if _dump(head + source[begin:a] + after + source[b:end]) not in (None, original):
                        start = text.position(a)
                        found.append(
                            Mutation(path, kind, start[0], function, start, text.position(b), source[a:b], after)
                        )
    return sorted(found, key=lambda m: (m.start, m.end, KINDS.index(m.kind)))


def apply(source: str, *chosen: Mutation) -> str:
    """The source with the given mutations applied, applied from the last to the first so that the offsets of
    the earlier ones hold. Raises ValueError if two overlap or a segment no longer reads ``before`` (the file
    changed since the mutations were found)."""
    text = _Text(source)
    spans = sorted([((text.offset(*m.start), text.offset(*m.end)), m) for m in chosen], key=lambda s: s[0])
    for (a, b), m in spans:
        if source[a:b] != m.before:
            raise ValueError(f"{m.path}:{m.line}: the source no longer reads {m.before!r}")
    for ((_, end), m), ((start, _), n) in itertools.pairwise(spans):
        if start < end:
            raise ValueError(f"{m.path}:{m.line}: {m.kind} overlaps {n.kind} on line {n.line}")
    for (a, b), m in reversed(spans):
        source = source[:a] + m.after + source[b:]
    return source


def combine(found: list[Mutation], rng: random.Random) -> tuple[Mutation, Mutation] | None:
    """Two mutations in the same function that do not overlap, chosen with rng: a harder bug, with two places to
    find. Never two dropped statements, which might empty a block. None if no function has such a pair."""
    functions: dict[tuple[str, str], list[Mutation]] = {}
    for m in found:
        functions.setdefault((m.path, m.function), []).append(m)
    groups = [sorted(g, key=lambda m: (m.start, m.end)) for _, g in sorted(functions.items())]
    rng.shuffle(groups)
    for group in groups:
        pairs = [
            (m, n)
            for m, n in itertools.combinations(group, 2)
            if m.end <= n.start and not m.kind == n.kind == "drop_statement"
        ]
        if pairs:
            return rng.choice(pairs)
    return None


def _units(tree: ast.Module) -> Iterator[tuple[ast.stmt, str]]:
    """The statements that parse on their own, each with the prefix of the names defined in it: the module's, and
    its classes' members (parsing a method rather than its whole class, for each mutation, is much faster)."""
    for top in tree.body:
        if isinstance(top, ast.ClassDef):
            yield from ((member, top.name + ".") for member in top.body)
        else:
            yield top, ""


def _nodes(unit: ast.stmt, prefix: str) -> Iterator[tuple[ast.AST, ast.AST | None, list | None, str]]:
    """(node, parent, the statement list it is in or None, enclosing function) for each node a bug may go in."""
    stack: list[tuple[ast.AST, ast.AST | None, list | None, str, str]] = [(unit, None, None, prefix, "")]
    while stack:
        node, parent, block, prefix, function = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if not isinstance(node, ast.ClassDef) and node.name.startswith("test"):
                continue
            prefix += node.name + "."
            function = function if isinstance(node, ast.ClassDef) else prefix[:-1]
            skip = 1 if ast.get_docstring(node, clean=False) is not None else 0
            children = [(s, node.body) for s in node.body[skip:]]  # decorators, defaults and bases are not
        elif isinstance(node, ast.JoinedStr) or _main_guard(node):
            continue
        else:
            if function:
                yield node, parent, block, function
            children = [
                (child, value if isinstance(child, ast.stmt) else None)
                for field, value in ast.iter_fields(node)
                if field != "annotation" and not (isinstance(node, ast.Lambda) and field == "args")
                for child in (value if isinstance(value, list) else [value])
                if isinstance(child, ast.AST)
            ]
        stack.extend((child, node, block, prefix, function) for child, block in reversed(children))


def _main_guard(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("__name__ == '__main__'", "'__main__' == __name__")


def _candidates(text: _Text, node: ast.AST, parent: ast.AST, block: list | None) -> Iterator[tuple[str, int, int, str]]:
    """(kind, start offset, end offset, replacement) for each mutation of this node."""
    if isinstance(node, ast.Compare):
        for (left, right), op in zip(itertools.pairwise([node.left, *node.comparators]), node.ops, strict=True):
            yield from _operator(text, "flip_comparison", left, COMPARISONS[type(op)], right)
    elif isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        yield from _operator(text, "swap_operator", node.left, OPERATORS[type(node.op)], node.right)
    elif isinstance(node, ast.BoolOp):
        for left, right in itertools.pairwise(node.values):
            yield from _operator(text, "swap_operator", left, OPERATORS[type(node.op)], right)
    elif isinstance(node, ast.Call) and len(node.args) >= 2:
        (a, b), (c, d) = text.span(node.args[0]), text.span(node.args[1])
        first, between, second = text.source[a:b], text.source[b:c], text.source[c:d]
        if first != second:
            yield "swap_arguments", a, d, second + between + first
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield "change_constant", *text.span(node), str(not node.value)
    if _int(node) and not (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub)):
        yield from _off_by_one(text, node, node.value, parent)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _int(node.operand):
        yield from _off_by_one(text, node, -node.operand.value, parent)
    if isinstance(parent, ast.If | ast.While | ast.IfExp) and parent.test is node:
        test = text.of(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield "invert_condition", *text.span(node), test.removeprefix("not").lstrip()
        else:
            yield "invert_condition", *text.span(node), f"not {test}" if isinstance(node, ATOMS) else f"not ({test})"
    if block is not None and _droppable(node):
        yield from _drop(text, node, alone=len(block) == 1)


def _operator(text: _Text, kind: str, left: ast.AST, op: str, right: ast.AST) -> Iterator[tuple[str, int, int, str]]:
    """The operator between two operands flipped: only the operator's own text changes. Skipped when a comment
    sits between the operands."""
    a, b = text.span(left)[1], text.span(right)[0]
    m = re.fullmatch(r"[\s()\\]*(.*?)[\s()\\]*", text.source[a:b], re.DOTALL)
    if m and " ".join(m.group(1).split()) == op:
        yield kind, a + m.start(1), a + m.end(1), FLIPS[op]


def _int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int  # bools are ints, but not here


def _off_by_one(text: _Text, node: ast.AST, value: int, parent: ast.AST) -> Iterator[tuple[str, int, int, str]]:
    """An int used as a count, an index or a bound, one off (up from 0, else down); a negative one is one further."""
    counted = (
        isinstance(parent, ast.BinOp | ast.AugAssign | ast.Slice | ast.Compare)
        or (isinstance(parent, ast.Subscript) and parent.slice is node)
        or (
            isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Name)
            and parent.func.id == "range"
            and any(arg is node for arg in parent.args)
        )
    )
    if counted:
        yield "off_by_one", *text.span(node), str(value + 1 if value == 0 else value - 1)


def _droppable(node: ast.AST) -> bool:
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Call | ast.Await)
    return isinstance(node, DROPPED) and getattr(node, "value", None) is not None


def _drop(text: _Text, node: ast.stmt, alone: bool) -> Iterator[tuple[str, int, int, str]]:
    """The statement's whole lines removed, or made ``pass`` when the block would be left empty. Skipped when the
    statement shares a line with another (``a = 1; b = 2``, ``if x: return y``)."""
    a, b = text.span(node)
    start, last = text.starts[node.lineno - 1], text.line(node.end_lineno)
    stop = text.starts[node.end_lineno - 1] + len(last)
    indent, rest = text.source[start:a], text.source[b:stop]
    if indent.strip() or rest.strip() and not rest.lstrip().startswith("#"):
        return
    newline = rest[len(rest.rstrip("\r\n")) :]
    yield "drop_statement", start, stop, f"{indent}pass{newline}" if alone else ""


def _dump(code: str) -> str | None:
    """The code's AST without positions, to tell a real change from a change of formatting; None if it does not
    parse."""
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError):
        return None
