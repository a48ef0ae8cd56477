"""An OpenAI-compatible server on 127.0.0.1 for tests, which can also misbehave: each queued reply is a normal
response or a fault (a delay past the client's timeout, an HTTP error with headers, a body cut short)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    payload: dict | None = None
    raw: bytes | None = None  # sent as the body instead of the payload (e.g. truncated JSON)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


class FakeOpenAI(BaseHTTPRequestHandler):
    replies: list[Reply] = []
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        reply = type(self).replies.pop(0)
        time.sleep(reply.delay)
        data = reply.raw if reply.raw is not None else json.dumps(reply.payload or {}).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting: that was the point
            pass

    def log_message(self, *args):
        pass


def start() -> tuple[str, ThreadingHTTPServer]:
    FakeOpenAI.replies, FakeOpenAI.requests = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/v1", httpd


def completion(arguments: str, name: str = "shell", choices: bool = True) -> dict:
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return _response(message, "tool_calls") if choices else _response(None, "")


def text_completion(content: str) -> dict:
    """A reply in prose, as a text-based agent (mini-swe-agent's) reads it."""
    return _response({"role": "assistant", "content": content}, "stop")


def _response(message: dict | None, finish_reason: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}] if message else [],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 15,
            "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }
