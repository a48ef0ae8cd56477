#!/usr/bin/env bash
# The generated-bug benchmark's development set: each library of libraries.txt fetched from PyPI, PER bugs generated
# from its own tests, then autonomo and the one-shot reference on all of them, the tasks interleaved across the
# libraries (so that a partial run covers each). Rerunning resumes. Run it alone on the machine, from the project
# root; extra arguments go to the final `autonomo bench bugs` (e.g. --limit 20, --peer mini-swe-agent).
set -euo pipefail
export LITELLM_LOCAL_MODEL_COST_MAP=True
here=$(dirname "$0")
per=${PER:-15}
out=${OUT:-bench-results/bugs-dev}
"$here/fetch.sh" "$out/repos"
grep -v '^\s*#' "$here/libraries.txt" | sed 's/#.*//' | while read -r pin args; do
  [ -n "$pin" ] || continue
  .venv/bin/autonomo bench bugs --repo "$out/repos/${pin%%==*}" --test-args "$args" --count "$per" --out "$out" \
    --generate-only
done
python3 - "$out" <<'PY'
import itertools, pathlib, sys
out = pathlib.Path(sys.argv[1])
per_library = [p.read_text().splitlines() for p in sorted(out.glob("generated/*/tasks.jsonl"))]
rows = [r for group in itertools.zip_longest(*per_library) for r in group if r]
(out / "tasks.jsonl").write_text("".join(r + "\n" for r in rows))
print(f"{len(rows)} tasks from {len(per_library)} libraries")
PY
.venv/bin/autonomo bench bugs --tasks "$out/tasks.jsonl" --peer oneshot --max-steps 60 --budget-tokens 100000 --out "$out" "$@"
commit=$(git rev-parse --short=12 HEAD)
mkdir -p "benchmarks/bugs-$commit"
cp "$out/report.jsonl" "$out/report.md" "benchmarks/bugs-$commit/"
