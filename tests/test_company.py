"""Company mode with scripted models: parallel work items, a merge conflict, a QA failure that sends an item
back, and a budget stop."""

from __future__ import annotations

import json
import subprocess

from conftest import of_type, sandbox_kind

from autonomo.company.backends import local_backend
from autonomo.company.orchestrator import Company, CompanyBudget
from autonomo.events import EventLog, new_run_id, read_events
from autonomo.models.scripted import ScriptedModel


def plan(items: list[dict], acceptance: list[dict] | None = None) -> dict:
    return {"draft": "```json\n" + json.dumps({"items": items, "acceptance": acceptance or []}) + "\n```"}


def item(id: str, check: str, expect: str, **extra) -> dict:
    return {"id": id, "title": f"build {id}", "checks": [{"command": check, "expect": expect}], **extra}


def engineer(*steps: dict) -> list[dict]:
    return [*steps, {"tool": "finish", "args": {"summary": "done"}}]


def create(path: str, content: str) -> dict:
    return {"tool": "create", "args": {"path": path, "content": content}}


def sleep(seconds: float) -> dict:
    return {"tool": "shell", "args": {"command": f"sleep {seconds}"}}


APPROVE = {"draft": "APPROVE"}


def run_company(workspace, chat_steps, scripts, budget=None, workers=2, backend=local_backend, attempts=1, samples=1):
    log = EventLog(workspace / ".autonomo" / "company" / new_run_id())
    company = Company(
        workspace,
        log,
        model="scripted",
        chat_model=ScriptedModel(chat_steps),
        workers=workers,
        attempts=attempts,
        samples=samples,
        budget=budget,
        sandbox=sandbox_kind(),
        scripts=scripts,
        backend=backend,
    )
    result = company.run("a tiny maths package")
    return result, list(read_events(log.path))


def maths_company(workspace, backend=local_backend):
    items = [
        item("add", 'python -c "from add import add; print(add(2, 3))"', "5"),
        item("mul", 'python -c "from mul import mul; print(mul(2, 3))"', "6"),
    ]
    acceptance = [
        {"command": 'python -c "from add import add; from mul import mul; print(add(1, mul(2, 3)))"', "expect": "7"}
    ]
    scripts = {
        "engineer:add": [engineer(sleep(1), create("add.py", "def add(a, b):\n    return a + b\n"))],
        "engineer:mul": [engineer(sleep(1), create("mul.py", "def mul(a, b):\n    return a * b\n"))],
    }
    return run_company(workspace, [plan(items, acceptance), APPROVE, APPROVE], scripts, backend=backend)


def test_work_items_are_built_in_parallel_and_merged(workspace):
    result, events = maths_company(workspace)
    assert result.outcome == "delivered", result.summary
    assert result.items == {"add": "merged", "mul": "merged"}
    kinds = [(e["type"], e.get("item")) for e in events]
    first_done = min(i for i, (k, _) in enumerate(kinds) if k == "item_attempt_finished")
    assert {("item_started", "add"), ("item_started", "mul")} <= set(kinds[:first_done])  # both at work at once
    assert (workspace / "add.py").exists() and (workspace / "mul.py").exists()  # merged into main
    assert of_type(events, "qa_report")[-1]["passed"]
    spend = result.spend
    assert set(spend["by_role"]) == {"planner", "engineer", "reviewer"} and set(spend["by_item"]) >= {"add", "mul"}


def test_a_merge_conflict_sends_the_item_back_to_redo_on_the_new_main(workspace):
    items = [
        item("a", 'python -c "import registry; print(registry.A)"', "1"),
        item("b", 'python -c "import registry; print(registry.B)"', "2"),
    ]
    scripts = {
        "engineer:a": [engineer(create("registry.py", "A = 1\n"))],
        "engineer:b": [
            engineer(sleep(1.5), create("registry.py", "B = 2\n")),  # conflicts with a's file, merged first
            engineer(create("registry.py", "A = 1\nB = 2\n")),  # redone on top of main
        ],
    }
    result, events = run_company(workspace, [plan(items), APPROVE, APPROVE, APPROVE], scripts)
    assert result.outcome == "delivered", result.summary
    (conflict,) = of_type(events, "merge_conflict")
    assert conflict["item"] == "b" and conflict["files"] == ["registry.py"]
    (reopened,) = of_type(events, "item_reopened")
    assert reopened["item"] == "b" and "conflicted" in reopened["reason"]
    assert (workspace / "registry.py").read_text() == "A = 1\nB = 2\n"


def test_an_item_that_needs_another_items_work_waits_for_it(workspace):
    # The plan misses that cli's check runs core's code: cli fails first, waits for core, then passes.
    items = [item("cli", "python -m calc 2 3", "5"), item("core", 'python -c "from calc.core import add"', "")]
    main = "import sys\nfrom calc.core import add\nprint(add(*map(int, sys.argv[1:])))\n"
    scripts = {
        "engineer:cli": [engineer(create("calc/__main__.py", main)), engineer(create("calc/__main__.py", main))],
        "engineer:core": [engineer(sleep(4), create("calc/core.py", "def add(a, b):\n    return a + b\n"))],
    }
    result, events = run_company(workspace, [plan(items), APPROVE, APPROVE], scripts)
    assert result.outcome == "delivered", result.summary
    (reopened,) = of_type(events, "item_reopened")
    assert reopened["item"] == "cli" and reopened["waits_for"] == ["core"]
    kinds = [(e["type"], e.get("item")) for e in events]
    retried = [i for i, k in enumerate(kinds) if k == ("item_started", "cli")][-1]
    assert kinds.index(("item_merged", "core")) < retried


def test_a_qa_failure_sends_the_item_back(workspace):
    items = [item("greet", "python greet.py Ann", "Hello")]
    acceptance = [{"command": "python greet.py Bob", "expect": "Hello, Bob!", "item": "greet"}]
    scripts = {
        "engineer:greet": [
            engineer(create("greet.py", "print('Hello, world')\n")),  # passes its item check, not QA
            engineer(create("greet.py", "import sys\nprint(f'Hello, {sys.argv[1]}!')\n")),
        ]
    }
    result, events = run_company(workspace, [plan(items, acceptance), APPROVE, APPROVE], scripts)
    assert result.outcome == "delivered", result.summary
    assert [r["passed"] for r in of_type(events, "qa_report")] == [False, True]
    (reopened,) = of_type(events, "item_reopened")
    assert "QA ran `python greet.py Bob`" in reopened["reason"] and "Hello, world" in reopened["reason"]
    second = [e for e in of_type(events, "item_started") if e["item"] == "greet"][-1]
    assert second["round"] == 1


def test_the_company_budget_stops_the_run(workspace):
    items = [item("add", 'python -c "import add"', "")]
    result, events = run_company(workspace, [plan(items)], {}, budget=CompanyBudget(tokens=1))
    assert result.outcome == "budget_exhausted" and "token budget 1" in result.summary
    assert result.items == {"add": "todo"} and not of_type(events, "item_started")
    assert result.spend["by_role"]["planner"]["tokens"] > 1


def test_the_throughput_benchmark_runs_a_stub_company():
    from autonomo.bench.throughput import measure

    row = measure(workers=2, items=3, delay=0.0, sandbox=sandbox_kind())
    assert row["outcome"] == "delivered" and row["agents_completed"] == 3 and row["agents_per_minute"] > 0


def test_a_bad_plan_is_sent_back_to_the_planner_and_ids_are_normalised(workspace):
    good = plan([item("Add_Func", 'python -c "from add import add; print(add(2, 3))"', "5")])
    scripts = {"engineer:add-func": [engineer(create("add.py", "def add(a, b):\n    return a + b\n"))]}
    result, events = run_company(workspace, [{"draft": "Sure! Here is the plan: items..."}, good, APPROVE], scripts)
    assert result.outcome == "delivered" and result.items == {"add-func": "merged"}
    replies = of_type(events, "plan_reply")
    assert [r["attempt"] for r in replies] == [1, 2] and result.spend["by_role"]["planner"]["model_calls"] == 2


def test_parallel_attempts_keep_the_verified_one(workspace):
    items = [item("add", 'python -c "from add import add; print(add(2, 3))"', "5")]
    scripts = {
        "engineer:add": [
            engineer(create("add.py", "def add(a, b):\n    return a - b\n")),  # attempt 0: wrong, cannot finish
            engineer(create("add.py", "def add(a, b):\n    return a + b\n")),  # attempt 1: right
        ]
    }
    result, events = run_company(workspace, [plan(items), APPROVE], scripts, attempts=2)
    assert result.outcome == "delivered"
    finished = {e["attempt"]: e["verified"] for e in of_type(events, "item_attempt_finished")}
    assert finished == {0: False, 1: True}
    assert of_type(events, "review_started")[0]["attempt"] == 1 and not of_type(events, "item_reopened")
    assert "a + b" in (workspace / "add.py").read_text()


def add_drafts(*bodies: str) -> list[list[dict]]:
    return [engineer(create("add.py", f"def add(a, b):\n    return {body}\n")) for body in bodies]


def test_a_check_no_sampled_draft_passes_is_dropped_and_an_agreeing_draft_goes_to_review(workspace):
    right = item(
        "add", "echo 3 > b.txt && python -c \"from add import add; print(add(2, int(open('b.txt').read())))\"", "5"
    )
    wrong = {"command": 'python -c "from add import add; print(add(2, 3))"', "expect": "five"}  # QA's format slip
    items = [{**right, "checks": [*right["checks"], wrong]}]
    result, events = run_company(
        workspace, [plan(items), APPROVE], {"engineer:add": add_drafts("a - b", "a + b", "a + b")}, samples=3
    )
    assert result.outcome == "delivered", result.summary
    assert all(e["sample"] for e in of_type(events, "item_started")) and len(of_type(events, "item_started")) == 3
    (agreed,) = of_type(events, "checks_agreed")
    assert agreed["passes"] == {"0": [False, False], "1": [True, False], "2": [True, False]}
    assert [c["expect"] for c in agreed["dropped"]] == ["five"] and agreed["chosen"] == 1
    assert of_type(events, "review_started")[0]["attempt"] == 1
    assert of_type(events, "qa_report")[0]["checks"] == 1  # the dropped check is no longer the item's


def test_of_the_drafts_that_pass_the_one_most_others_agree_with_is_chosen(workspace):
    items = [
        {
            **item("add", 'python -c "from add import add; print(add(2, 3))"', "5"),
            "checks": [
                {"command": 'python -c "from add import add; print(add(2, 3))"', "expect": "5"},
                {"command": 'python -c "from add import add; print(add(1, 1))"'},  # any output: the drafts differ
            ],
        }
    ]
    drafts = add_drafts("5 if (a, b) == (2, 3) else 0", "a + b", "a + b")
    result, events = run_company(workspace, [plan(items), APPROVE], {"engineer:add": drafts}, samples=3)
    assert result.outcome == "delivered", result.summary
    (agreed,) = of_type(events, "checks_agreed")
    assert agreed["dropped"] == [] and agreed["chosen"] == 1
    assert "a + b" in (workspace / "add.py").read_text()


def test_when_no_draft_passes_a_check_none_is_dropped_and_the_item_goes_back(workspace):
    items = [item("add", 'python -c "from add import add; print(add(2, 3))"', "5")]
    scripts = {"engineer:add": add_drafts("a - b", "a * b", "a * b", "a + b")}
    result, events = run_company(workspace, [plan(items), APPROVE], scripts, samples=2)
    assert result.outcome == "delivered", result.summary
    first, second = of_type(events, "checks_agreed")
    assert first["dropped"] == [] and first["chosen"] is None and second["chosen"] == 1
    (reopened,) = of_type(events, "item_reopened")
    assert "no draft passed" in reopened["reason"] and "\n-1\n" in reopened["reason"]  # the output of 2 - 3
    # Half the next round repairs the best draft, from its branch: the change merged holds that draft's commit.
    assert first["repair"] == "item/add/r0a0" and "repair" not in second
    assert [e.get("repairs") for e in of_type(events, "item_started")[2:]] == [None, "item/add/r0a0"]
    history = subprocess.run(["git", "log", "--format=%s"], cwd=workspace, capture_output=True, text=True).stdout
    assert "add: build add (draft 0)" in history


def test_an_existing_repository_keeps_its_branch(workspace):
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "master"], cwd=workspace, check=True)
    (workspace / "README").write_text("a maths package\n")  # uncommitted: the company commits it first
    result, _ = maths_company(workspace)
    assert result.outcome == "delivered"
    log = subprocess.run(["git", "log", "--format=%s", "master"], cwd=workspace, capture_output=True, text=True)
    assert "merge add" in log.stdout and "merge mul" in log.stdout
    assert (workspace / "README").exists()


def test_qa_tries_the_product_beyond_the_plan_and_files_what_fails(workspace):
    items = [item("greet", "python greet.py Ann", "Hello, Ann")]
    qa = {"draft": '```json\n[{"command": "python greet.py", "expect": "Hello, world"}]\n```'}
    greet = "import sys\nprint('Hello, ' + (sys.argv[1] if len(sys.argv) > 1 else 'world'))\n"
    scripts = {
        "engineer:greet": [engineer(create("greet.py", "import sys\nprint('Hello, ' + sys.argv[1])\n"))],
        "engineer:qa-fix-1": [engineer(create("greet.py", greet))],
    }
    result, events = run_company(workspace, [plan(items), APPROVE, qa, APPROVE], scripts)
    assert result.outcome == "delivered", result.summary
    (explored,) = of_type(events, "qa_explored")  # once per company
    assert explored["checks"] == [{"command": "python greet.py", "expect": "Hello, world", "item": "", "url": "",
                                   "actions": []}]  # fmt: skip
    (added,) = of_type(events, "item_added")
    assert added["item"]["id"] == "qa-fix-1" and "IndexError" in added["item"]["description"]
    assert [c["command"] for c in added["item"]["checks"]] == ["python greet.py", "python greet.py Ann"]
    assert [r["passed"] for r in of_type(events, "qa_report")] == [False, True]
    assert of_type(events, "qa_report")[-1]["checks"] == 2  # the plan's and QA's own: the fix item holds copies
    assert "qa" in result.spend["by_role"]


def test_an_item_checked_through_its_dependents_work_takes_that_work_over(workspace):
    # The plan puts the command-line check on core, though the cli item (which depends on core) builds the CLI.
    run = "python -m calc 2 3"
    items = [item("core", run, "5"), item("cli", run, "5", depends_on=["core"])]
    acceptance = [{"command": run, "expect": "5", "item": "cli"}]
    core = create("calc/core.py", "def add(a, b):\n    return a + b\n")
    cli = create("calc/__main__.py", "import sys\nfrom calc.core import add\nprint(add(*map(int, sys.argv[1:])))\n")
    scripts = {"engineer:core": [engineer(core), engineer(core, cli)]}
    result, events = run_company(workspace, [plan(items, acceptance), APPROVE], scripts)
    assert result.outcome == "delivered", result.summary
    assert result.items == {"core": "merged", "cli": "combined"}
    (combined,) = of_type(events, "items_combined")
    assert combined["absorbed"] == ["cli"] and combined["item"]["title"] == "build core; build cli"
    assert [e["item"] for e in of_type(events, "item_started")] == ["core", "core"]


def test_a_failed_item_never_waits_for_an_item_that_needs_it():
    from autonomo.company.board import Board

    board = Board()
    items = [{"id": i, "title": i, "depends_on": d} for i, d in (("a", []), ("b", ["a"]), ("c", []), ("d", []))]
    board.add({"type": "plan_made", "items": items})
    board.add({"type": "item_reopened", "item": "c", "reason": "failed", "waits_for": ["d"]})
    assert board.open_items_for("a") == ["c", "d"]  # b needs a
    assert board.open_items_for("d") == ["a", "b"]  # c waits for d
    assert [i.id for i in board.ready()] == ["a", "d"]


CHILD = """
import json, sys
from pathlib import Path
from autonomo.company.orchestrator import Company
from autonomo.events import EventLog
from autonomo.models.scripted import ScriptedModel
ws, cfg = Path(sys.argv[1]), json.loads(sys.argv[2])
log = EventLog(ws / ".autonomo" / "company" / "run1")
Company(ws, log, "scripted", ScriptedModel(cfg["chat"]), sandbox=cfg["sandbox"], scripts=cfg["scripts"]).run("maths")
"""


def test_a_killed_company_resumes_from_its_log(workspace):
    import os
    import signal
    import subprocess
    import sys
    import time

    items = [
        item("add", 'python -c "from add import add; print(add(2, 3))"', "5"),
        item("mul", 'python -c "from mul import mul; print(mul(2, 3))"', "6", depends_on=["add"]),
    ]
    mul = create("mul.py", "def mul(a, b):\n    return a * b\n")
    scripts = {
        "engineer:add": [engineer(create("add.py", "def add(a, b):\n    return a + b\n"))],
        "engineer:mul": [engineer(sleep(60), mul)],  # killed during this
    }
    cfg = {"chat": [plan(items), APPROVE], "scripts": scripts, "sandbox": sandbox_kind()}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(workspace), json.dumps(cfg)], start_new_session=True)
    log_path = workspace / ".autonomo" / "company" / "run1" / "events.jsonl"
    deadline = time.monotonic() + 60
    while not (log_path.exists() and '"item_started", "item": "mul"' in log_path.read_text()):
        assert time.monotonic() < deadline and child.poll() is None, "the company never reached item mul"
        time.sleep(0.2)
    time.sleep(1)  # mul's engineer is inside its sleep
    os.killpg(child.pid, signal.SIGKILL)  # the whole process tree, as a crash would
    child.wait()
    before = list(read_events(log_path))
    assert not of_type(before, "company_finished")

    log = EventLog(log_path.parent)
    company = Company(
        workspace,
        log,
        "scripted",
        ScriptedModel([APPROVE]),
        sandbox=sandbox_kind(),
        scripts={"engineer:mul": [engineer(mul)]},
    )
    result = company.resume(before)
    events = list(read_events(log_path))
    assert result.outcome == "delivered", result.summary
    assert [e["item"] for e in of_type(events, "item_interrupted")] == ["mul"]
    assert [e["item"] for e in of_type(events, "item_started")] == ["add", "mul", "mul"]  # add is not redone
    assert [e["item"] for e in of_type(events, "item_merged")] == ["add", "mul"]
    assert of_type(events, "company_resumed")[0]["after_events"] == len(before)
    assert [e["seq"] for e in events] == list(range(len(events)))  # one log, appended to
    assert (workspace / "mul.py").exists() and (workspace / "add.py").exists()


def finished_attempt(workspace):
    """A company killed after its engineer finished item add (verified): the repository, the worktree and the log."""
    from autonomo.company.git import Repo

    repo = Repo(workspace)
    repo.init()
    tree = repo.worktree(workspace / ".autonomo" / "worktrees" / "add-r0a0", "item/add/r0a0")
    (tree / "add.py").write_text("def add(a, b):\n    return a + b\n")
    check = 'python -c "from add import add; print(add(2, 3))"'
    started = {"type": "item_started", "item": "add", "attempt": 0, "branch": "item/add/r0a0", "worktree": str(tree)}
    events = [
        {"seq": 0, "type": "company_started", "request": "maths"},
        {"seq": 1, "type": "plan_made", "items": [item("add", check, "5")], "acceptance": []},
        {"seq": 2, **started},
        {"seq": 3, "type": "item_attempt_finished", "item": "add", "attempt": 0, "verified": True},
    ]
    return repo, tree, events


def resume_company(workspace, events, chat_steps):
    log = EventLog(workspace / ".autonomo" / "company" / "c1")
    result = Company(workspace, log, "scripted", ScriptedModel(chat_steps), sandbox=sandbox_kind()).resume(events)
    return result, list(read_events(log.path))


def test_a_merge_the_kill_left_unlogged_is_found_in_git(workspace):
    repo, tree, events = finished_attempt(workspace)
    repo.commit_all(tree, "add")
    assert repo.merge("item/add/r0a0", "merge add").ok  # then the process died, before logging it
    events.append({"seq": 4, "type": "review_started", "item": "add", "attempt": 0, "branch": "item/add/r0a0"})
    result, new = resume_company(workspace, events, [])
    assert result.outcome == "delivered", result.summary
    assert [e["type"] for e in new][:2] == ["company_resumed", "item_merged"] and not of_type(new, "item_started")


def test_a_resumed_company_reviews_attempts_that_finished_before_the_kill(workspace):
    _, _, events = finished_attempt(workspace)  # the kill came before the review started
    result, new = resume_company(workspace, events, [APPROVE])
    assert result.outcome == "delivered", result.summary
    assert not of_type(new, "item_started") and of_type(new, "item_reviewed")[0]["approved"]


def test_an_item_waiting_for_one_combined_into_another_goes_once_that_one_is_done():
    from autonomo.company.board import Board

    board = Board()
    items = [{"id": i, "title": i, "depends_on": d} for i, d in (("a", []), ("b", ["c"]), ("c", []))]
    board.add({"type": "plan_made", "items": items})
    board.add({"type": "item_reopened", "item": "a", "reason": "failed", "waits_for": ["b", "c"]})
    combined = {"id": "c", "title": "c; b", "depends_on": []}
    board.add({"type": "items_combined", "item": combined, "absorbed": ["b"], "reason": "failed"})
    board.add({"type": "item_merged", "item": "c"})
    assert [i.id for i in board.ready()] == ["a"]


def test_reviews_of_two_items_finishing_together_call_the_one_model_at_once(workspace):
    """Two items whose engineers finish together are reviewed in parallel threads, both on the company's one
    chat model (in local mode, the very object the engineers share). So the model is called from two threads at
    once, as measured here: every model must be thread-safe, and the local one serialises its calls
    (test_local_model.py); before that, two reviews ran inside one llama.cpp context together."""
    import threading

    active, most = 0, 0
    guard = threading.Lock()

    class Probe(ScriptedModel):
        def complete(self, messages, tools=(), **sampling):
            nonlocal active, most
            with guard:
                active += 1
                most = max(most, active)
            try:
                return super().complete(messages, tools, **sampling)
            finally:
                with guard:
                    active -= 1

    items = [item("add", "python -c 'import add'", ""), item("mul", "python -c 'import mul'", "")]
    scripts = {
        "engineer:add": [engineer(sleep(1), create("add.py", "x = 1\n"))],
        "engineer:mul": [engineer(sleep(1), create("mul.py", "y = 2\n"))],
    }
    slow_approve = {"draft": "APPROVE", "sleep": 1.0}
    log = EventLog(workspace / ".autonomo" / "company" / new_run_id())
    company = Company(workspace, log, model="scripted", chat_model=Probe([plan(items), slow_approve, slow_approve]),
                      sandbox=sandbox_kind(), scripts=scripts)  # fmt: skip
    result = company.run("two modules")
    assert result.items == {"add": "merged", "mul": "merged"}, result.summary
    assert most == 2  # the two reviews were in the model together


def test_engineers_share_the_company_tokens_left_among_the_open_items(workspace):
    items = [item("add", 'python -c "from add import add"', ""), item("mul", 'python -c "from mul import mul"', "")]
    scripts = {
        "engineer:add": [engineer(create("add.py", "def add(a, b):\n    return a + b\n"))],
        "engineer:mul": [engineer(create("mul.py", "def mul(a, b):\n    return a * b\n"))],
    }
    budget = CompanyBudget(tokens=100_000)
    result, events = run_company(workspace, [plan(items), APPROVE, APPROVE], scripts, budget=budget)
    assert result.outcome == "delivered", result.summary
    left = 100_000 - of_type(events, "plan_reply")[0]["spend"]["tokens"]
    runs = sorted((workspace / ".autonomo" / "runs").glob("*/events.jsonl"))
    caps = [json.loads(r.read_text().splitlines()[0])["budget"]["tokens"] for r in runs]
    assert caps == [left // 2, left // 2]  # both items open when both started


def test_the_reviewer_sends_a_verified_item_back_once(workspace):
    items = [item("add", 'python -c "from add import add; print(add(2, 3))"', "5")]
    code = create("add.py", "def add(a, b):\n    return a + b\n")
    reject = {"draft": "REJECT: reads the entire file into memory"}
    result, events = run_company(workspace, [plan(items), reject, reject], {"engineer:add": [engineer(code)] * 2})
    assert result.outcome == "delivered", result.summary
    assert [e["approved"] for e in of_type(events, "item_reviewed")] == [False, False]
    assert len(of_type(events, "item_reopened")) == 1 and of_type(events, "item_merged")


def test_a_change_the_reviewer_sent_back_is_reviewed_again_when_its_redo_passes_nothing(workspace):
    items = [item("add", 'python -c "from add import add; print(add(2, 3))"', "5")]
    right, wrong = (engineer(create("add.py", f"def add(a, b):\n    return {b}\n")) for b in ("a + b", "a - b"))
    reject = {"draft": "REJECT: does not address the whole product"}
    result, events = run_company(workspace, [plan(items), reject, APPROVE], {"engineer:add": [right, wrong]})
    assert result.outcome == "delivered", result.summary
    first, again = of_type(events, "review_started")
    assert "again" not in first and again["again"] and again["branch"] == first["branch"]
    assert "a + b" in (workspace / "add.py").read_text()


def test_a_rejection_in_an_items_last_round_does_not_lose_its_verified_change(workspace):
    items = [item("add", 'python -c "from add import add; print(add(2, 3))"', "5")]
    wrong, right = (engineer(create("add.py", f"def add(a, b):\n    return {b}\n")) for b in ("a - b", "a + b"))
    reject = {"draft": "REJECT: does not address the whole product"}
    result, events = run_company(workspace, [plan(items), reject], {"engineer:add": [wrong, wrong, right]})
    assert result.outcome == "delivered", result.summary
    assert [e["approved"] for e in of_type(events, "item_reviewed")] == [False] and not of_type(events, "item_failed")
    assert "a + b" in (workspace / "add.py").read_text()


def greet_drafts(*bodies: str) -> list[list[dict]]:
    return [engineer(create("greet.py", f"import sys\n{body}\n")) for body in bodies]


PLAIN = "print('Hello, ' + sys.argv[1])"
FULL = "print('Hello, ' + ' and '.join(sys.argv[1:] or ['world']))"


def qa_reply(*checks: tuple[str, str]) -> dict:
    return {"draft": "```json\n" + json.dumps([{"command": c, "expect": e} for c, e in checks]) + "\n```"}


def test_qas_own_check_the_product_fails_stands_only_when_a_sampled_draft_passes_it(workspace):
    items = [item("greet", "python greet.py Ann", "Hello, Ann", files=["greet.py"])]
    qa = qa_reply(
        ("python greet.py", "Hello, world"),  # main fails it, the second draft passes it
        ("python greet.py Ann Bob", "Hello, Ann and Bob"),  # the same
        ("python greet.py Ann", "Hi, Ann"),  # no draft passes it: dropped
    )
    scripts = {"engineer:greet": greet_drafts(PLAIN, FULL), "engineer:qa-fix-1": greet_drafts(FULL, FULL)}
    result, events = run_company(workspace, [plan(items), APPROVE, qa, APPROVE], scripts, samples=2)
    assert result.outcome == "delivered", result.summary
    (explored,) = of_type(events, "qa_explored")
    assert [c["expect"] for c in explored["unconfirmed"]] == ["Hi, Ann"]
    assert [c["expect"] for c in explored["checks"]] == ["Hello, world", "Hello, Ann and Bob"]
    # Both failures in one fix item, held also to the check main passed.
    (added,) = of_type(events, "item_added")
    fix = added["item"]
    assert fix["id"] == "qa-fix-1" and fix["title"].endswith("and 1 more of QA's checks")
    assert fix["files"] == ["greet.py"] and [c["expect"] for c in fix["checks"]] == [
        "Hello, world",
        "Hello, Ann and Bob",
        "Hello, Ann",
    ]
    assert [r["passed"] for r in of_type(events, "qa_report")] == [False, True]
    assert "join" in (workspace / "greet.py").read_text()


def test_without_sampled_drafts_qas_own_checks_all_stand(workspace):
    items = [item("greet", "python greet.py Ann", "Hello, Ann")]
    qa = qa_reply(("python greet.py Ann", "Hi, Ann"))
    scripts = {"engineer:greet": greet_drafts(PLAIN)}
    result, events = run_company(workspace, [plan(items), APPROVE, qa], scripts)
    (explored,) = of_type(events, "qa_explored")
    assert explored["unconfirmed"] == [] and len(explored["checks"]) == 1
    assert of_type(events, "item_added")[0]["item"]["id"] == "qa-fix-1"


def test_a_check_no_fix_draft_passes_leaves_the_products_checks_too(workspace):
    items = [item("greet", "python greet.py Ann", "Hello, Ann")]
    qa = qa_reply(("python greet.py", "Hello, world"))
    # The fix item's drafts pass the check main passed, not QA's: agreement drops it, and QA no longer runs it.
    scripts = {"engineer:greet": greet_drafts(PLAIN, FULL), "engineer:qa-fix-1": greet_drafts(PLAIN, PLAIN)}
    result, events = run_company(workspace, [plan(items), APPROVE, qa, APPROVE], scripts, samples=2)
    assert result.outcome == "delivered", result.summary
    agreed = [e for e in of_type(events, "checks_agreed") if e["item"] == "qa-fix-1"]
    assert [c["expect"] for c in agreed[0]["dropped"]] == ["Hello, world"]
    assert [r["passed"] for r in of_type(events, "qa_report")] == [False, True]
    assert of_type(events, "qa_report")[-1]["checks"] == 1


def test_a_company_that_does_not_deliver_merges_the_best_draft_of_an_item_that_left_nothing(workspace):
    wrong = item("add", 'python -c "from add import add; print(add(2, 3))"', "five", files=["add.py"])
    crash = engineer(create("add.py", "def add(a, b):\n    raise ValueError(a)\n"))
    elsewhere = engineer(create("other.py", "def add(a, b):\n    return a + b\n"))  # not the item's file
    drafts = [crash, elsewhere, crash, crash, *add_drafts("a - b", "a * b")]
    result, events = run_company(workspace, [plan([wrong])], {"engineer:add": drafts}, samples=2)
    assert result.outcome == "failed" and result.items == {"add": "failed"}
    assert "the best drafts of add are on main" in result.summary
    (salvaged,) = of_type(events, "draft_salvaged")
    # None passes the check; the three that crash alike lose to the earliest of those that run.
    assert salvaged["branch"] == "item/add/r2a0" and (salvaged["passes"], salvaged["checks"]) == (0, 1)
    assert salvaged["commit"] and "a - b" in (workspace / "add.py").read_text()
