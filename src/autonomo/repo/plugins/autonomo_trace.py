"""A pytest plugin that records which functions each test ran, for fault localization (autonomo/repo/localize.py).

It is loaded by path into the repository's own interpreter (``PYTHONPATH=THIS_FOLDER python -m pytest -p
autonomo_trace``), which may be as old as Python 3.6 and has no autonomo installed: so it imports nothing of
autonomo, and its syntax stays 3.6's. Only function entries are traced, which keeps the suite within a few times
its usual run time; lines are traced only in the functions AUTONOMO_TRACE_LINES names (a JSON file of [file, first
line] pairs: the few suspects a first pass found).
"""

import json
import os
import sys
import threading

import pytest

ROOT = os.path.realpath(os.environ.get("AUTONOMO_TRACE_ROOT", "."))
OUT = os.environ.get("AUTONOMO_TRACE_OUT", "")
_seen = set()
_lines = set()
_results = {}
_paths = {}  # a code object's file name -> its path relative to ROOT ("" when outside it)


def _relative(filename):
    if filename not in _paths:
        path = os.path.realpath(filename)
        _paths[filename] = os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else ""
    return _paths[filename]


def _wanted():
    name = os.environ.get("AUTONOMO_TRACE_LINES", "")
    if not name:
        return set()
    with open(name) as f:
        return {(file, line) for file, line in json.load(f)}


LINES_OF = _wanted()


def _line(frame, event, arg):
    if event == "line":
        _lines.add((frame.f_code.co_filename, frame.f_lineno))
    return _line


def _trace(frame, event, arg):
    if event == "call":
        code = frame.f_code
        _seen.add((code.co_filename, code.co_firstlineno))
        if LINES_OF and (_relative(code.co_filename), code.co_firstlineno) in LINES_OF:
            return _line
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _seen.clear()
    _lines.clear()
    threading.settrace(_trace)
    sys.settrace(_trace)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)
        entry = _results.setdefault(item.nodeid, {})
        entry["functions"] = sorted((_relative(f), n) for f, n in _seen if _relative(f))
        if LINES_OF:
            entry["lines"] = sorted((_relative(f), n) for f, n in _lines if _relative(f))


def pytest_runtest_logreport(report):
    entry = _results.setdefault(report.nodeid, {})
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        entry["outcome"] = report.outcome


def pytest_sessionfinish(session):
    if OUT:
        with open(OUT, "w") as f:
            json.dump(_results, f)
