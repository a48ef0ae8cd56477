"""QA's browser: serve the product, open a page in headless Chromium (Playwright), act on it as a user would,
and print what the page then shows. It runs inside the sandbox, where loopback is the product's own.

    python -m autonomo.company.browse --serve "python -m http.server 8000" --url http://127.0.0.1:8000/ \
        --action "click=text=Convert" --action "fill=#km=5"
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

CHROMIUM = os.environ.get("AUTONOMO_CHROMIUM", "/usr/bin/chromium")
START_SECONDS = 20.0


def wait_for_port(host: str, port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode} before it listened on {port}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listened on {host}:{port} within {START_SECONDS:g} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", help="command that starts the product's server")
    parser.add_argument("--url", required=True)
    parser.add_argument("--action", action="append", default=[], help="click=SELECTOR | fill=SELECTOR=TEXT")
    args = parser.parse_args(argv)
    from playwright.sync_api import Error, sync_playwright

    url = urlparse(args.url)
    server = (
        subprocess.Popen(shlex.split(args.serve), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if args.serve
        else None
    )
    try:
        if server:
            wait_for_port(url.hostname or "127.0.0.1", url.port or 80, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM if os.path.exists(CHROMIUM) else None,
                args=["--no-sandbox", "--disable-dev-shm-usage"],  # we are inside our own sandbox already
            )
            page = browser.new_page()
            page.goto(args.url, timeout=15_000)
            for action in args.action:
                kind, _, rest = action.partition("=")
                if kind == "click":
                    page.click(rest, timeout=5_000)
                elif kind == "fill":
                    selector, _, text = rest.rpartition("=")
                    page.fill(selector, text, timeout=5_000)
                else:
                    raise SystemExit(f"unknown action {action!r}: use click=SELECTOR or fill=SELECTOR=TEXT")
            print(page.inner_text("body"))
            browser.close()
    except Error as exc:
        print(f"browser: {exc}", file=sys.stderr)
        return 1
    finally:
        if server:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
