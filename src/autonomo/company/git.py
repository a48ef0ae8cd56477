"""The company's repository: main, a branch and a worktree per attempt, merges that may conflict."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from autonomo.errors import SetupError

IDENTITY = ["-c", "user.name=autonomo", "-c", "user.email=autonomo@localhost", "-c", "commit.gpgsign=false"]


class GitError(SetupError, RuntimeError):
    """A workspace git cannot work with (a detached HEAD, say), or a git command that failed."""


@dataclass
class Merge:
    ok: bool
    conflicts: list[str]


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.main = "main"  # the branch checked out at the root, which work is merged into

    def git(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        proc = subprocess.run(
            ["git", *IDENTITY, *args], cwd=cwd or self.root, capture_output=True, text=True, timeout=120
        )
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def init(self) -> str:
        """Makes the workspace a repository (keeping what is there), with our folder ignored. An existing one keeps
        its branch as the main line ("master", say). Returns the head commit."""
        if not (self.root / ".git").exists():
            self.git("init", "-q", "-b", "main")
        self.main = self.git("symbolic-ref", "--short", "HEAD").strip()
        exclude = self.root / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        if ".autonomo/" not in (exclude.read_text(errors="replace") if exclude.exists() else ""):
            with open(exclude, "a") as f:
                f.write("\n.autonomo/\n__pycache__/\n")
        self.commit_all(self.root, "the workspace before the company started", allow_empty=True)
        return self.head()

    def recover(self) -> None:
        """After a kill: a merge cut short is undone, worktrees whose folders are gone are forgotten, and the
        branch checked out is the main line again."""
        if (self.root / ".git" / "MERGE_HEAD").exists():
            self.git("merge", "--abort", check=False)
        self.git("worktree", "prune")
        self.main = self.git("symbolic-ref", "--short", "HEAD").strip()

    def merged(self, branch: str) -> bool:
        """Whether the main line already holds ``branch``."""
        if not branch:
            return False
        is_ancestor = ["git", "merge-base", "--is-ancestor", branch, self.main]
        return subprocess.run(is_ancestor, cwd=self.root, capture_output=True, timeout=120).returncode == 0

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", ref).strip()

    def commit_all(self, tree: Path, message: str, allow_empty: bool = False) -> bool:
        """Commits everything in a worktree; False when there was nothing to commit."""
        self.git("add", "-A", cwd=tree)
        if not allow_empty and not self.git("status", "--porcelain", cwd=tree).strip():
            return False
        self.git("commit", "-q", "--no-verify", "-m", message, *(["--allow-empty"] if allow_empty else []), cwd=tree)
        return True

    def worktree(self, path: Path, branch: str, start: str = "") -> Path:
        """A new branch from ``start`` (the main line by default), checked out at ``path``."""
        self.git("worktree", "add", "-q", "-B", branch, str(path), start or self.main)
        return path

    def checkout(self, path: Path, ref: str) -> Path:
        """``ref`` checked out at ``path``, on no branch (to run something on it, then remove_worktree)."""
        self.git("worktree", "add", "-q", "-f", "--detach", str(path), ref)
        return path

    def remove_worktree(self, path: Path) -> None:
        self.git("worktree", "remove", "--force", str(path), check=False)

    def diff(self, branch: str) -> str:
        """What a branch changed since it left the main line."""
        return self.git("diff", f"{self.main}...{branch}")

    def merge(self, branch: str, message: str) -> Merge:
        """Merges a branch into the main line (checked out at the root); on a conflict the merge is undone."""
        proc = subprocess.run(
            ["git", *IDENTITY, "merge", "--no-ff", "-q", "-m", message, branch],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == 0:
            return Merge(True, [])
        conflicts = self.git("diff", "--name-only", "--diff-filter=U").split()
        self.git("merge", "--abort", check=False)
        if not conflicts:
            raise GitError(f"git merge {branch} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return Merge(False, conflicts)
