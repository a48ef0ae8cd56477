"""The examples run as a user would run them: the hosted one against a fake OpenAI-compatible server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fake_openai import FakeOpenAI, Reply, text_completion

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

DRAFT = """### text.py
```python
import re


def slugify(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
```
### test_text.py
```python
from text import slugify


def test_slugify():
    assert slugify("Hello, World") == "hello-world"
```
"""


def test_the_hosted_example_runs_against_an_openai_compatible_server(server, tmp_path):
    FakeOpenAI.replies = [Reply(payload=text_completion(DRAFT))]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "hosted_model.py"), server, "openai/gpt-4o-mini", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("completed · passed: 1 passed"), done.stdout
    assert (tmp_path / "text.py").is_file()
    assert FakeOpenAI.requests[0]["temperature"] == 0.0 and "tools" not in FakeOpenAI.requests[0]  # a draft


def test_every_example_is_valid_python():
    for path in EXAMPLES.glob("*.py"):
        compile(path.read_text(), str(path), "exec")
