"""SWE-bench Lite offline (bench/swelite.py) on a repository made here: a bare mirror, an instance row in
SWE-bench's fields, a stand-in for swebench's specs, parsers and grading, and this interpreter as the "environment"
(no pip, no mirror download, no network)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import sandbox_kind

from autonomo.bench.swelite import (
    EnvBuildError,
    MirrorError,
    SweBench,
    SwebenchUnavailable,
    SweEnv,
    SweTask,
    finder_mapping,
    load_swe_tasks,
    modified_files,
    run_step,
    swebench_package,
    tree_patch,
    unhook,
    verify_harness,
    yml_requirements,
)
from autonomo.errors import SetupError
from autonomo.repo.testing import statuses_in

REPO = "acme/calc"
CALC = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
TESTS = "from calc import add, sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n"
ISSUE = "add(2, 3) returns -1 instead of 5."
HINT = "SECRET HINT: look at the minus sign in add"


def sh(root: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *ident, *args], cwd=root, check=True, capture_output=True, text=True).stdout


def diff_of(root: Path, change) -> str:
    """The diff that ``change(root)`` makes to the repository's last commit; the repository is put back."""
    change(root)
    sh(root, "add", "-A")
    patch = sh(root, "diff", "--cached")
    sh(root, "reset", "-q", "--hard")
    return patch


def fake_swebench(test_cmd: str = "python -m pytest -rA -p no:cacheprovider") -> SweBench:
    def directives(instance: dict) -> list[str]:
        return re.findall(r"diff --git a/.* b/(.*)", instance["test_patch"])

    def grade(repo: str, statuses: dict, f2p: list[str], p2p: list[str]) -> tuple[bool, dict]:
        ok = {t for t, s in statuses.items() if s in ("PASSED", "XFAIL")}
        report = {k: {"success": [t for t in v if t in ok], "failure": [t for t in v if t not in ok]}
                  for k, v in (("FAIL_TO_PASS", f2p), ("PASS_TO_PASS", p2p))}  # fmt: skip
        return not report["FAIL_TO_PASS"]["failure"] and not report["PASS_TO_PASS"]["failure"], report

    spec = {"python": "3.11", "install": "true", "test_cmd": test_cmd, "pre_install": ["apt-get install -y nothing"]}
    return SweBench("test", {REPO: {"1.0": spec}}, {REPO: lambda log, _spec: statuses_in(log)}, directives, grade)


def this_python(task: SweTask) -> SweEnv:
    return SweEnv(Path(sys.prefix), (".",))


@pytest.fixture
def instance(tmp_path: Path) -> tuple[dict, Path]:
    """A repository whose add() is wrong, its bare mirror, and the SWE-bench row of the bug."""
    src = tmp_path / "calc"
    (src / "tests").mkdir(parents=True)
    (src / "calc.py").write_text(CALC)
    (src / "tests" / "test_calc.py").write_text(TESTS)
    sh(src, "init", "-q", "-b", "trunk")
    sh(src, "add", "-A")
    sh(src, "commit", "-q", "-m", "calc")
    base = sh(src, "rev-parse", "HEAD").strip()
    sh(src, "tag", "v1.0")
    gold = diff_of(src, lambda r: (r / "calc.py").write_text(CALC.replace("return a - b", "return a + b", 1)))
    test_patch = diff_of(src, lambda r: (r / "tests" / "test_calc.py").write_text(
        TESTS + "\n\ndef test_add():\n    assert add(2, 3) == 5\n"))  # fmt: skip
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    sh(tmp_path, "clone", "-q", "--bare", str(src), str(mirrors / "acme__calc.git"))
    row = {"instance_id": "acme__calc-1", "repo": REPO, "base_commit": base, "environment_setup_commit": base,
           "version": "1.0", "problem_statement": ISSUE, "hints_text": HINT, "test_patch": test_patch,
           "patch": gold, "FAIL_TO_PASS": json.dumps(["tests/test_calc.py::test_add"]),
           "PASS_TO_PASS": json.dumps(["tests/test_calc.py::test_sub"]), "subsets": ["dev30"]}  # fmt: skip
    return row, mirrors


def task_of(row: dict, mirrors: Path, **kw) -> SweTask:
    return SweTask.from_row(row, mirrors, kw.get("swebench") or fake_swebench(), this_python)


def test_prepare_checks_out_the_base_commit_alone_and_the_goal_is_the_issue_only(instance, tmp_path):
    row, mirrors = instance
    task = task_of(row, mirrors)
    ws = tmp_path / "ws"
    task.prepare(ws)
    assert sh(ws, "rev-parse", "HEAD").strip() == row["base_commit"]
    assert sh(ws, "for-each-ref", "--format=%(refname)").split() == ["refs/heads/main"]  # no tag, remote, branch
    assert sh(ws, "status", "--porcelain") == ""  # the machine-changing pre_install was not run
    assert (ws / "calc.py").read_text() == CALC
    assert (ws / "tests" / "test_calc.py").read_text() == TESTS  # the test_patch is scoring material
    assert task.goal == ISSUE and HINT not in task.goal
    assert task.test_command is not None and task.test_command.endswith("tests/test_calc.py")
    assert f"PATH={sys.prefix}/bin:" in task.test_command
    run = subprocess.run(["bash", "-c", task.test_command], cwd=ws, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout  # the agent's command: the tests that exist at the base commit


def test_the_gold_patch_resolves_and_no_patch_does_not(instance, tmp_path):
    row, mirrors = instance
    task = task_of(row, mirrors)
    ws = tmp_path / "ws"
    task.prepare(ws)
    before = task.score(ws, tmp_path / "s0", sandbox=sandbox_kind())
    assert not before.passed and "0/1 FAIL_TO_PASS, 1/1 PASS_TO_PASS" in before.summary
    assert "test_add" in (tmp_path / "s0.log").read_text()  # the log is kept beside the scratch tree
    subprocess.run(["git", "apply"], cwd=ws, input=task.patch, text=True, check=True)
    assert task.score(ws, tmp_path / "s1", sandbox=sandbox_kind()).passed
    rows = verify_harness([task], tmp_path / "verify", log=lambda _: None, sandbox=sandbox_kind())
    assert rows[0]["gold_resolved"] is True and rows[0]["empty_resolved"] is False and rows[0]["setup_error"] is None
    assert json.loads((tmp_path / "verify" / "verify.jsonl").read_text())["ok"] is True


def test_scoring_takes_the_agents_commits_and_new_files_and_puts_the_tests_back(instance, tmp_path):
    row, mirrors = instance
    task = task_of(row, mirrors)
    ws = tmp_path / "ws"
    task.prepare(ws)
    (ws / "calc.py").write_text("from fix import add  # noqa\n\n\ndef sub(a, b):\n    return a - b\n")
    (ws / "fix.py").write_text("def add(a, b):\n    return a + b\n")  # a new file, never added to git
    sh(ws, "checkout", "-q", "-b", "agent")
    sh(ws, "commit", "-q", "-am", "use fix")  # committed on a branch, as a repository run leaves it
    (ws / "tests" / "test_calc.py").write_text("def test_add():\n    pass\n")  # the agent's own test: reset
    (ws / "__pycache__").mkdir()
    (ws / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    patch = tree_patch(ws, row["base_commit"])
    assert "fix.py" in patch and "__pycache__" not in patch
    assert sh(ws, "status", "--porcelain", "--untracked-files=no") != ""  # its index was left alone
    assert task.score(ws, tmp_path / "s", sandbox=sandbox_kind()).passed
    assert (tmp_path / "s" / "tests" / "test_calc.py").read_text().startswith(TESTS)


def test_a_missing_mirror_or_commit_is_a_one_line_setup_error(instance, tmp_path):
    row, mirrors = instance
    with pytest.raises(SetupError) as err:
        task_of(row, tmp_path / "nowhere").prepare(tmp_path / "ws")
    assert isinstance(err.value, MirrorError) and "\n" not in str(err.value)
    assert "acme/calc" in str(err.value) and "acme__calc.git" in str(err.value)
    with pytest.raises(MirrorError, match="base_commit 0123456789ab of acme__calc-1 is not in the mirror"):
        task_of({**row, "base_commit": "0123456789abcdef" * 2 + "01234567"}, mirrors).prepare(tmp_path / "ws")
    with pytest.raises(SetupError, match="no spec for acme/calc 9.9"):
        task_of({**row, "version": "9.9"}, mirrors).prepare(tmp_path / "ws")


def test_a_failed_build_step_says_why_in_one_line_and_keeps_the_log(tmp_path):
    log = tmp_path / "build.log"
    failing = "print('Collecting nothing'); print('ERROR: No matching distribution found for nothing==9'); exit(1)"
    with pytest.raises(EnvBuildError) as err:
        run_step([sys.executable, "-c", failing], cwd=tmp_path, log=log, what="acme/calc 1.0")
    message = str(err.value)
    assert "\n" not in message and "No matching distribution found for nothing==9" in message
    assert str(log) in message and "Collecting nothing" in log.read_text()


def test_the_editable_install_hooks_are_taken_out_and_their_import_roots_kept(tmp_path):
    root, checkout = tmp_path / "env", tmp_path / "src"
    site = root / "lib" / "python3.9" / "site-packages"
    site.mkdir(parents=True)
    (checkout / "src" / "pkg.egg-info").mkdir(parents=True)
    (checkout / "src" / "pkg.egg-info" / "PKG-INFO").write_text("Name: pkg\nVersion: 1.0\n")
    (site / "pkg.egg-link").write_text(f"{checkout / 'src'}\n../\n")  # setup.py develop
    (site / "easy-install.pth").write_text(f"{checkout / 'src'}\n/elsewhere\n")
    (site / "__editable__.other-1.0.pth").write_text(f"{checkout}\n")  # PEP 660, a path
    (site / "__editable___flat_1_0_finder.py").write_text(f"MAPPING: dict[str, str] = {{'flat': '{checkout}/flat'}}\n")
    (site / "__editable__.flat-1.0.pth").write_text("import __editable___flat_1_0_finder; x.install()\n")
    (site / "distutils-precedence.pth").write_text("import os; var = 'x'\n")
    assert unhook(root, checkout) == ["src", "."]
    assert sorted(p.name for p in site.iterdir()) == ["distutils-precedence.pth", "easy-install.pth", "pkg.egg-info"]
    assert (site / "easy-install.pth").read_text() == "/elsewhere\n"
    assert finder_mapping("MAPPING = {'a': '/x/a'}\nNAMESPACES = {}\n") == {"a": "/x/a"}


def test_load_takes_the_subset_or_the_named_instances(instance, tmp_path):
    row, mirrors = instance
    path = tmp_path / "tasks.jsonl"
    other = {**row, "instance_id": "acme__calc-2", "subsets": []}
    path.write_text(json.dumps(row) + "\n\n" + json.dumps(other) + "\n")
    swebench = fake_swebench()
    assert [t.id for t in load_swe_tasks(path, mirrors, swebench=swebench, env_builder=this_python)] == ["acme__calc-1"]
    assert len(load_swe_tasks(path, mirrors, subset=None, swebench=swebench, env_builder=this_python)) == 2
    named = load_swe_tasks(path, mirrors, ids=["acme__calc-2"], swebench=swebench, env_builder=this_python)
    assert [t.id for t in named] == ["acme__calc-2"] and named[0].fail_to_pass == ["tests/test_calc.py::test_add"]
    assert named[0].mirror == mirrors / "acme__calc.git" and "SECRET" not in repr(named[0])


def test_helpers_read_patches_and_conda_files_as_swebench_does(tmp_path):
    patch = (
        "diff --git a/t/test_a.py b/t/test_a.py\n--- a/t/test_a.py\n+++ b/t/test_a.py\n@@ -1 +1 @@\n-x\n+y\n"
        "diff --git a/t/test_new.py b/t/test_new.py\nnew file mode 100644\n--- /dev/null\n+++ b/t/test_new.py\n"
    )
    assert modified_files(patch) == ["t/test_a.py"]
    yml = "name: env\ndependencies:\n  - python=3.10\n  - numpy=1.23\n  - dask-core\n  - pip\n  - pip:\n    - numbagg\n"
    assert yml_requirements(yml) == ["numpy==1.23", "dask", "numbagg"]
    with pytest.raises(SwebenchUnavailable):
        swebench_package(tmp_path / "no-swebench", install=False)


def test_bench_swe_lite_without_mirrors_gives_one_line(tmp_path):
    from typer.testing import CliRunner

    from autonomo.cli import app

    result = CliRunner().invoke(app, ["bench", "swe-lite", "--mirrors", str(tmp_path / "none")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "needs --mirrors DIR" in lines[0]


FIXED = CALC.replace("return a - b", "return a + b", 1)
REPRODUCTION = "```python\nfrom calc import add\n\n\ndef test_add_adds():\n    assert add(2, 3) == 5\n```"


@pytest.mark.parametrize(
    ("strategy", "replies", "resolved"),
    [
        pytest.param("auto", [f"### calc.py\n```python\n{FIXED}```"], True, id="auto-draft"),
        # A draft the repository's own tests accept (test_sub) that the instance's hidden test_add does not: the
        # run is verified, the instance is not resolved.
        pytest.param("auto", [f"### calc.py\n```python\n{FIXED.replace('a + b', 'a * b')}```"], False, id="auto-wrong"),
        # No test fails at the base commit: a wave of reproduction tests first, then a wave of rewrites of add.
        pytest.param("repair", [REPRODUCTION] * 4 + ["```python\ndef add(a, b):\n    return a + b\n```"] * 4, True,
                     id="repair"),
    ],
)  # fmt: skip
def test_bench_swe_lite_end_to_end_with_a_hosted_model(strategy, replies, resolved, instance, server, tmp_path,
                                                       monkeypatch):  # fmt: skip
    """`autonomo bench swe-lite --model PROVIDER/NAME --api-base URL` on the instance made here, through litellm to a
    fake OpenAI-compatible server. The command loads swebench's specs and builds environments itself, which needs
    the swebench package, pyenv Pythons and pip; here the stand-ins of the other tests take their place (the fake
    specs, this interpreter as the environment)."""
    from fake_openai import FakeOpenAI, Reply, text_completion
    from typer.testing import CliRunner

    from autonomo.bench import swelite
    from autonomo.bench.runner import read_report
    from autonomo.cli import app

    monkeypatch.setattr(swelite, "load_swebench", fake_swebench)
    monkeypatch.setattr(swelite, "EnvCache", lambda: this_python)
    row, mirrors = instance
    tasks, out = tmp_path / "tasks.jsonl", tmp_path / "bench"
    tasks.write_text(json.dumps(row) + "\n")
    FakeOpenAI.replies = [Reply(payload=text_completion(text)) for text in replies]
    result = CliRunner().invoke(app, ["bench", "swe-lite", "--tasks", str(tasks), "--mirrors", str(mirrors),
                                      "--model", "openai/fake-coder", "--api-base", server, "--out", str(out),
                                      "--sandbox", sandbox_kind(), "--strategy", strategy],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    (mine,) = read_report(out / "report.jsonl")
    assert (mine["system"], mine["task"], mine["model"]) == ("autonomo", "acme__calc-1", "openai/fake-coder")
    assert mine["passed"] is resolved and mine["outcome"] == "completed"  # verified by its tests, either way
    expected = "1/1 FAIL_TO_PASS, 1/1 PASS_TO_PASS" if resolved else "0/1 FAIL_TO_PASS, 1/1 PASS_TO_PASS"
    assert mine["attempt_log"][0]["score"].startswith(expected)
    n = len(replies)  # each of the fake's replies counts 120 prompt tokens, 100 of them cached, and 15 completion
    assert mine["steps"] == n and (mine["prompt_tokens"], mine["completion_tokens"]) == (120 * n, 15 * n)
    assert mine["prompt_tokens_evaluated"] == 20 * n and mine["tokens"] == 135 * n
    assert len(FakeOpenAI.requests) == n and not FakeOpenAI.replies  # every call went to the server
    assert {r["model"] for r in FakeOpenAI.requests} == {"fake-coder"}
    for sent in FakeOpenAI.requests:  # the issue reaches the model, the hints and the hidden tests do not
        prompt = "\n".join(m["content"] for m in sent["messages"])
        assert ISSUE in prompt and HINT not in prompt and "test_add():" not in prompt
    (patch,) = out.glob("work/autonomo/*/a0/.git/autonomo/runs/*/changes.patch")  # the run's own, on its branch
    assert ("+    return a + b" in patch.read_text()) is resolved
    started = json.loads((patch.parent / "events.jsonl").read_text().splitlines()[0])
    assert started["config"]["api_base"] == server  # the log says where the calls went
