"""A run's own branch and worktree of the user's repository.

The agent never works in the user's working tree: a run gets a branch ``autonomo/RUN_ID`` from HEAD and a git
worktree for it inside the repository's git folder (so nothing appears in ``git status`` and no file of the
checkout changes), and it ends with a commit on that branch and a ``.patch`` beside the run's log. The user
reviews the patch, or merges or checks out the branch.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from autonomo.company.git import IDENTITY, GitError

# What running the tests leaves behind, which a repository need not ignore itself: never part of the patch.
LEFT_OUT = [f":(glob,exclude)**/{junk}/**" for junk in ("__pycache__", ".pytest_cache", ".autonomo")]


def git(root: Path, *args: str, check: bool = True) -> str:
    try:
        proc = subprocess.run(["git", *IDENTITY, *args], cwd=root, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {root}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def repository_root(folder: Path) -> Path | None:
    """The folder, when it is the top level of a git repository's working tree; else None (a plain folder, or a
    folder inside a repository, is worked on in place)."""
    try:
        top = git(folder, "rev-parse", "--show-toplevel", check=False).strip()
    except GitError:
        return None
    return folder.resolve() if top and Path(top).resolve() == folder.resolve() else None


def home_of(repo: Path) -> Path:
    """Where a repository's runs keep their logs and worktrees: in its git folder, out of the working tree."""
    return Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").strip()) / "autonomo"


@dataclass
class Checkout:
    repo: Path  # the user's repository
    worktree: Path
    branch: str
    base: str  # the commit the branch starts from

    @classmethod
    def start(cls, repo: Path, home: Path, run_id: str) -> Checkout:
        """The run's branch and worktree from HEAD. Uncommitted changes to tracked files are refused: the run
        would not see them, and its patch would not apply over them."""
        base = git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).strip()
        if not base:
            raise GitError(f"{repo} has no commits yet: commit something for the agent to start from")
        dirty = git(repo, "status", "--porcelain", "--untracked-files=no").splitlines()
        if dirty:
            raise GitError(
                f"{repo} has uncommitted changes to {len(dirty)} tracked file(s): commit or stash them first "
                "(the agent works from the last commit, on a branch of its own)"
            )
        branch = f"autonomo/{run_id}"
        worktree = home / "worktrees" / run_id
        worktree.parent.mkdir(parents=True, exist_ok=True)
        git(repo, "worktree", "add", "-q", "-b", branch, str(worktree), base)
        return cls(repo, worktree, branch, base)

    def conclude(self, message: str, patch: Path) -> tuple[str, list[str]]:
        """Commits what the run changed on its branch, writes the patch from the base to ``patch``, and removes the
        worktree (the branch stays). Returns the branch's head and the files the patch changes."""
        git(self.worktree, "add", "-A", "--", ".", *LEFT_OUT)
        if git(self.worktree, "status", "--porcelain"):
            git(self.worktree, "commit", "-q", "--no-verify", "-m", message)
        head = git(self.worktree, "rev-parse", "HEAD").strip()
        diff = git(self.worktree, "diff", "--binary", self.base, head)
        patch.write_text(diff, encoding="utf-8")
        changed = git(self.worktree, "diff", "--name-only", self.base, head).split()
        git(self.repo, "worktree", "remove", "--force", str(self.worktree))
        return head, changed
