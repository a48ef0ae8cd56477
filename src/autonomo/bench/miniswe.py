"""Run the reference agent mini-swe-agent on one task against the same local GGUF model, for benchmark comparisons.

The model is served by llama-cpp-python's OpenAI-compatible server (extra: llama-cpp-python[server]) and
mini-swe-agent (mini-swe-agent==2.4.6) reaches it through litellm, exactly as a user of its `mini` CLI would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

SERVER_START_TIMEOUT_S = 120.0
LOG_TAIL_CHARS = 4000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(log: IO[bytes], chars: int = LOG_TAIL_CHARS) -> str:
    log.flush()
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - chars))
    return log.read().decode("utf-8", errors="replace")


class LlamaServer:
    """`python -m llama_cpp.server` for the lifetime of a `with` block."""

    def __init__(self, model_path: Path, port: int = 0, n_ctx: int = 16384, python: str = sys.executable) -> None:
        self.model_path = Path(model_path)
        self.port = port
        self.n_ctx = n_ctx
        self.python = python
        # The alias is what /v1/models reports and what clients send as "model"; the file stem reads better than a path.
        self.model_name = self.model_path.stem
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LlamaServer:
        if not self.model_path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {self.model_path}")
        self.port = self.port or _free_port()
        # A file, not a pipe: the server logs every request, and an undrained pipe would eventually block it.
        self._log = tempfile.TemporaryFile(prefix="llama-server-")
        cmd = [
            self.python, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.model_name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            # The server defaults to half the cores; autonomo's in-process LlamaCppModel uses all of them.
            "--n_threads", str(os.cpu_count() or 1),
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self._stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._log is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if (rc := self._proc.poll()) is not None:
                raise RuntimeError(f"llama.cpp server exited with code {rc} while starting:\n{_tail(self._log)}")
            try:
                with urllib.request.urlopen(f"{self.api_base}/models", timeout=5) as resp:
                    self.model_name = json.load(resp)["data"][0]["id"]
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)  # still loading the weights or not listening yet
        raise TimeoutError(
            f"llama.cpp server did not answer within {SERVER_START_TIMEOUT_S:.0f} s:\n{_tail(self._log)}"
        )

    def _stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()


def run_miniswe(
    task: str,
    workspace: Path,
    api_base: str,
    model_name: str,
    step_limit: int,
    trajectory: Path,
    timeout: float,
    max_tokens: int = 1024,
    python: str | None = None,
    bwrap_options: list[str] | None = None,
    command_timeout: int = 60,
) -> dict:
    """Run mini-swe-agent's `mini` CLI unattended on `task` in `workspace`; never raises on an agent failure.
    ``bwrap_options``: confine its commands with mini-swe-agent's own bubblewrap environment, given the options of
    autonomo's sandbox, so that both agents' commands run in the same sandbox (without them: unconfined).
    ``trajectory``: where mini-swe-agent writes its trajectory (every message), kept to read why a run ended.
    ``timeout``: wall-clock seconds for the whole run; no default, so every caller states its limit (the bench's
    PEER_SECONDS).

    Returns outcome (mini-swe-agent's exit status, or "error: ..."), steps (model calls), the prompt and completion
    tokens summed over every model call as the server reported them, and wall-clock seconds.
    """
    workspace, trajectory = Path(workspace).resolve(), Path(trajectory).resolve()
    trajectory.unlink(missing_ok=True)  # a killed earlier attempt's must not be read as this one's
    overrides = {
        # Task in the config rather than `-t`, so a task that starts with "-" can't be mistaken for an option.
        "run": {"task": task},
        # cost_limit 0 disables the dollar cap; a local model costs nothing, so only the step limit should bind.
        "agent": {"step_limit": step_limit, "cost_limit": 0},
        "environment": {"cwd": str(workspace), "timeout": command_timeout}
        | ({"environment_class": "bubblewrap", "wrapper_args": bwrap_options} if bwrap_options else {}),
        "model": {
            # mini_textbased.yaml carries the one-```mswea_bash_command-block prompts but not the parser that
            # matches them; without this the default class would expect native tool calls.
            "model_class": "litellm_textbased",
            "model_name": f"openai/{model_name}",
            # litellm has no price for a local model; don't let the missing price abort the run.
            "cost_tracking": "ignore_errors",
            # Merged into the YAML's model_kwargs (which keeps its drop_params: true).
            "model_kwargs": {
                "api_base": api_base,
                "api_key": "no-key",  # the OpenAI client insists on a key; the local server ignores it
                "max_tokens": max_tokens,
            },
        },
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSWEA_")}  # no stray user limits or model
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="miniswe-") as tmp, tempfile.TemporaryFile() as log:
        config_path = Path(tmp) / "overrides.yaml"
        config_path.write_text(json.dumps(overrides))  # JSON is YAML, and needs no escaping of the task text
        env |= {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "MSWEA_CONFIGURED": "true",  # skips the interactive first-run setup wizard
            "MSWEA_SILENT_STARTUP": "1",
            # Keep ~/.config/mini-swe-agent (its .env of keys/models, prompt history) out of the run.
            "MSWEA_GLOBAL_CONFIG_DIR": tmp,
        }
        cmd = [
            python or sys.executable, "-m", "minisweagent.run.mini",
            "-c", "mini_textbased.yaml", "-c", str(config_path),
            "-y",  # yolo: execute commands without confirmation
            "--exit-immediately",  # don't ask the user for a follow-up task on submit
            "-o", str(trajectory),
        ]  # fmt: skip
        timed_out = False
        try:
            # stdin=DEVNULL also makes mini stop at the step limit instead of prompting for a new one.
            rc = subprocess.run(
                cmd, cwd=workspace, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                timeout=timeout,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            timed_out, rc = True, None
        seconds = time.monotonic() - start
        # The agent rewrites the trajectory after every step, so even a killed run leaves its calls so far.
        traj: dict[str, Any] = json.loads(trajectory.read_text()) if trajectory.is_file() else {}
        log_tail = _tail(log)

    info = traj.get("info", {})
    messages = traj.get("messages", [])
    prompt_tokens = completion_tokens = 0
    for message in messages:
        # Every model reply, including ones rejected as format errors, keeps the raw response with its usage.
        response = message.get("extra", {}).get("response")
        usage = (response.get("usage") or {}) if isinstance(response, dict) else {}
        prompt_tokens += usage.get("prompt_tokens") or 0
        completion_tokens += usage.get("completion_tokens") or 0

    exit_status = info.get("exit_status", "")
    last_extra = messages[-1].get("extra", {}) if messages else {}
    if timed_out:
        outcome = f"error: timed out after {timeout:g} s"
    elif "exception_str" in last_extra:  # an uncaught exception, e.g. the server unreachable after retries
        outcome = f"error: {exit_status}: {last_extra['exception_str']}"[:2000]
    elif exit_status:
        outcome = exit_status
    else:
        outcome = f"error: mini-swe-agent exited with code {rc} without a trajectory:\n{log_tail}"
    return {
        "outcome": outcome,
        "steps": int(info.get("model_stats", {}).get("api_calls", 0)),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "seconds": round(seconds, 2),
    }
