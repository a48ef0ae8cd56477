"""Runs shell commands for the agent: in bubblewrap, only the workspace writable, no network, bounded time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Variables a tool process gets from the host; everything else (API keys included) stays outside.
PASSED_ENV = ("LANG", "LC_ALL", "TERM", "TZ")
DEFAULT_OUTPUT_LIMIT = 6_000


class SandboxUnavailable(RuntimeError):
    pass


@dataclass
class CommandResult:
    exit_code: int
    output: str  # stdout and stderr interleaved, decoded safely, truncated with a note
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def truncate(text: str, limit: int) -> str:
    """Keeps the head and the tail, which is where commands put what matters."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


class Sandbox:
    """``kind`` is ``bwrap`` (default, refuses to start when bubblewrap is missing) or ``none``."""

    def __init__(
        self,
        workspace: Path,
        kind: str = "bwrap",
        timeout: float = 120.0,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        readonly_paths: tuple[Path, ...] = (),
    ) -> None:
        if kind not in ("bwrap", "none"):
            raise ValueError(f"unknown sandbox {kind!r}; use 'bwrap' or 'none'")
        self.workspace = workspace.resolve()
        self.kind = kind
        self.timeout = timeout
        self.output_limit = output_limit
        self.readonly_paths = tuple(p.resolve() for p in readonly_paths)  # bwrap runs with cwd=workspace
        if kind == "bwrap":
            self.bwrap = shutil.which("bwrap")
            if self.bwrap is None:
                raise SandboxUnavailable(
                    "bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap) "
                    "or pass --sandbox none to run commands unconfined"
                )

    def _env(self) -> dict[str, str]:
        # The interpreter running autonomo comes first so that `python` and `pytest` resolve in the sandbox.
        path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
        env = {"PATH": path, "HOME": str(self.workspace), "PYTHONDONTWRITEBYTECODE": "1"}
        env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
        return env

    def _argv(self, command: str) -> list[str]:
        shell = ["/bin/bash", "-c", command]
        if self.kind == "none":
            return shell
        ws = str(self.workspace)
        # fmt: off
        argv = [
            self.bwrap,
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
        ]
        # The interpreter (a venv may live under /tmp, which the tmpfs hides) must stay visible for `python`.
        for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
            argv += ["--ro-bind", prefix, prefix]
        argv += ["--bind", ws, ws]
        for path in self.readonly_paths:
            if path.exists():
                argv += ["--ro-bind", str(path), str(path)]
        argv += [
            "--unshare-all",  # network, pids, ipc, uts, cgroup: no connection leaves, not even to loopback
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--chdir", ws,
        ]
        # fmt: on
        for key, value in self._env().items():
            argv += ["--setenv", key, value]
        return argv + shell

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        timeout = self.timeout if timeout is None else timeout
        start = time.monotonic()
        # Output goes to a file, not a pipe: a command that prints gigabytes cannot fill our memory.
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                self._argv(command),
                cwd=self.workspace,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # Whatever the command left running in its session goes with it.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            size = out.tell()
            out.seek(0)
            keep = self.output_limit * 4
            raw = out.read(keep)
            if size > keep:
                out.seek(max(keep, size - keep))
                raw += b"\n[...]\n" + out.read()
        text = raw.decode("utf-8", errors="replace")
        if size > keep:
            text = f"[output was {size} bytes]\n" + text
        text = truncate(text, self.output_limit)
        if timed_out:
            text += f"\n[command timed out after {timeout:g} s and was killed]"
        return CommandResult(
            exit_code=proc.returncode if not timed_out else 124,
            output=text,
            seconds=time.monotonic() - start,
            timed_out=timed_out,
        )
