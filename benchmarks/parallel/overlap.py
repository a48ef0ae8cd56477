"""How much model time the given runs spent at once, from their event logs: each model_call is the interval
[ts - seconds, ts]. Usage: python overlap.py EVENTS.jsonl... (one log per agent: attempts or engineers)."""

import json
import sys


def intervals(path: str) -> list[tuple[float, float]]:
    with open(path, encoding="utf-8") as f:
        events = [json.loads(line) for line in f if line.strip()]
    return [(e["ts"] - e["seconds"], e["ts"]) for e in events if e["type"] == "model_call" and "seconds" in e]


def union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


logs = sys.argv[1:]
spans = [intervals(p) for p in logs]
each = sum(b - a for s in spans for a, b in s)
print(json.dumps({"logs": len(logs), "model_seconds_summed": round(each, 1),
                  "model_seconds_wall": round(union([x for s in spans for x in s]), 1),
                  "overlap": round(each / max(union([x for s in spans for x in s]), 1e-9), 2)}))
