"""A loopback upstream that records what it receives and answers like OpenAI or Anthropic.

Real enough for the real SDK clients to parse: chat completions, messages and responses, each
as one JSON reply or as a server-sent event stream when the request asks for ``stream``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["LoopbackServer", "Recorded", "RecordingUpstream"]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


def _usage_chat():
    return {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}


def _chat(stream: bool):
    if not stream:
        return "application/json", json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": "gpt-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": _usage_chat()}).encode()
    chunks = [
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    return "text/event-stream", "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"


def _message():
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 2}}


def _messages(stream: bool):
    if not stream:
        return "application/json", json.dumps(_message()).encode()
    start = _message() | {"content": [], "stop_reason": None}
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "text/event-stream", "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events).encode()


def _response_obj(status: str = "completed"):
    return {"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-test", "status": status,
            "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}


def _responses(stream: bool):
    if not stream:
        return "application/json", json.dumps(_response_obj()).encode()
    events = [
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": _response_obj("in_progress") | {"output": []}}),
        ("response.completed", {"type": "response.completed", "sequence_number": 1, "response": _response_obj()}),
    ]
    return "text/event-stream", "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each reply stalls ~40 ms

    def log_message(self, *args):  # keep test output clean
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length", 0)))

    def do_POST(self):  # noqa: N802
        body = self._body()
        self.server.owner.record(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        try:
            stream = bool(json.loads(body).get("stream"))
        except Exception:
            stream = False
        path = self.path.split("?", 1)[0]
        if path.endswith("/v1/messages"):
            ctype, payload = _messages(stream)
        elif path.endswith("/v1/responses"):
            ctype, payload = _responses(stream)
        else:
            ctype, payload = _chat(stream)
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):  # noqa: N802
        self.server.owner.record(Recorded("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, b""))
        payload = json.dumps({"object": "list", "data": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class LoopbackServer:
    """A threaded HTTP server on a free loopback port whose handler reaches this object as
    ``self.server.owner``: the recording upstream here, the agent suite's model and forwarder."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.owner = self  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class RecordingUpstream(LoopbackServer):
    """Start with ``start()``; ``url`` to point Envoy at; ``requests`` in arrival order."""

    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._serve(_Handler)

    def record(self, item: Recorded) -> None:
        with self._lock:
            self.requests.append(item)

    def last(self) -> Recorded:
        with self._lock:
            return self.requests[-1]

    def with_header(self, name: str, value: str) -> list[Recorded]:
        """The requests whose header ``name`` (lower case) is ``value``, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.headers.get(name) == value]

