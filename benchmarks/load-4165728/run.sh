#!/usr/bin/env bash
# Exercism's bob at K=2 (a greedy attempt, then one sampled at 0.7), once idle and once with two busy loops on the
# two cores: the rows must match but for seconds. Run it alone on the machine, from the project root.
set -euo pipefail
export LITELLM_LOCAL_MODEL_COST_MAP=True
grep '"id": "exercism/bob"' ../shared/benchmarks/exercism-python/tasks.jsonl > /tmp/bob.jsonl
.venv/bin/autonomo bench exercism --tasks /tmp/bob.jsonl --attempts 2 --out bench-results/load-idle
python3 -c "while True: pass" & b1=$!
python3 -c "while True: pass" & b2=$!
.venv/bin/autonomo bench exercism --tasks /tmp/bob.jsonl --attempts 2 --out bench-results/load-busy
kill $b1 $b2
