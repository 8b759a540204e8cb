"""Anthropic ``/v1/messages`` bodies -> Conversation.

The top-level ``system`` (string or text blocks) is read-only text. Message content is a string
or blocks: ``text``, ``tool_use`` (input never touched), ``tool_result`` (string or block
content, ``is_error``), ``thinking``/``redacted_thinking`` (signatures never touched), images
and documents (not text, left alone). ``cache_control`` markers are noted, never moved.
"""

from __future__ import annotations

import json
from typing import Any

from ..conversation import Block, Conversation, Kind
from ._common import ToolCall, require_dict, require_list, setter, tool_input

__all__ = ["parse"]

FORMAT = "anthropic"


def parse(body: dict[str, Any]) -> Conversation:
    messages = require_list(body.get("messages"), "messages")
    model = body.get("model")
    conv = Conversation(format=FORMAT, model=model if isinstance(model, str) else None, body=body)
    _system(conv, body.get("system"))
    calls: dict[str, ToolCall] = {}
    for index, raw in enumerate(messages):
        message = require_dict(raw, f"messages[{index}]")
        role = str(message.get("role", ""))
        content = message.get("content")
        if isinstance(content, str):
            conv.add(Block(kind=Kind.TEXT, role=role, text=content, message_index=index,
                           writer=setter(message, "content")))
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict):
                    _block(conv, block, role, index, calls)
    return conv


def _system(conv: Conversation, system: Any) -> None:
    if isinstance(system, str):
        conv.add(Block(kind=Kind.TEXT, role="system", text=system, message_index=-1))
    elif isinstance(system, list):
        for part in system:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                conv.add(Block(kind=Kind.TEXT, role="system", text=part["text"], message_index=-1))


def _block(conv: Conversation, block: dict[str, Any], role: str, index: int,
           calls: dict[str, ToolCall]) -> None:
    kind = block.get("type")
    cached = "cache_control" in block
    if kind == "text" and isinstance(block.get("text"), str):
        conv.add(Block(kind=Kind.TEXT, role=role, text=block["text"], message_index=index,
                       cache_control=cached, writer=setter(block, "text")))
    elif kind in ("tool_use", "server_tool_use"):
        call_id, name, arguments = block.get("id"), block.get("name"), tool_input(block.get("input"))
        if isinstance(call_id, str) and isinstance(name, str):
            calls[call_id] = ToolCall(name, arguments)
        conv.add(Block(kind=Kind.TOOL_CALL, role=role, text=json.dumps(block.get("input"), ensure_ascii=False),
                       message_index=index, tool_name=name if isinstance(name, str) else None,
                       tool_call_id=call_id if isinstance(call_id, str) else None, tool_input=arguments))
    elif kind == "tool_result":
        _tool_result(conv, block, role, index, calls)
    elif kind == "thinking" and isinstance(block.get("thinking"), str):
        conv.add(Block(kind=Kind.THINKING, role=role, text=block["thinking"], message_index=index))


def _tool_result(conv: Conversation, block: dict[str, Any], role: str, index: int,
                 calls: dict[str, ToolCall]) -> None:
    call_id = block.get("tool_use_id")
    call_id = call_id if isinstance(call_id, str) else None
    call = calls.get(call_id) if call_id else None
    common = dict(kind=Kind.TOOL_RESULT, role=role, message_index=index, tool_call_id=call_id,
                  tool_name=call.name if call else None, tool_input=call.input if call else None,
                  is_error=block.get("is_error") is True, cache_control="cache_control" in block)
    content = block.get("content")
    if isinstance(content, str):
        conv.add(Block(text=content, writer=setter(block, "content"), **common))
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                conv.add(Block(text=part["text"], writer=setter(part, "text"), **common))
