"""A pytest plugin that records which functions each test ran, for fault localization (autonomo/repo/localize.py).

It is loaded by path into the repository's own interpreter (``PYTHONPATH=THIS_FOLDER python -m pytest -p
autonomo_trace``), which may be as old as Python 3.6 and has no autonomo installed: so it imports nothing of
autonomo, and its syntax stays 3.6's. Only function entries are traced (no line events), which keeps the suite
within a few times its usual run time.
"""

import json
import os
import sys
import threading

import pytest

ROOT = os.path.realpath(os.environ.get("AUTONOMO_TRACE_ROOT", "."))
OUT = os.environ.get("AUTONOMO_TRACE_OUT", "")
_seen = set()
_results = {}


def _trace(frame, event, arg):
    if event == "call":
        code = frame.f_code
        _seen.add((code.co_filename, code.co_firstlineno))
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _seen.clear()
    threading.settrace(_trace)
    sys.settrace(_trace)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)
        ran = set()
        for filename, line in _seen:
            path = os.path.realpath(filename)
            if path.startswith(ROOT + os.sep):
                ran.add((os.path.relpath(path, ROOT), line))
        _results.setdefault(item.nodeid, {})["functions"] = sorted(ran)


def pytest_runtest_logreport(report):
    entry = _results.setdefault(report.nodeid, {})
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        entry["outcome"] = report.outcome


def pytest_sessionfinish(session):
    if OUT:
        with open(OUT, "w") as f:
            json.dump(_results, f)
