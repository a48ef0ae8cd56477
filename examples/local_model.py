"""A run on the embedded model: no API key, no network. Writes a small program and its tests from scratch.

    python examples/local_model.py [WORKSPACE]
"""

import sys
from pathlib import Path

from autonomo import RunConfig, make_agent

workspace = Path(sys.argv[1] if len(sys.argv) > 1 else "example-workspace")
workspace.mkdir(exist_ok=True)
agent = make_agent(RunConfig(model="local"), workspace)
result = agent.run("write leap.py with is_leap(year) and pytest tests in test_leap.py, and make them pass")
print(result.outcome, "·", result.tests, "·", result.totals["tokens"], "tokens ·", agent.log.path)
