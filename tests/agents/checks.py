"""Reading a session back: each tool output as the agent sent it and as it arrived upstream, and
whether each request's history arrived again unchanged in the next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Output", "outputs", "main_bodies", "history_changes", "size_rows"]


@dataclass(frozen=True)
class Output:
    """One tool output: the call that made it, what the agent sent, what arrived upstream."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    sent: str
    arrived: str
    is_error: bool = False

    @property
    def command(self) -> str:
        args = self.arguments
        return str(args.get("command") or args.get("cmd") or args.get("file_path") or args.get("pattern") or "")

    @property
    def ratio(self) -> float:
        return len(self.arrived) / len(self.sent) if self.sent else 1.0


def main_bodies(bodies: list[bytes], main_tool: str) -> list[dict[str, Any]]:
    """The agent's main-loop requests (those that offer ``main_tool``), parsed, in order."""
    parsed = []
    for raw in bodies:
        try:
            body = json.loads(raw)
        except ValueError:
            continue
        if isinstance(body, dict) and any(t.get("name") == main_tool for t in body.get("tools", [])):
            parsed.append(body)
    return parsed


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def _anthropic(body: dict[str, Any]) -> tuple[dict[str, tuple[str, dict]], dict[str, tuple[str, bool]]]:
    calls, results = {}, {}
    for message in body.get("messages", []):
        for part in message["content"] if isinstance(message.get("content"), list) else []:
            if part.get("type") == "tool_use":
                calls[part["id"]] = (part["name"], part.get("input") or {})
            elif part.get("type") == "tool_result":
                results[part["tool_use_id"]] = (_text(part.get("content")), bool(part.get("is_error")))
    return calls, results


def _responses(body: dict[str, Any]) -> tuple[dict[str, tuple[str, dict]], dict[str, tuple[str, bool]]]:
    calls, results = {}, {}
    for item in body.get("input", []):
        kind = item.get("type")
        if kind == "function_call":
            calls[item["call_id"]] = (item["name"], json.loads(item.get("arguments") or "{}"))
        elif kind == "custom_tool_call":
            calls[item["call_id"]] = (item["name"], {"input": item.get("input", "")})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            results[item["call_id"]] = (output if isinstance(output, str) else _text(output), False)
    return calls, results


def outputs(sent: dict[str, Any], arrived: dict[str, Any]) -> list[Output]:
    """Every tool output of one request, as sent and as arrived, in conversation order."""
    read = _anthropic if "messages" in sent else _responses
    calls, sent_results = read(sent)
    _, arrived_results = read(arrived)
    return [Output(call_id, *calls.get(call_id, ("?", {})), text, arrived_results[call_id][0], is_error)
            for call_id, (text, is_error) in sent_results.items()]


def _history(body: dict[str, Any]) -> list[str]:
    """The conversation items, each as canonical JSON without the prompt-cache breakpoints the
    client moves from turn to turn (``cache_control``)."""
    items = body.get("messages", body.get("input", []))
    return [json.dumps(_strip(item), sort_keys=True, ensure_ascii=False) for item in items]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def history_changes(requests: list[dict[str, Any]]) -> list[str]:
    """Each item of a request that arrives different in the next request (empty: none)."""
    changes = []
    for turn, (earlier, later) in enumerate(zip(requests, requests[1:])):
        before, after = _history(earlier), _history(later)
        for index, item in enumerate(before):
            if index >= len(after) or after[index] != item:
                changes.append(f"request {turn}, item {index}")
    return changes


def size_rows(agent: str, items: list[Output]) -> list[str]:
    """One report line per tool output: sizes sent and arrived."""
    return [f"{agent:<12} {item.tool:<13} {item.command.splitlines()[0][:44] if item.command else '':<44} sent {len(item.sent):>6}  arrived "
            f"{len(item.arrived):>6}  ({item.ratio:.0%}){'  is_error' if item.is_error else ''}"
            for item in items]
