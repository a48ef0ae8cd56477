"""Secrets from the environment, and strings shaped like API keys, never reach the event log or a prompt."""

from __future__ import annotations

import json

from conftest import sandbox_kind

from autonomo.agent.loop import Budget
from autonomo.assembly import RunConfig, make_agent
from autonomo.events import read_events
from autonomo.events.redact import Redactor
from autonomo.models.scripted import ScriptedModel

OPENAI = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
TOKEN = "s3cr3t-service-t0ken"
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"


def test_redactor_replaces_secret_values_and_key_shapes():
    redact = Redactor({"OPENAI_API_KEY": OPENAI, "MY_SERVICE_TOKEN": TOKEN, "DEBUG_AUTH": "1", "HOME": "/root"})
    text = f"key={OPENAI} token={TOKEN} github={GITHUB} debug=1 home=/root"
    assert redact(text) == (
        "key=[REDACTED:OPENAI_API_KEY] token=[REDACTED:MY_SERVICE_TOKEN] github=[REDACTED] debug=1 home=/root"
    )
    scrubbed = redact.scrub({"a": [TOKEN, 3, {"b": GITHUB}]})
    assert scrubbed == {"a": ["[REDACTED:MY_SERVICE_TOKEN]", 3, {"b": "[REDACTED]"}]}


class RecordingModel(ScriptedModel):
    def __init__(self, steps):
        super().__init__(steps)
        self.prompts: list[str] = []

    def complete(self, messages, tools=(), **sampling):
        self.prompts.append(json.dumps(messages))
        return super().complete(messages, tools, **sampling)


def test_no_secret_in_the_log_or_any_prompt(workspace, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    monkeypatch.setenv("MY_SERVICE_TOKEN", TOKEN)
    (workspace / "config.txt").write_text(f"token = {TOKEN}\n")  # shown to the model in its first message
    model = RecordingModel(
        [
            {"tool": "shell", "args": {"command": f"echo {GITHUB}; cat config.txt"}},
            {"tool": "shell", "args": {"command": f"echo the key is {OPENAI}"}},
            {"tool": "finish", "args": {"summary": "done"}},
        ]
    )
    agent = make_agent(RunConfig(sandbox=sandbox_kind(), budget=Budget(max_steps=5)), workspace, model=model)
    log = agent.log
    result = agent.run(f"use the token {TOKEN} to check the service")
    assert result.outcome == "completed"
    written = log.path.read_text()
    for secret in (OPENAI, TOKEN, GITHUB):
        assert secret not in written
        assert not any(secret in prompt for prompt in model.prompts)
    outputs = [e["output"] for e in read_events(log.path) if e["type"] == "observation"]
    assert "[REDACTED]" in outputs[0] and "[REDACTED:MY_SERVICE_TOKEN]" in outputs[0]
    assert "[REDACTED:MY_SERVICE_TOKEN]" in model.prompts[0]  # the goal and the shown file, redacted


def test_a_variable_passed_explicitly_reaches_tools_but_not_the_log(workspace, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from autonomo.cli import app

    monkeypatch.setenv("SERVICE_API_KEY", TOKEN)
    steps = [
        {"tool": "shell", "args": {"command": 'test "$SERVICE_API_KEY" = ' + TOKEN[:6] + '"${SERVICE_API_KEY:6}"'}},
        {"tool": "shell", "args": {"command": "printenv SERVICE_API_KEY"}},
        {"tool": "finish", "args": {"summary": "done"}},
    ]
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    args = ["run", "use the key", "-w", str(workspace), "--model", f"scripted:{tmp_path / 'steps.json'}", "--quiet"]
    result = CliRunner().invoke(app, args + ["--sandbox", sandbox_kind(), "--env", "SERVICE_API_KEY"])
    assert result.exit_code == 0, result.output
    (log,) = (workspace / ".autonomo" / "runs").glob("*/events.jsonl")
    outputs = [e for e in read_events(log) if e["type"] == "observation"]
    assert outputs[0]["ok"]  # the tool process saw the key
    assert "[REDACTED:SERVICE_API_KEY]" in outputs[1]["output"] and TOKEN not in log.read_text()
