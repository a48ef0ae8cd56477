"""A run on a hosted model through any OpenAI-compatible server (vLLM, Ollama, OpenRouter, a company proxy).

    OPENAI_API_KEY=... python examples/hosted_model.py http://localhost:8000/v1 openai/MODEL [WORKSPACE]

The key stays in the environment: the event log and every prompt are redacted of it.
"""

import sys
from pathlib import Path

from autonomo import Budget, RunConfig, make_agent

api_base, model = sys.argv[1], sys.argv[2]
workspace = Path(sys.argv[3] if len(sys.argv) > 3 else "example-workspace")
workspace.mkdir(exist_ok=True)
config = RunConfig(model=model, api_base=api_base, budget=Budget(max_steps=20, usd=0.50))
result = make_agent(config, workspace).run("add a function slugify(text) to text.py, with pytest tests that pass")
print(result.outcome, "·", result.tests, "·", f"${result.totals['cost_usd']:.4f}")
