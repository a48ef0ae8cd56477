"""QA as a user of a web page: the product is served in the sandbox and driven in headless Chromium."""

from __future__ import annotations

import os

import pytest
from conftest import needs_bwrap, of_type
from test_company import APPROVE, create, engineer, plan, run_company

from autonomo.company.browse import CHROMIUM
from autonomo.company.plan import Check
from autonomo.computer.sandbox import Sandbox

pytest.importorskip("playwright")
pytestmark = [
    needs_bwrap,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
PAGE = """<html><body><h1>Converter</h1><input id="km" value="1">
<button onclick="document.getElementById('out').textContent = document.getElementById('km').value * 1000 + ' m'">
Convert</button><p id="out"></p></body></html>
"""
SERVE = "python -m http.server 8000 --bind 127.0.0.1"
CHECK = {
    "command": SERVE,
    "url": "http://127.0.0.1:8000/",
    "actions": ["fill=#km=5", "click=button"],
    "expect": "5000 m",
}


def test_a_browser_check_serves_the_page_and_acts_on_it(workspace):
    (workspace / "index.html").write_text(PAGE)
    result = Sandbox(workspace, timeout=60).run(Check(**CHECK).script())
    assert result.ok, result.output
    assert "5000 m" in result.output
    (workspace / "index.html").write_text(PAGE.replace("* 1000", "* 100"))
    assert not Sandbox(workspace, timeout=60).run(Check(**CHECK).script()).ok


def test_qa_drives_the_page_and_sends_a_broken_one_back(workspace):
    items = [{"id": "page", "title": "index.html converts km to m", "checks": [{"command": "test -f index.html"}]}]
    scripts = {
        "engineer:page": [
            engineer(create("index.html", PAGE.replace("* 1000", "* 100"))),  # a bug a user sees in the browser
            engineer(create("index.html", PAGE)),
        ]
    }
    acceptance = [{**CHECK, "item": "page"}]
    result, events = run_company(workspace, [plan(items, acceptance), APPROVE, APPROVE], scripts)
    assert result.outcome == "delivered", result.summary
    reports = of_type(events, "qa_report")
    assert [r["passed"] for r in reports] == [False, True]
    assert "500 m" in reports[0]["failures"][0]["output"]  # what the browser showed
