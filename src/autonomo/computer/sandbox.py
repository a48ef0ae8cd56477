"""Runs shell commands for the agent: in bubblewrap, only the workspace writable, no network, bounded time,
memory and process count."""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from autonomo.errors import SetupError

# Variables a tool process gets from the host; everything else (API keys included) stays outside.
PASSED_ENV = ("LANG", "LC_ALL", "TERM", "TZ")
DEFAULT_OUTPUT_LIMIT = 6_000
CGROUP_ROOT = Path("/sys/fs/cgroup")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the autonomo package


class SandboxUnavailable(SetupError, RuntimeError):
    pass


@dataclass(frozen=True)
class Limits:
    """Per command, all its processes together."""

    memory_mb: int = 4096
    processes: int = 256


class Cgroup:
    """A throwaway cgroup per command with pids and memory limits, where this host lets us make one (cgroup v1
    hierarchies, or a v2 subtree delegated to us). It bounds a fork bomb or a memory hog as a whole, and it finds
    every process a command left behind, whatever it did to detach."""

    _names = itertools.count()

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs

    @classmethod
    def create(cls, limits: Limits) -> Cgroup | None:
        """None when no writable pids cgroup is there to be had (then ulimits are the fallback)."""
        name = f"autonomo-{os.getpid()}-{next(cls._names)}"
        wanted = {
            "pids": ("pids.max", str(limits.processes)),
            "memory": ("memory.limit_in_bytes", str(limits.memory_mb << 20)),
        }
        made: list[Path] = []
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                if controllers == "":  # cgroup v2: one tree, the controllers our own cgroup hands down
                    base = CGROUP_ROOT / path.lstrip("/")
                    handed = _read(base / "cgroup.subtree_control").split()  # absent on a v1 (hybrid) host
                    files = {"pids": ("pids.max", wanted["pids"][1]), "memory": ("memory.max", wanted["memory"][1])}
                    settings = [files[c] for c in ("pids", "memory") if c in handed]
                else:
                    used = [c for c in controllers.split(",") if c in wanted]
                    if not used:
                        continue
                    base = CGROUP_ROOT / controllers / path.lstrip("/")
                    settings = [wanted[c] for c in used]
                if not settings:
                    continue
                (base / name).mkdir()
                made.append(base / name)
                for file, value in settings:
                    (base / name / file).write_text(value)
        except (OSError, ValueError):
            cls(made).remove()
            return None
        if not any((d / "pids.max").exists() for d in made):
            cls(made).remove()
            return None
        return cls(made)

    def enter_script(self) -> str:
        """Shell lines that move the shell running them, and so all it starts, into this cgroup."""
        return "".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))} || exit 125\n" for d in self.dirs)

    def kill(self) -> None:
        for _ in range(100):
            pids = {int(p) for d in self.dirs for p in _read(d / "cgroup.procs").split()}
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class OutputTail:
    """Drains a pipe to its end, keeping the first and the last ``keep`` bytes: a command that prints gigabytes
    neither blocks nor fills our memory or disk."""

    def __init__(self, pipe, keep: int) -> None:
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.size = 0
        self.keep = keep
        self.thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self.thread.start()

    def _drain(self, pipe) -> None:
        with pipe:
            while chunk := pipe.read1(65536):
                self.size += len(chunk)
                room = self.keep - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail.append(chunk)
                    self.tail_size += len(chunk)
                    while self.tail_size - len(self.tail[0]) >= self.keep:
                        self.tail_size -= len(self.tail.popleft())

    def text(self) -> str:
        self.thread.join(timeout=5)  # a process that escaped every kill may hold the pipe open: stop waiting
        if self.size <= 2 * self.keep:
            return (bytes(self.head) + b"".join(self.tail)).decode("utf-8", errors="replace")
        tail = b"".join(self.tail)[-self.keep :]
        both = bytes(self.head) + b"\n[...]\n" + tail
        return f"[output was {self.size} bytes]\n" + both.decode("utf-8", errors="replace")


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
        limits: Limits | None = None,
        pass_env: tuple[str, ...] = (),
    ) -> None:
        """``pass_env``: host variables the user chose to hand to tool processes (an API key a test needs, say);
        no other variable gets in."""
        if kind not in ("bwrap", "none"):
            raise SandboxUnavailable(f"unknown sandbox {kind!r}; use 'bwrap' or 'none'")
        self.workspace = workspace.resolve()
        self.kind = kind
        self.timeout = timeout
        self.output_limit = output_limit
        self.limits = limits or Limits()
        self.pass_env = pass_env
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
        # A fixed hash seed: a test suite that parametrizes over a set gets different test ids in every process
        # otherwise (isodate's: test_format[4-19-expected2-%C] in one run, ...-expected7-... in the next), and a
        # repository run compares tests by id.
        env = {"PATH": path, "HOME": str(self.workspace), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
        env.update({k: os.environ[k] for k in PASSED_ENV + self.pass_env if k in os.environ})
        return env

    def _argv(self, command: str) -> list[str]:
        shell = ["/bin/bash", "-c", command]
        if self.kind == "none":
            return shell
        return [self.bwrap, *self.bwrap_options(), "--chdir", str(self.workspace), *shell]

    def bwrap_options(self) -> list[str]:
        """bubblewrap's options for a command in this sandbox, but the working directory (the benchmark confines
        its peer agent with them)."""
        ws = str(self.workspace)
        # fmt: off
        argv = [
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
        ]
        # The interpreter (a venv may live under /tmp, which the tmpfs hides) must stay visible for `python`, and
        # so must autonomo itself (an editable install lives outside the venv), for helpers like QA's browser.
        for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, PACKAGE_ROOT)):
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
        ]
        # fmt: on
        for key, value in self._env().items():
            argv += ["--setenv", key, value]
        return argv

    def _limited(self, argv: list[str], cgroup: Cgroup | None) -> list[str]:
        """Wraps argv in a shell that puts itself under the limits, then becomes argv."""
        if cgroup is not None:
            enter = cgroup.enter_script()
        else:  # no cgroup to be had: per-process ulimits (a process count limit does not bind root)
            enter = f"ulimit -v {self.limits.memory_mb << 10} -u {self.limits.processes} || exit 125\n"
        return ["/bin/bash", "-c", enter + 'exec "$@"', "autonomo-limits", *argv]

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        timeout = self.timeout if timeout is None else timeout
        start = time.monotonic()
        cgroup = Cgroup.create(self.limits)
        proc: subprocess.Popen[bytes] | None = None
        timed_out = False
        try:  # from the spawn on, so that a Ctrl-C landing anywhere after it still takes the command down
            proc = subprocess.Popen(
                self._limited(self._argv(command), cgroup),
                cwd=self.workspace,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            output = OutputTail(proc.stdout, keep=self.output_limit * 4)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Whatever the command left running goes with it.
            if proc is not None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if cgroup is not None:
                cgroup.kill()
            if proc is not None:
                proc.wait()
            if cgroup is not None:
                cgroup.remove()
        text = truncate(output.text(), self.output_limit)
        if timed_out:
            text += f"\n[command timed out after {timeout:g} s and was killed]"
        elif proc.returncode in (137, -signal.SIGKILL):
            text += f"\n[killed: the command's processes may use {self.limits.memory_mb} MB of memory in all]"
        return CommandResult(
            exit_code=proc.returncode if not timed_out else 124,
            output=text,
            seconds=time.monotonic() - start,
            timed_out=timed_out,
        )
