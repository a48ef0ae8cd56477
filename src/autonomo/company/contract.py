"""The request's interface as a contract: the files it fixes, and the planner's checks held to it.

Seen on the embedded model (BENCHMARKS.md, the unit converter): planners wrote checks that could never pass (a
unittest run expected to print ``All tests passed!``, a library item checked through the command line another item
was to build), and engineers spent every round against them. So a check is vetted before any engineer sees it:
its own code must compile and import only the standard library and the product, what it runs must be built by its
item or the items that item depends on, and on an empty implementation it must fail (a check that passes with no
code written tests nothing).
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from autonomo.company.plan import Check, WorkItem
from autonomo.computer.sandbox import Sandbox
from autonomo.computer.workspace import files as workspace_files

MAX_RULES = 6  # checks written per request: each is a model call over the whole interface
RULE_CHARS = 800
LAYOUT_RULE = re.compile(r"standard library|package directory|at the top level", re.I)
VET_TIMEOUT = 20.0  # a check on an empty product fails fast; a server that never starts is given up on
NOT_COPIED = {".git", ".autonomo"}  # into the empty product: the rest (a .venv, say) is there as on main
TOOLS = ("pytest", "pip", "coverage")  # `python -m pytest` in an interface runs tests; it is not the product
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "(", ")"}
DATA_FILE = re.compile(r"[\w./-]+\.(txt|csv|tsv|json|ini|cfg|conf|log|md|toml|ya?ml|xml|html?|dat|db)")
OUTPUT_FLAGS = {"-o", "--out", "--output"}
FENCED = re.compile(r"^\s*```.*?\n(.*?)^\s*```", re.M | re.S)


# `python -m PKG` runs PKG/__main__.py. Written for the engineers: the embedded model's __main__.py files imported
# main and never called it, or were a comment (T1-02-wordfreq, 12 drafts), so no check of the command could pass.
ENTRY = '''"""`python -m {package}` runs {package}.main(), which reads sys.argv and returns the exit status."""

import sys

from {package} import main

sys.exit(main())
'''


@dataclass
class Contract:
    interface: str  # the request's "## Interface" section, verbatim ("" when it has none)
    files: list[str] = field(default_factory=list)  # the files the interface fixes, e.g. pkg/__main__.py
    entry: dict[str, str] = field(default_factory=dict)  # of those, the ones written for the engineers (ENTRY)

    @property
    def packages(self) -> list[str]:
        """The packages run as `python -m PKG`: their main() is in PKG/__init__.py."""
        return [Path(f).parts[0] for f in self.entry]

    @property
    def modules(self) -> set[str]:
        """The product's top-level modules and packages (a check may import these)."""
        return tops(self.files)


def tops(paths: Iterable[str]) -> set[str]:
    """The top-level module or package each path is in (``pkg/core.py``: pkg; ``app.py``: app)."""
    return {Path(p).parts[0].removesuffix(".py") for p in paths}


def contract(request: str) -> Contract:
    """The interface a request fixes. Only what it names exactly counts: ``python -m NAME``, ``import NAME``,
    ``from NAME[.SUB] import``, ``python PATH.py``, a package directory ``NAME/`` and a file-layout tree."""
    found = re.search(r"^#{1,6}\s*Interface\b.*?$(.*?)(?=^#{1,2}\s|\Z)", request, re.MULTILINE | re.DOTALL)
    interface = found.group(0).strip() if found else ""
    files: list[str] = []

    def add(*paths: str) -> None:
        for path in paths:
            (top,) = tops([path])
            if top.isidentifier() and top not in (*sys.stdlib_module_names, *TOOLS) and path not in files:
                files.append(path)

    fenced = [line.strip() for block in FENCED.findall(interface) for line in block.splitlines()]
    for span in re.findall(r"`([^`\n]+)`", interface) + fenced:
        for name in re.findall(r"\bpython3? -m ([A-Za-z_]\w*)", span):
            add(f"{name}/__init__.py", f"{name}/__main__.py")
        statement = re.match(r"(?:import|from) ([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?", span)
        if statement:
            name, sub = statement.groups()
            add(f"{name}/__init__.py", *([f"{name}/{sub}.py"] if sub else []))
        for path in re.findall(r"\bpython3? ((?:[\w-]+/)*[\w-]+\.py)\b", span):
            add(path)
    for name in re.findall(r"package directory `([A-Za-z_]\w*)/`", interface):
        add(f"{name}/__init__.py")
    add(*tree_files(interface))
    entry = {f: ENTRY.format(package=Path(f).parts[0]) for f in files if re.fullmatch(r"\w+/__main__\.py", f)}
    return Contract(interface, files, entry)


def rules(interface: str, limit: int = MAX_RULES) -> list[str]:
    """The interface's rules a check can test, one per top-level bullet or paragraph (sub-bullets included): those
    that name something in code, less the ones about the layout and the standard library, which the scaffold
    and the sandbox see to."""
    found: list[list[str]] = []
    for line in interface.splitlines()[1:]:
        if not line.strip():
            found.append([])
        elif re.match(r"[-*] |\*\*|`", line) or not found:
            found.append([line.strip()])
        else:
            found[-1].append(line.strip())
    texts = [" ".join(r)[:RULE_CHARS] for r in found if r]
    return [t for t in texts if "`" in t and not LAYOUT_RULE.search(t)][:limit]


def claim(items: list[WorkItem], product: Contract) -> list[WorkItem]:
    """The interface's files no item writes go to the last item (in plan order the one that puts the parts
    together): planners left ``__main__.py`` to nobody. The entry files are written already: no item's."""
    items = [i.model_copy(update={"files": [f for f in i.files if f not in product.entry]}) for i in items]
    claimed = {f for i in items for f in i.files}
    left = [f for f in product.files if f not in claimed and f not in product.entry]
    if not left:
        return items
    return [*items[:-1], items[-1].model_copy(update={"files": [*items[-1].files, *left]})]


def place(checks: list[Check], items: list[WorkItem], product: Contract) -> list[WorkItem]:
    """Each check on the first item that writes a file the check runs, else on the last item (in plan order the
    one that puts the parts together); vet() then moves what that item cannot run."""
    modules = product.modules | tops(f for i in items for f in i.files)
    placed: dict[str, list[Check]] = {i.id: list(i.checks) for i in items}
    for check in checks:
        needed = set(needs(check, modules)[0])
        owner = next((i.id for i in items if needed & set(i.files)), items[-1].id)
        placed[owner].append(check)
    return [i.model_copy(update={"checks": placed[i.id]}) for i in items]


def tree_files(text: str) -> list[str]:
    """The Python files of a ``├── name`` file-layout tree (as ``tree`` draws one)."""
    paths, stack = [], []
    for line in text.splitlines():
        branch = re.search(r"[├└]── ([\w.-]+/?)", line)
        if not branch:
            continue
        depth = branch.start() // 4
        name = branch.group(1).rstrip("/")
        del stack[depth:]
        stack.append(name)
        if name.endswith(".py"):
            paths.append("/".join(stack))
    return paths


# -- vetting checks ------------------------------------------------------------------------------------------


@dataclass
class Vetted:
    items: list[WorkItem]
    acceptance: list[Check]
    rejected: list[dict[str, str]]  # item ("" for the product), command, reason
    moved: list[dict[str, str]]  # command, from, to


def needs(check: Check, modules: set[str], files: set[str] | None = None) -> tuple[list[str], str]:
    """The product files a check runs, and why the check is unusable on its own terms ("" when it is not).
    ``modules``: the product's, when known (an import of anything else outside the standard library is refused);
    ``files``: those the repository has or an item writes (a check may read only these, or what it makes itself:
    planners wrote ``python -m wordfreq sample.txt`` with no sample.txt anywhere; a check of an error, one that
    prints ``$?``, may read a file that is not there). None: not checked."""
    try:
        lexer = shlex.shlex(check.command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        argv = list(lexer)
    except ValueError as exc:
        return [], f"the command does not parse as a shell line ({exc})"
    needed: list[str] = []
    # What it writes: a file it only names, as `printf %s sample.txt > in.txt` does, is not made (T1-02-wordfreq's
    # checks at 15e2a9d read sample.txt and wordfreq/words.txt so).
    made = {argv[k + 1] for k in range(len(argv) - 1) if argv[k] in (">", ">>", "tee")}
    for i, word in enumerate(argv):
        if not re.fullmatch(r"python3?(\.\d+)?", Path(word).name) or i + 1 >= len(argv):
            continue
        flag, arg = argv[i + 1], argv[i + 2] if i + 2 < len(argv) else ""
        if flag == "-m" and arg.split(".")[0] in modules:  # the package's __init__ runs first
            needed += [arg.replace(".", "/") + "/__init__.py", arg.replace(".", "/") + "/__main__.py"]
        elif flag == "-c":
            try:
                tree = ast.parse(arg)
            except SyntaxError as exc:
                return [], f"its own Python code has a syntax error ({exc.msg}, line {exc.lineno})"
            for name in imported(tree):
                top = name.split(".")[0]
                if top in modules:
                    needed.append(name.replace(".", "/") + ".py" if "." in name else f"{name}/__init__.py")
                elif modules and top not in sys.stdlib_module_names:
                    return [], f"it imports {top}, which is neither in the standard library nor in the product"
        elif flag.endswith(".py"):
            needed.append(flag)
        for j in range(i + 1, len(argv) if files is not None and "$?" not in check.command else 0):
            if argv[j] in SHELL_OPERATORS and argv[j] != "<":  # what it reads on stdin counts too
                break
            data = DATA_FILE.fullmatch(argv[j]) and argv[j - 1] not in OUTPUT_FLAGS
            if data and argv[j] not in files and argv[j] not in made:
                return [], f"it reads {argv[j]}, which neither the repository nor any item has, nor the check makes"
    return needed, ""


def imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def vet(items: list[WorkItem], acceptance: list[Check], product: Contract, workspace: Path, sandbox: str,
        built: frozenset[str] = frozenset()) -> Vetted:  # fmt: skip
    """Holds every check to the contract (module docstring). A check that runs files another item builds moves to
    that item when that item can run it; otherwise it, and every check unusable on its own terms, is dropped.
    ``built``: files of the workspace the company wrote (QA vets on a built main: these are emptied too)."""
    claimed = {f for i in items for f in i.files}
    existing = {p.relative_to(workspace).as_posix() for p in workspace_files(workspace)}
    named = product.modules | tops(claimed)
    # Unknown when neither the interface nor the plan names a file: then no import is refused.
    modules = named | tops(existing) if named else set()
    by_id = {i.id: i for i in items}

    def available(item_id: str) -> set[str]:
        seen, todo = set(), [item_id]
        while todo:
            current = todo.pop()
            if current not in seen and current in by_id:
                seen.add(current)
                todo += by_id[current].depends_on
        return existing | {f for i in seen for f in by_id[i].files}

    rejected: list[dict[str, str]] = []
    moved: list[dict[str, str]] = []
    kept: dict[str, list[Check]] = {i.id: [] for i in items}
    for item in items:
        for check in item.checks:
            needed, why = needs(check, modules, existing | claimed)
            owner = item.id
            missing = [f for f in needed if f in claimed and f not in available(owner)]
            if not why and missing:
                fit = [i.id for i in items if i.id != owner and set(needed) & claimed <= available(i.id)]
                if fit:
                    moved.append({"command": check.command, "from": owner, "to": fit[0]})
                    owner = fit[0]
                else:
                    why = f"it runs {', '.join(missing)}, which neither this item nor the items it depends on build"
            if why:
                rejected.append({"item": item.id, "command": check.command, "reason": why})
            elif check not in kept[owner]:  # a check moved to an item that has it already
                kept[owner].append(check)
    product_checks = []
    for check in acceptance:
        why = needs(check, modules, existing | claimed)[1]
        if why:
            rejected.append({"item": "", "command": check.command, "reason": why})
        else:
            product_checks.append(check)
    # On an empty product: main as it is, with every file the contract, the items and the company wrote empty.
    with tempfile.TemporaryDirectory(prefix="autonomo-vet-") as tmp:
        empty = Path(tmp)
        shutil.copytree(workspace, empty, dirs_exist_ok=True, ignore=lambda d, names: NOT_COPIED & set(names))
        for name in {*product.files, *claimed, *built} - set(product.entry):
            path = empty / name
            if path.resolve().is_relative_to(empty.resolve()):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
        box = Sandbox(empty, kind=sandbox, timeout=VET_TIMEOUT)
        outcome: dict[str, str] = {}

        def fails(owner: str, check: Check) -> bool:
            script = check.script()
            if script not in outcome:
                result = box.run(script)
                outcome[script] = empty_verdict(result.exit_code, result.output, result.timed_out)
            if outcome[script]:
                rejected.append({"item": owner, "command": check.command, "reason": outcome[script]})
            return not outcome[script]

        vetted = [item.model_copy(update={"checks": [c for c in kept[item.id] if fails(item.id, c)]}) for item in items]
        product_checks = [c for c in product_checks if fails("", c)]
    return Vetted(vetted, product_checks, rejected, moved)


def empty_verdict(exit_code: int, output: str, timed_out: bool) -> str:
    """Why a check's run on an empty product disqualifies it ("" when it failed as a check should)."""
    if exit_code == 0 and not timed_out:
        return "it passes on an empty product: it tests nothing"
    if exit_code == 127 or "command not found" in output:
        return "its command is not found"
    if 'File "<string>"' in output and "SyntaxError" in output:
        return "its own Python code has a syntax error"
    return ""
