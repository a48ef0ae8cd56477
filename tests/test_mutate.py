"""Mutations: each kind where a bug goes and nowhere else, exact text edits, apply's checks, combined bugs."""

from __future__ import annotations

import ast
import random

import pytest

from autonomo.repo.mutate import KINDS, Mutation, apply, combine, mutations

SAMPLE = '''\
"""Module docstring: 1 < 2."""

LIMIT = 2 + 3


class Window:
    def clip(self, items, size=1 + 1):
        """The first size items: 1 < 2."""
        if size <= 0 and self.strict:
            return []
        end = min(size, len(items))
        self.clipped = True
        return items[: end - 1] if not self.open else None
'''

# Left alone: module and class level code, decorators, defaults, annotations, docstrings, f-strings, test functions
# and the __main__ block. Only the return statement holding the f-string can go.
UNTOUCHED = '''\
import functools

X = [1 + 2 for i in range(3) if i < 2]


@functools.lru_cache(maxsize=1 + 1)
def cached(a=1 < 2, *, b=True, c=lambda x=1 + 1: x) -> int:
    """Docstring: 1 + 1 < 3."""


def shown(a: list[1 + 1], b: bool = not True) -> dict[0, 1]:
    n: list[1 + 1]
    return f"{a + 1 if a < 2 else b}"


class Config:
    debug = not True

    def test_size(self):
        assert self.size + 1 == 3


def test_module():
    assert cached(1, 2) - 1 < 2


if __name__ == "__main__":

    def main():
        return 1 + 2

    print(main(), 0)
'''


def one(source: str, kind: str, before: str) -> Mutation:
    [m] = [m for m in mutations(source) if m.kind == kind and m.before == before]
    return m


def test_every_kind_in_source_order():
    found = mutations(SAMPLE, "w.py")
    assert [(m.kind, m.line, m.before, m.after) for m in found] == [
        ("invert_condition", 9, "size <= 0 and self.strict", "not (size <= 0 and self.strict)"),
        ("flip_comparison", 9, "<=", "<"),
        ("off_by_one", 9, "0", "1"),
        ("swap_operator", 9, "and", "or"),
        ("drop_statement", 10, "            return []\n", "            pass\n"),
        ("drop_statement", 11, "        end = min(size, len(items))\n", ""),
        ("swap_arguments", 11, "size, len(items)", "len(items), size"),
        ("drop_statement", 12, "        self.clipped = True\n", ""),
        ("change_constant", 12, "True", "False"),
        ("drop_statement", 13, "        return items[: end - 1] if not self.open else None\n", ""),
        ("swap_operator", 13, "-", "+"),
        ("off_by_one", 13, "1", "0"),
        ("invert_condition", 13, "not self.open", "self.open"),
    ]
    assert {m.kind for m in found} == set(KINDS)
    assert {(m.path, m.function) for m in found} == {("w.py", "Window.clip")}
    assert mutations(SAMPLE, "w.py") == found


def test_mutated_source_is_exact():
    dropped = apply(SAMPLE, one(SAMPLE, "drop_statement", "        end = min(size, len(items))\n"))
    assert dropped == SAMPLE.replace("        end = min(size, len(items))\n", "")
    only = apply(SAMPLE, one(SAMPLE, "drop_statement", "            return []\n"))
    assert only == SAMPLE.replace("            return []\n", "            pass\n")
    inverted = apply(SAMPLE, one(SAMPLE, "invert_condition", "size <= 0 and self.strict"))
    assert inverted == SAMPLE.replace("if size <= 0 and self.strict:", "if not (size <= 0 and self.strict):")
    flipped = apply(SAMPLE, one(SAMPLE, "flip_comparison", "<="))
    assert flipped == SAMPLE.replace("if size <= 0", "if size < 0")


@pytest.mark.parametrize(
    ("line", "kind", "before", "expected"),
    [
        ("return x[-1]", "off_by_one", "-1", "return x[-2]"),
        ("return range(0, n)", "off_by_one", "0", "return range(1, n)"),
        ("return x[i + 2 :]", "off_by_one", "2", "return x[i + 1 :]"),
        ("i += 1", "off_by_one", "1", "i += 0"),
        ("return a is not None", "flip_comparison", "is not", "return a is None"),
        ("return a in b", "flip_comparison", "in", "return a not in b"),
        ("return a > b >= c", "flip_comparison", ">=", "return a > b > c"),
        ("return (a) - (b)", "swap_operator", "-", "return (a) + (b)"),
        ("return a or b and c", "swap_operator", "or", "return a and b and c"),
        ("return f((a), b, c)", "swap_arguments", "a), b", "return f((b), a, c)"),
        ("return a if b else c", "invert_condition", "b", "return a if not b else c"),
        ("while not (a or\n b): pass", "invert_condition", "not (a or\n b)", "while (a or\n b): pass"),
        ("if a == b or c: pass", "invert_condition", "a == b or c", "if not (a == b or c): pass"),
    ],
)
def test_single_mutations(line, kind, before, expected):
    source = f"def f(x, i, n, a, b, c):\n    {line}\n    return i\n"
    assert apply(source, one(source, kind, before)) == source.replace(line, expected)


def test_the_rest_of_the_file_stays_byte_identical():
    for source in (SAMPLE, "def greet(name):\n    return 'héllo, ' + name[1:] if name != 'ü' else None\n"):
        lines, tree = source.splitlines(keepends=True), ast.dump(ast.parse(source))
        found = mutations(source)
        assert found
        for m in found:
            (l0, c0), (l1, c1) = m.start, m.end  # byte columns, counted here independently of the module
            head = "".join(lines[: l0 - 1]) + lines[l0 - 1].encode()[:c0].decode()
            tail = ("".join(lines[l1 - 1 :]).encode()[c1:]).decode()
            assert source == head + m.before + tail
            mutated = apply(source, m)
            assert mutated == head + m.after + tail
            assert ast.dump(ast.parse(mutated)) != tree


def test_non_ascii_columns_are_utf8_bytes():
    source = "def greet(name):\n    return 'héllo, ' + name[1:]\n"
    swap = one(source, "swap_operator", "+")
    assert swap.start == (2, 22) and swap.end == (2, 23)  # 'é' is two bytes: the + is the 21st character
    assert apply(source, swap) == "def greet(name):\n    return 'héllo, ' - name[1:]\n"
    assert apply(source, one(source, "off_by_one", "1")) == "def greet(name):\n    return 'héllo, ' + name[0:]\n"


def test_left_alone():
    assert [(m.kind, m.function, m.before) for m in mutations(UNTOUCHED)] == [
        ("drop_statement", "shown", '    return f"{a + 1 if a < 2 else b}"\n')
    ]


def test_statements_dropped_by_whole_lines_only():
    source = "def f(a):\r\n    a = 1; b = 2\r\n    if a: return b\r\n    g(a)  # note\r\n"
    [m] = [m for m in mutations(source) if m.kind == "drop_statement"]
    assert apply(source, m) == "def f(a):\r\n    a = 1; b = 2\r\n    if a: return b\r\n"
    alone = "def f(a):\n    for x in a:\n        print(x)\n"
    assert apply(alone, one(alone, "drop_statement", "        print(x)\n")) == alone.replace("print(x)", "pass")


def test_qualified_function_names():
    source = "def outer(a):\n    def inner(b):\n        return b + 1\n    return inner(a - 1)\n"
    assert {m.before: m.function for m in mutations(source) if m.kind == "swap_operator"} == {
        "+": "outer.inner",
        "-": "outer",
    }


def test_apply_rejects_overlaps_and_stale_mutations():
    drop = one(SAMPLE, "drop_statement", "        end = min(size, len(items))\n")
    swap = one(SAMPLE, "swap_arguments", "size, len(items)")
    with pytest.raises(ValueError, match="overlaps"):
        apply(SAMPLE, swap, drop)
    with pytest.raises(ValueError, match="overlaps"):
        apply(SAMPLE, swap, swap)
    with pytest.raises(ValueError, match="no longer reads"):
        apply(SAMPLE.replace("min(size,", "min(limit,"), swap)
    with pytest.raises(ValueError):
        apply("def f():\n    pass\n", swap)
    assert apply(SAMPLE) == SAMPLE


def test_combine_two_in_one_function():
    found = mutations(SAMPLE) + mutations("def other(a, b):\n    return a + b\n")
    pair = combine(found, random.Random(7))
    assert pair is not None and pair == combine(found, random.Random(7))
    first, second = pair
    assert first.function == second.function and first.end <= second.start
    mutated = apply(SAMPLE if first.function == "Window.clip" else "def other(a, b):\n    return a + b\n", *pair)
    ast.parse(mutated)
    assert {combine(found, random.Random(seed)) for seed in range(20)} > {pair}  # the rng chooses


def test_combine_none_without_a_pair():
    assert combine([], random.Random(0)) is None
    lone = mutations("def f(a):\n    return a + 1\n") + mutations("def g(a):\n    return -a\n", "g.py")
    assert combine([m for m in lone if m.kind != "drop_statement"][:1] + lone[-1:], random.Random(0)) is None
    drops = [m for m in mutations("def f(a):\n    a.x()\n    a.y()\n") if m.kind == "drop_statement"]
    assert len(drops) == 2 and combine(drops, random.Random(0)) is None  # both gone would empty the block


@pytest.mark.parametrize("source", ["def f(:\n    pass\n", "def f():\n    print 'hi'\n", "x = 1\0\n", ""])
def test_unparsable_or_empty_gives_none(source):
    assert mutations(source) == []
