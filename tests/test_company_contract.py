"""The request's interface as a contract: the files it fixes, checks vetted against it before engineers see them,
the scaffold on main, and engineers told the interface."""

from __future__ import annotations

import json

from conftest import of_type, sandbox_kind
from test_company import APPROVE, create, engineer, plan

from autonomo.company.contract import Check, contract, needs, tree_files, vet
from autonomo.company.orchestrator import Company
from autonomo.company.plan import WorkItem
from autonomo.events import EventLog, new_run_id, read_events
from autonomo.models.scripted import ScriptedModel

REQUEST = """# Word counts

Count the words of a file; run as python -m from here.

## Interface

- The package directory `wc/` sits at the top level, so that `import wc` works.
- Run as `python -m wc FILE`; prints `WORDS` (a number). The library: `from wc.core import count`.

## Notes

Anything from here on is not the interface (`python -m notthis`).
"""


# Two parts (a package and a script): the planner splits the work.
TWO_PARTS = REQUEST.replace(
    "`from wc.core import count`.", "`from wc.core import count`. A report: `python report.py`."
)


def test_the_interface_fixes_the_files_it_names_in_code_only():
    product = contract(REQUEST)
    assert product.interface.startswith("## Interface") and "notthis" not in product.interface
    # "from here" in prose names no module; `from wc.core import count` names wc/core.py
    assert product.files == ["wc/__init__.py", "wc/__main__.py", "wc/core.py"]
    assert contract("Make me a game.").files == [] and contract("Make me a game.").interface == ""
    service = contract("## Interface\n\n`python app.py` serves on $PORT, `python -m pytest` runs the tests.")
    assert service.files == ["app.py"]  # pytest is a tool, not the product


def test_a_file_layout_tree_names_its_python_files():
    tree = """```
├── lice
│   ├── __init__.py      # defines main()
│   └── core.py
├── templates/
└── requirements.txt
```"""
    assert tree_files(tree) == ["lice/__init__.py", "lice/core.py"]


def test_a_check_unusable_on_its_own_terms_says_why():
    product = {"wc"}
    assert needs(Check(command="python -m wc f.txt"), product, {"f.txt"}) == (["wc/__init__.py", "wc/__main__.py"], "")
    assert needs(Check(command="python -c 'from wc.core import count'"), product) == (["wc/core.py"], "")
    assert "syntax error" in needs(Check(command="python -c 'print(('"), product)[1]
    assert "numpy" in needs(Check(command="python -c 'import numpy'"), product)[1]
    assert needs(Check(command="python -c 'import numpy'"), set()) == ([], "")  # the product's modules unknown
    assert "parse" in needs(Check(command="echo 'unclosed"), product)[1]
    # a file a check reads: the repository's, an item's, or made by the check itself
    assert "reads in.txt" in needs(Check(command="python -m wc in.txt"), product, set())[1]
    assert needs(Check(command="python -m wc in.txt"), product, {"in.txt"})[1] == ""
    assert needs(Check(command="printf 'a b' > in.txt && python -m wc in.txt"), product, set())[1] == ""
    assert "reads a.txt" in needs(Check(command="printf %s a.txt > in.txt && python -m wc a.txt"), product, set())[1]
    assert needs(Check(command="python -m wc - -o out.json < /dev/null"), product, set())[1] == ""
    assert needs(Check(command='python -m wc gone.txt; echo "exit $?"'), product, set())[1] == ""  # an error's


def test_vetting_moves_drops_and_keeps_checks(tmp_path):
    (tmp_path / "words.txt").write_text("a b c\n")
    run = Check(command="python -m wc words.txt", expect="3")
    core = WorkItem(
        id="core",
        title="count",
        files=["wc/__init__.py", "wc/core.py"],
        checks=[
            Check(command="python -c 'from wc.core import count; print(count(\"a b\"))'", expect="2"),  # kept
            run,  # runs the cli item's file: moves there
            Check(command="echo 3", expect="3"),  # passes with no code: dropped
            Check(command="python -c 'import numpy'"),  # not the standard library: dropped
        ],
    )
    cli = WorkItem(id="cli", title="cli", files=["wc/__main__.py"], depends_on=["core"])
    both = Check(command="python -m wc words.txt && python -c 'import wc.extra'")
    extra = WorkItem(id="extra", title="x", files=["wc/extra.py"], checks=[run, both])
    vetted = vet([core, cli, extra], [run, Check(command="true")], contract(REQUEST), tmp_path, sandbox_kind())
    by_id = {i.id: i for i in vetted.items}
    assert [c.expect for c in by_id["core"].checks] == ["2"]
    assert by_id["cli"].checks == [run]
    assert vetted.moved == [{"command": run.command, "from": f, "to": "cli"} for f in ("core", "extra")]
    assert by_id["extra"].checks == []  # cli builds wc/__main__.py, extra wc/extra.py: neither can run both
    reasons = {(r["item"], r["command"]): r["reason"] for r in vetted.rejected}
    assert "tests nothing" in reasons[("core", "echo 3")] and "numpy" in reasons[("core", "python -c 'import numpy'")]
    assert "neither this item" in reasons[("extra", both.command)]
    assert vetted.acceptance == [run] and "tests nothing" in reasons[("", "true")]
    assert not (tmp_path / "wc").exists()  # the empty product was built elsewhere


def company(workspace, chat: list[dict], scripts: dict, request: str = REQUEST, samples: int = 1):
    log = EventLog(workspace / ".autonomo" / "company" / new_run_id())
    model = ScriptedModel(chat)
    run = Company(workspace, log, "scripted", model, sandbox=sandbox_kind(), scripts=scripts, samples=samples)
    result = run.run(request)
    return result, list(read_events(log.path)), model


def goals(workspace) -> list[str]:
    runs = sorted((workspace / ".autonomo" / "runs").glob("*/events.jsonl"))
    return [json.loads(r.read_text().splitlines()[0])["goal"] for r in runs]


COUNT = "printf 'a b c' > in.txt && python -m wc in.txt"
CHECK = {"draft": "```json\n" + json.dumps({"command": COUNT, "expect": "3"}) + "\n```"}
CORE = create("wc/core.py", "def count(text):\n    return len(text.split())\n")
INIT = create("wc/__init__.py", "import sys\n\n\ndef main():\n    from wc.core import count\n\n"
              "    print(count(open(sys.argv[1]).read()))\n    return 0\n")  # fmt: skip


def test_with_an_interface_the_planner_writes_items_and_each_rule_gets_a_check(workspace):
    looping = {"draft": '{"items": [{"id": "core", "title": "' + "the 1\\n" * 2000}  # cut off, as seen
    cli = {"id": "cli", "title": "cli", "files": ["wc/__init__.py", "wc/__main__.py"], "depends_on": ["core"]}
    items = plan([{"id": "core", "title": "count words", "files": ["wc/core.py"]}, cli])
    chat = [looping, items, CHECK, APPROVE, APPROVE, {"draft": "[]"}]
    scripts = {"engineer:core": [engineer(CORE)], "engineer:cli": [engineer(INIT, create("report.py", "print(3)\n"))]}
    result, events, model = company(workspace, chat, scripts, request=TWO_PARTS)
    assert result.outcome == "delivered", result.summary
    assert len(model.prompts[1][-2]["content"]) == 1500  # the looping reply, shortened, and why it was no plan
    assert "not a valid plan" in model.prompts[1][-1]["content"]
    (written,) = of_type(events, "check_written")
    assert written["rule"].startswith("- Run as `python -m wc FILE`") and written["check"]["command"] == COUNT
    assert "The product's interface" in model.prompts[2][-1]["content"]
    (vetted,) = of_type(events, "checks_vetted")
    assert vetted["attempt"] == 2 and vetted["rejected"] == []
    core, cli = of_type(events, "plan_made")[0]["items"]
    assert core["checks"][0]["command"] == "python -m py_compile wc/core.py"  # no rule is its: it compiles
    assert [c["command"] for c in cli["checks"]] == [COUNT]  # on the item that writes what `python -m wc` runs
    assert cli["files"] == ["wc/__init__.py", "report.py"]  # wc/__main__.py is written for the engineers
    (scaffold,) = of_type(events, "scaffold_made")
    assert scaffold["files"] == ["wc/__init__.py", "wc/__main__.py", "wc/core.py", "report.py"]
    assert "sys.exit(main())" in (workspace / "wc" / "__main__.py").read_text()
    for goal in goals(workspace):
        assert "The product's interface" in goal and "`python -m wc FILE`" in goal
        assert "`python -m wc` runs `wc.main()`" in goal
    assert any("Files: wc/core.py" in goal for goal in goals(workspace))
    assert set(result.spend["by_role"]) == {"planner", "qa", "engineer", "reviewer"}


def test_when_no_planner_reply_is_a_plan_one_item_builds_the_whole_product(workspace):
    chat = [{"draft": "no idea"}] * 3 + [CHECK, APPROVE, {"draft": "[]"}]
    scripts = {"engineer:product": [engineer(CORE, INIT, create("report.py", "print(3)\n"))]}
    result, events, _ = company(workspace, chat, scripts, request=TWO_PARTS)
    assert result.outcome == "delivered", result.summary
    (item,) = of_type(events, "plan_made")[0]["items"]
    assert item["id"] == "product" and item["files"] == ["wc/__init__.py", "wc/core.py", "report.py"]
    assert [c["command"] for c in item["checks"]] == [COUNT]


def test_a_product_of_one_package_is_one_item_without_asking_the_planner(workspace):
    result, events, model = company(
        workspace, [CHECK, APPROVE, {"draft": "[]"}], {"engineer:product": [engineer(CORE, INIT)]}
    )
    assert result.outcome == "delivered", result.summary
    review = next(p[-1]["content"] for p in model.prompts if "The change:" in p[-1]["content"])
    assert "Run as `python -m wc FILE`" in review  # the reviewer reads the interface the whole product keeps to
    assert not of_type(events, "plan_reply") and of_type(events, "checks_vetted")[0]["attempt"] == 0
    (item,) = of_type(events, "plan_made")[0]["items"]
    assert item["id"] == "product" and item["files"] == ["wc/__init__.py", "wc/core.py"]
    assert set(result.spend["by_role"]) == {"qa", "engineer", "reviewer"}


def test_with_sampled_drafts_each_rule_gets_a_second_check_sampled_hot(workspace):
    other = {"draft": "```json\n" + json.dumps({"command": COUNT, "expect": "3\n"}) + "\n```"}
    chat = [CHECK, other, APPROVE, {"draft": "[]"}]
    whole = create("wc/__init__.py", "import sys\n\n\ndef main():\n    print(len(open(sys.argv[1]).read().split()))\n")
    scripts = {"engineer:product": [engineer(whole)] * 2}  # a sampled draft is one step
    result, events, model = company(workspace, chat, scripts, samples=2)
    assert result.outcome == "delivered", result.summary
    first, second = of_type(events, "check_written")
    assert "sample" not in first and second["sample"] == 1 and model.sampling[:2] == [(None, None), (0.7, 0)]
    (item,) = of_type(events, "plan_made")[0]["items"]
    assert [c["expect"] for c in item["checks"]] == ["3", "3\n"]


def test_without_an_interface_the_planner_is_asked_again_when_vetting_leaves_an_item_no_check(workspace):
    count = "python -c 'from wc.core import count; print(count(\"a b\"))'"
    vacuous = plan([{"id": "core", "title": "count words", "files": ["wc/core.py"],
                     "checks": [{"command": "echo 2", "expect": "2"}]}])  # fmt: skip
    good = plan([{"id": "core", "title": "count words", "files": ["wc/__init__.py", "wc/core.py"],
                  "checks": [{"command": count, "expect": "2"}]}])  # fmt: skip
    (workspace / "wc").mkdir()
    (workspace / "wc" / "__init__.py").write_text("")
    result, events, model = company(workspace, [vacuous, good, APPROVE, {"draft": "[]"}],
                                    {"engineer:core": [engineer(CORE)]}, request="count words")  # fmt: skip
    assert result.outcome == "delivered", result.summary
    first, second = of_type(events, "checks_vetted")
    assert "tests nothing" in first["rejected"][0]["reason"] and second["rejected"] == []
    retry = model.prompts[1][-1]["content"]  # the planner is told why its checks were dropped
    assert "`echo 2` (core): it passes on an empty product" in retry
    assert not of_type(events, "scaffold_made") and not of_type(events, "check_written")


def test_qa_checks_are_vetted_on_the_product_emptied_not_on_the_product_built(workspace):
    greet = "import sys\nprint('Hello, ' + sys.argv[1])\n"
    chat = ScriptedModel(
        [
            plan(
                [
                    {
                        "id": "greet",
                        "title": "greet",
                        "files": ["greet.py"],
                        "checks": [{"command": "python greet.py Ann", "expect": "Hello, Ann"}],
                    }
                ]
            ),  # fmt: skip
            APPROVE,
            {
                "draft": json.dumps(
                    [
                        {"command": "python greet.py Bob", "expect": "Hello, Bob"},
                        {"command": "echo Hello", "expect": "Hello"},
                    ]
                )
            },  # fmt: skip
        ]
    )
    log = EventLog(workspace / ".autonomo" / "company" / new_run_id())
    scripts = {"engineer:greet": [engineer(create("greet.py", greet))]}
    result = Company(workspace, log, "scripted", chat, sandbox=sandbox_kind(), scripts=scripts).run("greet people")
    assert result.outcome == "delivered", result.summary
    (explored,) = of_type(list(read_events(log.path)), "qa_explored")
    assert [c["command"] for c in explored["checks"]] == ["python greet.py Bob"]  # passes on main: kept
    assert [r["command"] for r in explored["rejected"]] == ["echo Hello"]


def test_a_check_reply_may_give_the_file_it_reads_and_no_file_of_the_interface_is_left_to_nobody():
    from autonomo.company.contract import claim
    from autonomo.company.plan import parse_check

    check = parse_check('```json\n{"input": "it\'s a b\\n", "command": "python -m wc in.txt", "expect": "3"}\n```')
    assert check.command == "printf %s 'it'\"'\"'s a b\n' > in.txt && python -m wc in.txt" and check.expect == "3"
    assert parse_check('{"command": "python -m wc -", "expect": "0"}').command == "python -m wc -"
    items = [WorkItem(id="core", title="c", files=["wc/core.py"]), WorkItem(id="out", title="o", files=["wc/out.py"])]
    items.append(WorkItem(id="main", title="m", files=["wc/__main__.py"]))  # written already: no item's
    assert [i.files for i in claim(items, contract(REQUEST))] == [["wc/core.py"], ["wc/out.py"], ["wc/__init__.py"]]
