"""The ``autonomo`` command line."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from autonomo.errors import SetupError
from autonomo.events import CompanyOutcome, EventLog, Ledger, Outcome, find_run, list_runs, new_run_id, read_events

if TYPE_CHECKING:
    from autonomo.agent.loop import RunResult
    from autonomo.assembly import RunConfig
    from autonomo.company.orchestrator import CompanyBudget

err = Console(stderr=True)

# Exit codes: 0 goal met with tests passing, 1 run ended otherwise, 2 bad input, 130 interrupted.
EXIT_BAD_INPUT = 2
MAX_GOAL_CHARS = 100_000  # a goal is an instruction; a 1 MB "goal" is a mistake (or an attack on the budget)


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


class Commands(TyperGroup):
    """Every command runs here: a set-up error from any layer (a bad --model, a missing extra, no sandbox, a bad
    scene) becomes its one-line message and exit code 2, in this one place."""

    def invoke(self, ctx):  # noqa: ANN001 - click's signature
        try:
            return super().invoke(ctx)
        except SetupError as exc:
            raise fail(str(exc)) from None


app = typer.Typer(
    cls=Commands, add_completion=False, no_args_is_help=True, help="autonomo: an agent that works on its own."
)


def log_home(workspace: Path, home: Path | None) -> Path:
    """``--home``; else WORKSPACE/.autonomo, but for a git repository that has none, its git folder's (so that a
    repository run leaves the working tree untouched)."""
    from autonomo.repo.checkout import home_of, repository_root

    if home:
        return home.resolve()
    if not (workspace / ".autonomo").exists() and repository_root(workspace):
        return home_of(workspace)
    return (workspace / ".autonomo").resolve()


WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="folder the agent works in")]
HomeOpt = Annotated[Path | None, typer.Option(help="where run logs live (default WORKSPACE/.autonomo)")]


@app.command()
def run(
    goal: Annotated[str | None, typer.Argument(help="what the agent should achieve (or --issue FILE)")] = None,
    workspace: WorkspaceOpt = Path("."),
    issue: Annotated[Path | None, typer.Option(help="read the goal from this file (an issue's text)")] = None,
    strategy: Annotated[str, typer.Option(help="auto | loop | repair (a repository's failing tests)")] = "auto",
    model: Annotated[str, typer.Option(help="local | gguf:PATH | PROVIDER/MODEL | scripted:PATH")] = "local",
    max_steps: Annotated[int, typer.Option(min=1)] = 30,
    budget_tokens: Annotated[int | None, typer.Option(min=1, help="stop after this many tokens")] = None,
    budget_usd: Annotated[float | None, typer.Option(min=0, help="stop after this many dollars")] = None,
    timeout: Annotated[float | None, typer.Option(min=1, help="stop after this many seconds")] = None,
    sandbox: Annotated[str, typer.Option(help="bwrap | none")] = "bwrap",
    command_timeout: Annotated[float, typer.Option(min=1, help="seconds per shell command")] = 120,
    test_command: Annotated[str | None, typer.Option(help="command that runs the tests (default: pytest)")] = None,
    protect: Annotated[list[str] | None, typer.Option(help="file the agent may not change (repeatable)")] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="host variable to pass to tool processes, e.g. an API key (repeatable)")
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="base URL of an OpenAI-compatible server")] = None,
    draft: Annotated[bool, typer.Option(help="start with a one-completion draft of whole files")] = True,
    home: HomeOpt = None,
    quiet: Annotated[bool, typer.Option(help="print only the summary")] = False,
) -> None:
    """Work on GOAL in WORKSPACE until it is met and verified, or the budget is spent. A WORKSPACE that is a git
    repository is worked on in a worktree on a branch of its own, which ends with a commit and a patch."""
    from autonomo.agent.loop import Budget
    from autonomo.assembly import RunConfig, make_agent
    from autonomo.repo import runs as repo_runs
    from autonomo.repo.checkout import repository_root

    if (goal is None) == (issue is None):
        raise fail("give the goal as an argument or as --issue FILE (one of them)")
    if issue is not None:
        try:
            goal = issue.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read the issue file {issue}: {exc}") from None
    assert goal is not None
    check_strategy(strategy)
    problem = goal_problem(goal)
    if problem:
        raise fail(problem)
    if not workspace.exists():
        raise fail(f"workspace {workspace} does not exist")
    if not workspace.is_dir():
        raise fail(f"workspace {workspace} is not a directory")
    if not writable(workspace):
        raise fail(f"workspace {workspace} is not writable")
    config = RunConfig(
        model=model,
        api_base=api_base,
        sandbox=sandbox,
        command_timeout=command_timeout,
        test_command=test_command,
        protect=list(protect or ()),
        env=list(env or ()),  # names only: values stay in the environment, and out of the log
        draft=draft,
        strategy=strategy,
        budget=Budget(max_steps=max_steps, tokens=budget_tokens, usd=budget_usd, seconds=timeout),
    )
    repo = repository_root(workspace)
    if repo is None:
        agent = make_agent(config, workspace, home=log_home(workspace, home))
        conclude(agent.log, quiet, lambda: agent.run(goal, config=config.logged()))
        return
    config, worktree, run_dir = repo_runs.start(config, repo, log_home(workspace, home))
    agent = make_agent(config, worktree, run_dir=run_dir)
    conclude(agent.log, quiet, lambda: agent.run(goal, config=config.logged()), (config, worktree, goal))


@app.command()
def resume(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="run id, id prefix, or 'last'")],
    workspace: WorkspaceOpt = Path("."),
    home: HomeOpt = None,
    quiet: Annotated[bool, typer.Option(help="print only the summary")] = False,
    company: Annotated[bool, typer.Option("--company", help="RUN is a company run (`autonomo company`)")] = False,
) -> None:
    """Continue a run that was killed or crashed, from its event log."""
    from autonomo.assembly import RunConfig, make_agent
    from autonomo.models.scripted import ScriptedModel

    try:
        run_dir = find_run(log_home(workspace, home), run_ref, "company" if company else "runs")
    except LookupError as exc:
        raise fail(str(exc)) from None
    events = list(read_events(run_dir / "events.jsonl"))
    if company:
        resume_company(run_dir, events)
        return
    started = next((e for e in events if e["type"] == "run_started"), None)
    if started is None or "config" not in started:
        raise fail(f"{run_dir} holds no resumable run (no run_started event with its config)")
    if str(started.get("body", "")).startswith("robot"):
        raise fail(f"{run_dir.name} is a robot run: the simulation is not kept, so it cannot be resumed")
    finished = next((e for e in events if e["type"] == "run_finished"), None)
    if finished is not None:
        raise fail(f"run {run_dir.name} already finished ({finished['outcome']}); start a new run instead")
    config = RunConfig.from_log(started)
    agent = make_agent(config, Path(started["workspace"]), run_dir=run_dir)
    if isinstance(agent.model, ScriptedModel):  # a script replays by position: skip the replies already used
        agent.model.calls = Ledger.from_events(events).model_calls
    repository = (config, Path(started["workspace"]), started["goal"]) if config.repository else None
    conclude(agent.log, quiet, lambda: agent.resume(events), repository)


def check_strategy(strategy: str) -> None:
    if strategy not in ("auto", "loop", "repair"):
        raise fail(f"unknown strategy {strategy!r}; use auto, loop or repair")


def goal_problem(goal: str) -> str | None:
    """Why a goal cannot be worked on, or None."""
    if not goal.strip():
        return "the goal is empty"
    if len(goal) > MAX_GOAL_CHARS:
        return f"the goal is {len(goal)} characters; the limit is {MAX_GOAL_CHARS}: put long material in a file"
    try:
        goal.encode("utf-8")  # arguments that are not UTF-8 arrive as lone surrogates
    except UnicodeEncodeError:
        return "the goal is not valid UTF-8 text"
    if any(ord(c) < 32 and c not in "\t\n\r" for c in goal):
        return "the goal holds control characters: give it as plain text"
    return None


def writable(folder: Path) -> bool:
    """Tried, not inferred from permission bits: root passes every access() check, a read-only mount does not."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def conclude(
    log: EventLog, quiet: bool, work: Callable[[], RunResult], repository: tuple[RunConfig, Path, str] | None = None
) -> None:
    """Runs the agent with the live view, prints the summary, and exits with the run's code. A repository run's
    work (``repository``: its config, worktree and goal) is committed on its branch, with a patch."""
    from autonomo.ui.progress import ProgressView, summary_panel

    view = ProgressView(live=not quiet)
    if not quiet:
        log.subscribe(view)
    try:
        result = work()
    finally:
        view.close()
    if repository is not None and result.outcome != Outcome.INTERRUPTED:  # interrupted: resume goes on in it
        from autonomo.repo import runs as repo_runs

        config, worktree, goal = repository
        patch = repo_runs.conclude(config, worktree, log, goal)
        err.print(f"branch: {config.repository.branch} · patch: {patch}", highlight=False, soft_wrap=True)
    if quiet:
        finished = next(e for e in reversed(list(read_events(log.path))) if e["type"] == "run_finished")
        Console().print(summary_panel(finished))
    err.print(f"[dim]log: {log.path}[/]")
    if result.outcome == Outcome.INTERRUPTED:
        raise typer.Exit(130)
    raise typer.Exit(0 if result.outcome == Outcome.COMPLETED and result.tests_passed else 1)


@app.command()
def company(
    request: Annotated[str, typer.Argument(help="the product to build")],
    workspace: WorkspaceOpt,
    workers: Annotated[int, typer.Option(min=1, help="engineers working at once")] = 2,
    attempts: Annotated[int, typer.Option(min=1, help="independent engineers per work item")] = 1,
    samples: Annotated[
        int, typer.Option(min=1, help="drafts per round of each item, held to its checks by agreement")
    ] = 1,
    budget_usd: Annotated[float | None, typer.Option(min=0, help="stop the company after this many dollars")] = None,
    budget_tokens: Annotated[int | None, typer.Option(min=1, help="stop the company after this many tokens")] = None,
    agent_usd: Annotated[float | None, typer.Option(min=0, help="the most one agent may spend")] = None,
    agent_steps: Annotated[int, typer.Option(min=1, help="step limit of each engineer")] = 20,
    model: Annotated[str, typer.Option(help="local | gguf:PATH | PROVIDER/MODEL")] = "local",
    api_base: Annotated[str | None, typer.Option(help="base URL of an OpenAI-compatible server")] = None,
    sandbox: Annotated[str, typer.Option(help="bwrap | none")] = "bwrap",
    ray: Annotated[str | None, typer.Option(help="run engineers as tasks on the Ray cluster at this address")] = None,
) -> None:
    """Build REQUEST in WORKSPACE with a planner, engineers in parallel, a reviewer and QA."""
    from autonomo.company.orchestrator import CompanyBudget

    problem = goal_problem(request)
    if problem:
        raise fail(problem.replace("goal", "request"))
    if not workspace.is_dir() or not writable(workspace):
        raise fail(f"workspace {workspace} is not a writable directory")
    workspace = workspace.resolve()
    budget = CompanyBudget(usd=budget_usd, tokens=budget_tokens, agent_usd=agent_usd, agent_steps=agent_steps)
    config = {"model": model, "api_base": api_base, "workers": workers, "attempts": attempts, "samples": samples,
              "sandbox": sandbox}  # fmt: skip
    run_dir = workspace / ".autonomo" / "company" / new_run_id()
    run_company(workspace, run_dir, config, budget, ray, lambda c: c.run(request))


def resume_company(run_dir: Path, events: list[dict]) -> None:
    from autonomo.company.orchestrator import CompanyBudget

    started = next((e for e in events if e["type"] == "company_started"), None)
    if started is None or "sandbox" not in started:
        raise fail(f"{run_dir} holds no resumable company run (no company_started event with its settings)")
    finished = next((e for e in events if e["type"] == "company_finished"), None)
    if finished is not None:
        raise fail(f"company run {run_dir.name} already finished ({finished['outcome']})")
    config = {k: started[k] for k in ("model", "api_base", "workers", "attempts", "sandbox")}
    config["samples"] = started.get("samples", 1)  # logs from before --samples
    budget = CompanyBudget(**started["budget"])
    workspace = Path(started["workspace"])
    run_company(workspace, run_dir, config, budget, started.get("ray"), lambda c: c.resume(events))


def run_company(
    workspace: Path, run_dir: Path, config: dict, budget: CompanyBudget, ray: str | None, work: Callable
) -> None:
    """Builds the company a run's settings describe and runs ``work`` on it; any problem with the settings is bad
    input (exit 2); the exit code says whether the product was delivered."""
    from autonomo.company.backends import local_backend, ray_backend
    from autonomo.company.orchestrator import Company
    from autonomo.computer.sandbox import Sandbox
    from autonomo.models import load_model

    Sandbox(workspace, kind=config["sandbox"])
    # The same object the engineers of this process get (a GGUF is loaded once): one model, one queue of calls.
    chat_model = load_model(config["model"], api_base=config["api_base"])
    backend = ray_backend(ray) if ray else local_backend
    log = EventLog(run_dir)
    log.subscribe(company_line)
    company = Company(workspace, log, chat_model=chat_model, budget=budget, backend=backend, ray=ray, **config)
    result = work(company)  # a GitError (a workspace git cannot work with) is a set-up error: exit 2
    err.print(f"[dim]log: {log.path} · resume with: autonomo resume --company {log.run_id} -w {workspace}[/]")
    raise typer.Exit(0 if result.outcome == CompanyOutcome.DELIVERED else 1)


def company_line(event: dict) -> None:
    """One line per board change of a company run."""
    kind = event["type"]
    shown = {
        "plan_made": lambda e: f"plan: {', '.join(i['id'] for i in e['items'])}",
        "item_started": lambda e: f"{e['item']}: engineer at work (round {e['round']}, attempt {e['attempt']})",
        "item_attempt_finished": lambda e: f"{e['item']}: attempt {e['attempt']} {e['outcome']}",
        "item_reviewed": lambda e: f"{e['item']}: review {'approved' if e['approved'] else 'rejected'}",
        "merge_conflict": lambda e: f"{e['item']}: merge conflict in {', '.join(e['files'])}",
        "item_merged": lambda e: f"{e['item']}: merged",
        "item_reopened": lambda e: f"{e['item']}: sent back: {e['reason'][:120]}",
        "items_combined": lambda e: f"{e['item']['id']}: takes over the work of {', '.join(e['absorbed'])}",
        "item_failed": lambda e: f"{e['item']}: given up: {e['reason'][:120]}",
        "qa_report": lambda e: f"QA: {e['checks'] - len(e['failures'])}/{e['checks']} checks pass",
        "budget_stop": lambda e: f"budget: {e['reason']}",
        "company_finished": lambda e: (
            f"{e['outcome']}: {e['summary']} · {e['totals']['tokens']} tokens · ${e['totals']['usd']:.4f}"
        ),
    }
    if kind in shown:
        Console().print(escape(shown[kind](event)), highlight=False)


@app.command()
def throughput(
    workers: Annotated[str, typer.Option(help="local worker counts to measure, comma-separated")] = "1,4,16,64",
    ray_nodes: Annotated[str, typer.Option(help="Ray node counts to measure on a local cluster ('' for none)")] = "",
    cpus_per_node: Annotated[int, typer.Option(min=1, help="engineers per Ray node")] = 4,
    delay: Annotated[float, typer.Option(min=0, help="seconds each stub model call takes")] = 1.0,
    items_per_worker: Annotated[int, typer.Option(min=1)] = 2,
    out: Annotated[Path, typer.Option(help="results folder")] = Path("bench-results/throughput"),
    sandbox: Annotated[str, typer.Option(help="bwrap | none")] = "bwrap",
) -> None:
    """Company-mode throughput with a stub model: engineer agents completed per minute."""
    import json

    from autonomo.bench.throughput import measure

    try:
        counts = [int(w) for w in workers.split(",") if w.strip()]
        nodes = [int(n) for n in ray_nodes.split(",") if n.strip()]
    except ValueError:
        raise fail("--workers and --ray-nodes take comma-separated integers") from None
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for w in counts:
        rows.append({"backend": "local", **measure(w, max(8, items_per_worker * w), delay, sandbox=sandbox)})
        Console().print(rows[-1], highlight=False)
    for n in nodes:
        from ray.cluster_utils import Cluster

        from autonomo.company.backends import ray_backend

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus_per_node, "include_dashboard": False})
        for _ in range(n - 1):
            cluster.add_node(num_cpus=cpus_per_node)
        try:
            w = n * cpus_per_node
            row = measure(w, items_per_worker * w, delay, backend=ray_backend(cluster.address), sandbox=sandbox)
            rows.append({"backend": f"ray, {n} node{'s' if n > 1 else ''}", **row})
            Console().print(rows[-1], highlight=False)
        finally:
            import ray

            ray.shutdown()
            cluster.shutdown()
    with open(out / "throughput.jsonl", "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"date": time.strftime("%Y-%m-%d"), **row}) + "\n")
    table = Table("backend", "workers", "agents", "work s", "agents/min", "outcome")
    for r in rows:
        table.add_row(
            r["backend"],
            str(r["workers"]),
            str(r["agents_completed"]),
            str(r["work_seconds"]),
            str(r["agents_per_minute"]),
            r["outcome"],
        )
    Console().print(table)


@app.command()
def runs(workspace: WorkspaceOpt = Path("."), home: HomeOpt = None) -> None:
    """List past runs."""
    table = Table("run", "goal", "model", "outcome", "tests", "steps", "tokens", "cost $", "seconds")
    for run_dir in list_runs(log_home(workspace, home)):
        events = list(read_events(run_dir / "events.jsonl"))
        started = next((e for e in events if e["type"] == "run_started"), {})
        finished = next((e for e in events if e["type"] == "run_finished"), {})
        ledger = Ledger.from_events(events)
        steps = max((e.get("step", 0) for e in events), default=0)
        table.add_row(
            run_dir.name,
            str(started.get("goal", ""))[:40],
            str(started.get("model", "")),
            finished.get("outcome", "unfinished"),
            finished.get("tests", ""),
            str(steps),
            str(ledger.tokens),
            f"{ledger.cost_usd:.4f}",
            f"{ledger.elapsed:.0f}",
        )
    Console().print(table)


@app.command()
def show(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="run id, id prefix, or 'last'")],
    workspace: WorkspaceOpt = Path("."),
    home: HomeOpt = None,
) -> None:
    """Replay a run from its event log."""
    from autonomo.ui.progress import ProgressView

    try:
        run_dir = find_run(log_home(workspace, home), run_ref)
    except LookupError as exc:
        raise fail(str(exc)) from None
    view = ProgressView(live=False)
    for event in read_events(run_dir / "events.jsonl"):
        view(event)


@app.command()
def bench(
    suite: Annotated[str, typer.Argument(help="exercism | humaneval | company | bugs | swe-lite | inference")],
    tasks: Annotated[Path | None, typer.Option(help="task JSONL (default: ../shared/benchmarks/...)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="run only the first N tasks")] = None,
    attempts: Annotated[int, typer.Option(min=1, help="independent autonomo attempts per task")] = 1,
    parallel: Annotated[int, typer.Option(min=1, help="autonomo attempts run at once (decoded together)")] = 1,
    model: Annotated[str, typer.Option(help="local | gguf:PATH | PROVIDER/MODEL")] = "local",
    api_base: Annotated[str | None, typer.Option(help="base URL of an OpenAI-compatible server")] = None,
    max_steps: Annotated[int, typer.Option(min=1, help="an attempt's model calls")] = 15,
    budget_tokens: Annotated[
        int | None, typer.Option(min=1, help="an attempt's tokens, prompt and completion (default 40,000)")
    ] = None,
    peer: Annotated[
        list[str] | None, typer.Option(help="also run: oneshot | mini-swe-agent | company (repeatable)")
    ] = None,
    skip_autonomo: Annotated[bool, typer.Option(help="run only the peers")] = False,
    out: Annotated[Path | None, typer.Option(help="results folder (default bench-results/SUITE-MODEL)")] = None,
    sandbox: Annotated[str, typer.Option(help="bwrap | none")] = "bwrap",
    sequences: Annotated[str, typer.Option(help="inference: concurrent sequences to measure")] = "1,2,4,8",
    max_tokens: Annotated[int, typer.Option(min=1, help="inference: tokens each sequence generates")] = 128,
    draft: Annotated[str, typer.Option(help="inference: prompt-lookup draft lengths to measure (0: none)")] = "0",
    workload: Annotated[str, typer.Option(help="inference: write | rewrite, comma-separated")] = "write,rewrite",
    repo: Annotated[list[Path] | None, typer.Option(help="bugs: generate tasks from this repository's tests")] = None,
    count: Annotated[int, typer.Option(min=1, help="bugs: tasks to generate per repository")] = 20,
    test_args: Annotated[str, typer.Option(help="bugs: pytest arguments, after any VAR=VALUE, e.g. 'tests'")] = "",
    seed: Annotated[int, typer.Option(help="bugs: where the choice of mutations starts")] = 0,
    generate_only: Annotated[bool, typer.Option(help="bugs: write the tasks, run nothing")] = False,
    strategy: Annotated[str, typer.Option(help="bugs, swe-lite: autonomo's strategy, auto | loop | repair")] = "auto",
    mirrors: Annotated[Path | None, typer.Option(help="swe-lite: folder of OWNER__NAME.git mirrors")] = None,
    subset: Annotated[str, typer.Option(help="swe-lite: the instances marked so ('all': every one)")] = "dev30",
    verify: Annotated[
        bool, typer.Option(help="swe-lite: check the harness (the gold patch resolves, none not)")
    ] = False,
    tier: Annotated[str | None, typer.Option(help="company: only the requests of tier 1, 2 or calibration")] = None,
    workers: Annotated[int, typer.Option(min=1, help="company: engineers working at once")] = 2,
    samples: Annotated[int, typer.Option(min=1, help="company: drafts per round of an item (agreement)")] = 1,
) -> None:
    """Run a benchmark suite; rerunning the same command resumes where it stopped (inference: measure the engine)."""
    import contextlib
    import signal

    if suite == "inference":
        return bench_inference(model, sequences, max_tokens, draft, workload, out)

    from autonomo.bench.report import write_reports
    from autonomo.bench.runner import (
        ATTEMPT_TOKENS,
        AUTONOMO,
        COMPANY,
        MINISWE,
        ONESHOT,
        SYSTEMS,
        Bench,
        BenchConfig,
    )
    from autonomo.bench.tasks import load_tasks
    from autonomo.files import slug
    from autonomo.models import gguf_file, load_model

    systems = ([] if skip_autonomo else [AUTONOMO]) + list(dict.fromkeys(peer or []))
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise fail(f"unknown or no systems {unknown}; peers are {', '.join(SYSTEMS[1:])}")
    out = (out or Path("bench-results") / f"{suite}-{slug(model)}").resolve()
    if suite == "bugs":
        task_list = bug_tasks(repo or [], tasks, out, count, test_args, seed, sandbox, limit)
        if generate_only:
            return
    elif suite == "swe-lite":
        from autonomo.bench.swelite import SWE_TASKS, load_swe_tasks, verify_harness

        if mirrors is None or not mirrors.is_dir():
            raise fail("bench swe-lite needs --mirrors DIR, a folder of the repositories' mirrors (OWNER__NAME.git)")
        if ONESHOT in systems:
            raise fail("the one-shot reference does not run on swe-lite yet")
        task_list = load_swe_tasks(tasks or SWE_TASKS, mirrors, None if subset == "all" else subset, limit)
        if verify:
            rows = verify_harness(task_list, out / "verify", log=lambda line: Console().print(line, markup=False),
                                  sandbox=sandbox)  # fmt: skip
            bad = [r["instance_id"] for r in rows if not r["ok"]]
            Console().print(f"harness: {len(rows) - len(bad)} of {len(rows)} instances check out; {out / 'verify'}")
            raise typer.Exit(1 if bad else 0)
    else:
        task_list = load_tasks(suite, tasks)
        if tier is not None:
            task_list = [t for t in task_list if t.labels.get("tier") == tier]
            if not task_list:
                raise fail(f"no {suite} task has tier {tier!r}")
        task_list = task_list[:limit]
    if COMPANY in systems and suite != "company":
        raise fail("company mode builds products: run it on the company suite")
    check_strategy(strategy)
    agent_model = load_model(model, api_base=api_base)
    config = BenchConfig(out=out, model_spec=model, api_base=api_base, max_steps=max_steps,
                         max_tokens=budget_tokens or ATTEMPT_TOKENS, attempts=attempts, sandbox=sandbox,
                         parallel=parallel, strategy=strategy, workers=workers, samples=samples)  # fmt: skip
    console = Console()
    # A SIGTERM (a job runner stopping us) unwinds like Ctrl-C: the llama.cpp server is stopped, not orphaned.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with contextlib.ExitStack() as stack:
            server = None
            if MINISWE in systems:
                from autonomo.bench.miniswe import LlamaServer

                gguf = gguf_file(model)
                if gguf is None:
                    raise fail("the mini-swe-agent peer runs a local GGUF model: use --model local or gguf:PATH")
                server = stack.enter_context(LlamaServer(gguf))
            runner = Bench(
                config, agent_model, peer_server=server, log=lambda s: console.print(s, highlight=False, markup=False)
            )
            try:
                runner.run(task_list, systems)
            finally:
                write_reports(out, f"{suite}: {', '.join(systems)} on {model}", [t.id for t in task_list])
    except KeyboardInterrupt:
        err.print("interrupted: the task at hand was not recorded; rerun the same command to resume")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print(f"report: {out / 'report.md'}")


def bug_tasks(repos: list[Path], tasks: Path | None, out: Path, count: int, test_args: str, seed: int, sandbox: str,
              limit: int | None) -> list:  # fmt: skip
    """The generated-bug tasks: from ``--tasks`` files already generated, or generated now from each ``--repo``
    (into OUT/generated/NAME/tasks.jsonl, reused by a rerun)."""
    from autonomo.bench.bugs import generate, load

    if (tasks is None) == (not repos):
        raise fail("bench bugs takes --repo DIR (repeatable) to generate tasks, or --tasks FILE, not both")
    if tasks is not None:
        if not tasks.is_file():
            raise fail(f"task file not found: {tasks}")
        return load(tasks)[:limit]
    found = []
    console = Console(highlight=False, soft_wrap=True)
    for repo in repos:
        if not (repo.is_dir() and any(repo.iterdir())):
            raise fail(f"repository {repo} is not a folder with files in it")
        found += generate(repo, out / "generated" / repo.resolve().name, count, test_args, seed, sandbox,
                          log=lambda line: console.print(line, markup=False))  # fmt: skip
    return found[:limit]


def bench_inference(model: str, sequences: str, max_tokens: int, draft: str, workload: str, out: Path | None) -> None:
    import json

    from autonomo.bench import inference
    from autonomo.bench.runner import source_commit
    from autonomo.files import write_atomic
    from autonomo.models import gguf_file

    gguf = gguf_file(model)
    if gguf is None:
        raise fail("bench inference measures a local GGUF model: use --model local or gguf:PATH")
    try:
        counts = [int(n) for n in sequences.split(",") if n.strip()]
        drafts = [int(n) for n in draft.split(",") if n.strip()]
    except ValueError:
        raise fail("--sequences and --draft take comma-separated integers") from None
    workloads = [w.strip() for w in workload.split(",") if w.strip()]
    if not counts or min(counts) < 1 or any(d < 0 for d in drafts) or not set(workloads) <= {"write", "rewrite"}:
        raise fail("--sequences needs counts >= 1, --draft lengths >= 0, --workload write and/or rewrite")
    out = out or Path("benchmarks") / f"inference-{source_commit()}"
    out.mkdir(parents=True, exist_ok=True)
    keys = ("workload", "grammar", "draft", "sequences", "aggregate_tokens_per_s", "per_sequence_tokens_per_s",
            "prompt_tokens", "prompt_tokens_evaluated_per_round", "seconds")  # fmt: skip

    def record(row: dict) -> None:
        with open(out / "report.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        Console().print(" ".join(f"{k}={row[k]}" for k in keys), highlight=False)

    inference.run(gguf, counts, max_tokens, drafts or [0], workloads, record)
    with open(out / "report.jsonl", encoding="utf-8") as f:
        write_atomic(out / "report.md", inference.markdown([json.loads(line) for line in f if line.strip()]))
    Console().print(f"report: {out / 'report.md'}")


@app.command("robot-train")
def robot_train(
    steps: Annotated[
        int, typer.Option(min=1, help="train until this many environment steps in all (with those of --start-from)")
    ] = 50_000_000,
    minutes: Annotated[float | None, typer.Option(min=0.1, help="stop (and save) after this long")] = None,
    envs: Annotated[int, typer.Option(min=1, help="environments stepped per iteration")] = 128,
    workers: Annotated[int | None, typer.Option(min=0, help="processes stepping them (default: one per core)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="checkpoints, train.jsonl and policy.pt [default: train/g1-walk-vTASK]")
    ] = None,
    start_from: Annotated[
        Path | None, typer.Option(help="a checkpoint of an older task to begin with, when OUT holds none")
    ] = None,
) -> None:
    """Train the humanoid's walking policy (PPO); rerunning the same command resumes from the last checkpoint."""
    from autonomo.robot.env import TASK_VERSION
    from autonomo.robot.train import TrainConfig, Trainer

    out = out or Path(f"train/g1-walk-v{TASK_VERSION}")  # a new task never meets an older task's checkpoints
    trainer = Trainer(out, TrainConfig(envs=envs))
    if trainer.resume():
        began = f"resumed at step {trainer.global_step}" + (f" ({out} holds a run: --start-from ignored)"
                                                            if start_from else "")  # fmt: skip
    elif start_from:
        trainer.start_from(start_from)
        began = f"started from {start_from} (step {trainer.global_step})"
    else:
        began = "started"
    err.print(f"{began} · device {trainer.device}")
    import os

    last = trainer.train(steps, minutes, workers=(os.cpu_count() or 1) if workers is None else workers)
    Console().print(last, highlight=False)
    err.print(f"[dim]policy: {out / 'policy.pt'} · log: {out / 'train.jsonl'}[/]")


@app.command()
def robot(
    instruction: Annotated[str, typer.Argument(help="what the robot should do")],
    scene: Annotated[str, typer.Option(help="a scene file, or a bundled scene: room, corridor, kitchen")] = "room",
    policy: Annotated[Path | None, typer.Option(help="the walking policy (default: the committed one)")] = None,
    out: Annotated[Path, typer.Option(help="folder for the run log and the video")] = Path("robot-runs"),
    model: Annotated[str, typer.Option(help="local | gguf:PATH | PROVIDER/MODEL | scripted:PATH")] = "local",
    max_steps: Annotated[int, typer.Option(min=1)] = 12,
    quiet: Annotated[bool, typer.Option(help="print only the summary")] = False,
) -> None:
    """Drive the simulated humanoid with the agent: skills as tools, the scene's state as observations, and a
    video of what happened."""
    from autonomo.agent.loop import Budget
    from autonomo.assembly import RunConfig, make_agent
    from autonomo.models import load_model

    problem = goal_problem(instruction)
    if problem:
        raise fail(problem.replace("goal", "instruction"))
    from autonomo.robot.policy import POLICY, WalkPolicy
    from autonomo.robot.scene import Scene
    from autonomo.robot.tools import RobotTools

    room, walker = Scene.load(scene), WalkPolicy(policy or POLICY)
    config = RunConfig(model=model, budget=Budget(max_steps=max_steps))
    brain = load_model(config.model)  # before the run's folder is made: a bad --model leaves nothing behind
    run_dir = out.resolve() / new_run_id()
    run_dir.mkdir(parents=True)
    tools = RobotTools(room, walker, run_dir)
    agent = make_agent(config, run_dir, run_dir=run_dir / ".autonomo" / "runs" / run_dir.name, model=brain,
                       body=tools)  # fmt: skip
    try:
        conclude(agent.log, quiet, lambda: agent.run(instruction, config={"scene": scene, **config.logged()}))
    finally:
        video = tools.save_video()
        err.print(f"[dim]video: {video}[/]")


ROBOT_BENCHMARKS = ("tracking", "walk_to", "push", "recovery", "suite")


@app.command("robot-bench")
def robot_bench(
    which: Annotated[str, typer.Argument(help=" | ".join(ROBOT_BENCHMARKS))],
    policy: Annotated[Path | None, typer.Option(help="the walking policy (default: the committed one)")] = None,
    model: Annotated[str, typer.Option(help="the brain, for suite: local | gguf:PATH | PROVIDER/MODEL")] = "local",
    out: Annotated[Path, typer.Option(help="results folder")] = Path("bench-results/robot"),
    trials: Annotated[
        int | None, typer.Option(min=1, help="seeds, targets, pushes or shoves [default: 10, 50, 30, 30, as recorded]")
    ] = None,
    seed: Annotated[
        int,
        typer.Option(min=0, help="the first seed: 0 as recorded; 100 or more draws what the records never saw"),
    ] = 0,
) -> None:
    """Benchmarks of the humanoid, judged from the simulator's state (see bench/robot.py)."""
    import json

    from autonomo.models import load_model

    if which not in ROBOT_BENCHMARKS:
        raise fail(f"unknown robot benchmark {which!r}: {', '.join(ROBOT_BENCHMARKS)}")
    if which == "suite" and (trials or seed):
        policy_only = ", ".join(b for b in ROBOT_BENCHMARKS if b != "suite")
        raise fail(f"--trials and --seed are for {policy_only}: the suite is its instructions")
    from autonomo.bench import robot as bench
    from autonomo.robot.env import TASK_VERSION
    from autonomo.robot.policy import POLICY, WalkPolicy

    walker = WalkPolicy(policy or POLICY)
    brain = load_model(model) if which == "suite" else None
    out.mkdir(parents=True, exist_ok=True)
    if which == "suite":
        result = bench.suite(walker, brain, out / "suite", log=lambda line: Console().print(line, highlight=False))
    else:  # the policy alone: a function of bench/robot.py by the same name
        result = getattr(bench, which)(walker, seed=seed, **({"trials": trials} if trials else {}))
    result = {"benchmark": which, "policy_steps": walker.trained_steps, "policy_task": walker.task,
              "task": TASK_VERSION, **result}  # fmt: skip
    (out / f"{which}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    Console().print({k: v for k, v in result.items() if k != "rows"}, highlight=False)
