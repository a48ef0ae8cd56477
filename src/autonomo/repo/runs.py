"""A run in a repository, start to end: its checkout and its tests at the base commit, then its commit and patch."""

from __future__ import annotations

from pathlib import Path

from autonomo.assembly import Repository, RunConfig
from autonomo.computer.sandbox import Sandbox
from autonomo.errors import SetupError
from autonomo.events import EventLog, new_run_id
from autonomo.repo.checkout import Checkout, git
from autonomo.repo.testing import discover, run_suite

PATCH = "changes.patch"  # beside the run's log


def start(config: RunConfig, repo: Path, home: Path, run_id: str | None = None) -> tuple[RunConfig, Path, Path]:
    """Makes the run's branch and worktree and runs the repository's tests there once, so that the run is judged
    against them. Returns the config that says so, the worktree and the run's folder. Anything wrong (no tests,
    tests that cannot be run) is a SetupError, with the worktree and branch removed again."""
    run_id = run_id or new_run_id()
    checkout = Checkout.start(repo, home, run_id)
    try:
        command = config.test_command or discover(checkout.worktree)
        if command is None:
            raise SetupError(f"found no tests in {repo}: pass --test-command with the command that runs them")
        box = Sandbox(checkout.worktree, kind=config.sandbox, timeout=max(config.command_timeout, 600.0))
        before = run_suite(box, command)
        if not before.statuses:
            last = before.output.strip().splitlines()[-1:] or ["no output"]
            raise SetupError(f"could not read any test's result from `{command}` in {repo}: {last[0]}")
    except BaseException:
        discard(checkout)
        raise
    repository = Repository(path=str(repo), branch=checkout.branch, base=checkout.base, test_command=command,
                            tests_before=before.statuses)  # fmt: skip
    return config.model_copy(update={"repository": repository}), checkout.worktree, home / "runs" / run_id


def discard(checkout: Checkout) -> None:
    git(checkout.repo, "worktree", "remove", "--force", str(checkout.worktree), check=False)
    git(checkout.repo, "branch", "-D", checkout.branch, check=False)


def conclude(config: RunConfig, worktree: Path, log: EventLog, goal: str) -> Path:
    """Commits the run's work on its branch and writes its patch; logged as ``patch_made``. Returns the patch."""
    repo = config.repository
    assert repo is not None, "a repository run's config names its repository"
    checkout = Checkout(Path(repo.path), worktree, repo.branch, repo.base)
    patch = log.run_dir / PATCH
    title = goal.strip().splitlines()[0][:72] if goal.strip() else "autonomo run"
    head, changed = checkout.conclude(f"autonomo: {title}\n\nrun {log.run_id}", patch)
    log.emit("patch_made", branch=repo.branch, commit=head, patch=str(patch), files=changed)
    return patch
