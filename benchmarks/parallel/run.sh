#!/usr/bin/env bash
# The first 12 Exercism tasks at K=1, then at K=4 with the 4 attempts of a task at once (--parallel 4, decoded
# together by the engine). Run it alone on the machine, from the project root; the rows land beside this script.
set -euo pipefail
export LITELLM_LOCAL_MODEL_COST_MAP=True
here=$(dirname "$0")
.venv/bin/autonomo bench exercism --limit 12 --attempts 1 --out bench-results/parallel-k1
.venv/bin/autonomo bench exercism --limit 12 --attempts 4 --parallel 4 --out bench-results/parallel-k4
cp bench-results/parallel-k1/report.jsonl "$here/k1.jsonl"
cp bench-results/parallel-k4/report.jsonl "$here/k4-parallel4.jsonl"
# how much the model calls of the unsolved tasks' attempts overlapped (from the attempts' event logs)
for t in bob isbn-verifier; do for k in k1 k4; do
  echo -n "$t $k "
  python3 "$here/overlap.py" bench-results/parallel-$k/work/autonomo/exercism-$t/a*/.autonomo/runs/*/events.jsonl
done; done > "$here/overlap.txt"
