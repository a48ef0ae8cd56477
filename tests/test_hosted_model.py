"""The litellm path against an OpenAI-compatible server on 127.0.0.1 that the test runs itself."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autonomo.models import ModelError, ToolSpec, load_model

TOOLS = [
    ToolSpec(
        "shell",
        "run a command",
        {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    )
]


class FakeOpenAI(BaseHTTPRequestHandler):
    replies: list[tuple[int, dict]] = []
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        status, payload = type(self).replies.pop(0)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def completion(arguments: str, name: str = "shell") -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 15,
            "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    FakeOpenAI.replies, FakeOpenAI.requests = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_tool_call_usage_and_cache(server):
    FakeOpenAI.replies = [(200, completion('{"command": "ls"}'))]
    model = load_model("openai/gpt-4o-mini", api_base=server)
    reply = model.complete([{"role": "user", "content": "list files"}], TOOLS)
    (call,) = reply.tool_calls
    assert (call.name, call.arguments, call.error) == ("shell", {"command": "ls"}, None)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (120, 15)
    assert reply.usage.prompt_tokens_evaluated == 20  # 100 of 120 served from the provider's cache
    assert reply.usage.cost_usd > 0  # priced from litellm's local price map
    sent = FakeOpenAI.requests[0]
    assert sent["tools"][0]["function"]["name"] == "shell" and sent["tool_choice"] == "required"


def test_invalid_arguments_become_a_malformed_call(server):
    FakeOpenAI.replies = [(200, completion('{"command": '))]
    reply = load_model("openai/gpt-4o-mini", api_base=server).complete([{"role": "user", "content": "x"}], TOOLS)
    assert "not valid JSON" in reply.tool_calls[0].error


def test_server_errors_raise_model_error_after_retries(server):
    FakeOpenAI.replies = [(500, {"error": {"message": "boom"}})] * 10
    model = load_model("openai/gpt-4o-mini", api_base=server)
    model.retries = 1
    with pytest.raises(ModelError):
        model.complete([{"role": "user", "content": "x"}], TOOLS)
