"""A loopback upstream that plays the model for a real agent CLI: it asks for the next command of a
script, streams it as the real API does (Anthropic messages SSE, OpenAI Responses SSE), and records
every request that arrives (after Envoy and trimwire).

The script is a list of steps; a request's step is the number of tool outputs its input already
holds, so the agent's own retries and side requests (titles, quota checks) never advance it. A
step is a function of the request (a later command may need an id an earlier output printed) that
returns the tool call to make; after the last step the model answers ``DONE_TEXT``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.upstream import LoopbackServer

__all__ = ["Call", "Arrived", "ScriptedModel", "DONE_TEXT"]

DONE_TEXT = "All steps done."


@dataclass(frozen=True)
class Call:
    """A tool call the model makes: JSON arguments, or ``raw`` text for a freeform (custom) tool."""

    name: str
    arguments: dict[str, Any] | None = None
    raw: str | None = None


Step = Callable[[dict[str, Any]], Call]


@dataclass
class Arrived:
    path: str
    headers: dict[str, str]
    body: bytes
    step: int | None = None       # the script step this request was answered with; None: a side request

    def json(self) -> Any:
        return json.loads(self.body)


def _sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def _anthropic_outputs(body: dict[str, Any]) -> int:
    return sum(1 for message in body.get("messages", []) if isinstance(message.get("content"), list)
               for part in message["content"] if isinstance(part, dict) and part.get("type") == "tool_result")


def _anthropic_reply(step: int, call: Call | None, model: str) -> bytes:
    """Messages SSE: one tool_use block (its input streamed as JSON deltas) or one text block."""
    start = {"id": f"msg_{step}", "type": "message", "role": "assistant", "model": model, "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
    if call is None:
        block, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": DONE_TEXT}
    else:
        block = {"type": "tool_use", "id": f"toolu_{step:02d}", "name": call.name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(call.arguments)}
    stop = "end_turn" if call is None else "tool_use"
    return _sse([
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                           "usage": {"output_tokens": 20}}),
        ("message_stop", {"type": "message_stop"}),
    ])


_RESPONSES_OUTPUTS = ("function_call_output", "custom_tool_call_output")


def _responses_outputs(body: dict[str, Any]) -> int:
    items = body.get("input", [])
    return sum(1 for item in items if isinstance(item, dict) and item.get("type") in _RESPONSES_OUTPUTS)


def _responses_reply(step: int, call: Call | None, model: str) -> bytes:
    """Responses SSE: one function_call (or custom_tool_call) item, or one assistant message."""
    if call is None:
        item = {"type": "message", "id": f"msg_{step}", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": DONE_TEXT, "annotations": []}]}
    elif call.raw is not None:
        item = {"type": "custom_tool_call", "id": f"ctc_{step}", "call_id": f"call_{step:02d}",
                "name": call.name, "input": call.raw, "status": "completed"}
    else:
        item = {"type": "function_call", "id": f"fc_{step}", "call_id": f"call_{step:02d}", "name": call.name,
                "arguments": json.dumps(call.arguments), "status": "completed"}
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 20,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 30}
    response = {"id": f"resp_{step}", "object": "response", "created_at": 1, "model": model,
                "status": "in_progress", "output": [], "usage": None}
    done = response | {"status": "completed", "output": [item], "usage": usage}
    events = [("response.created", {"type": "response.created", "response": response}),
              ("response.in_progress", {"type": "response.in_progress", "response": response}),
              ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                              "item": item | {"status": "in_progress"}})]
    if call is None:
        events.append(("response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"],
                                                      "output_index": 0, "content_index": 0, "delta": DONE_TEXT}))
    events += [("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
               ("response.completed", {"type": "response.completed", "response": done})]
    numbered = [(name, data | {"sequence_number": index}) for index, (name, data) in enumerate(events)]
    return _sse(numbered)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while (size := int(self.rfile.readline().strip(), 16)) != 0:
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("content-length", 0)))

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        model: ScriptedModel = self.server.owner  # type: ignore[attr-defined]
        ctype, payload = model.answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self._send(ctype, payload)

    def do_GET(self) -> None:  # noqa: N802
        self._send("application/json", json.dumps({"object": "list", "data": [], "models": []}).encode())

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def _send(self, ctype: str, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@dataclass
class ScriptedModel(LoopbackServer):
    """Start with ``start()``; point Envoy at ``url``; ``arrived`` holds every request in order."""

    steps: list[Step]
    main_tool: str                      # a request whose tools include this one is the agent's main loop
    arrived: list[Arrived] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._serve(_Handler)


    def main_requests(self) -> list[Arrived]:
        with self._lock:
            return [item for item in self.arrived if item.step is not None]

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[str, bytes]:
        arrived = Arrived(path, headers, raw)
        with self._lock:
            self.arrived.append(arrived)
        route = path.split("?", 1)[0]
        if route.endswith("/count_tokens"):
            return "application/json", json.dumps({"input_tokens": len(raw) // 4}).encode()
        try:
            body = json.loads(raw)
        except ValueError:
            self.errors.append(f"unparsable body on {path}")
            return "application/json", b"{}"
        anthropic = route.endswith("/messages")
        tools = {tool.get("name") for tool in body.get("tools", []) if isinstance(tool, dict)}
        model = str(body.get("model", "model"))
        if self.main_tool not in tools:   # a side request: a title, a summary, a quota probe
            return "text/event-stream", (_anthropic_reply(0, None, model) if anthropic
                                         else _responses_reply(0, None, model))
        step = _anthropic_outputs(body) if anthropic else _responses_outputs(body)
        arrived.step = step
        try:
            call = self.steps[step](body) if step < len(self.steps) else None
        except Exception as exc:  # a step that cannot read what it needs: say so, end the session
            self.errors.append(f"step {step}: {exc!r}")
            call = None
        reply = _anthropic_reply(step, call, model) if anthropic else _responses_reply(step, call, model)
        return "text/event-stream", reply
