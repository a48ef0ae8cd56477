"""Benchmarks: tasks, the harness that runs autonomo and reference systems on them, and the reports."""
