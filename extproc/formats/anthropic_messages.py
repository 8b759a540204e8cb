"""Anthropic ``/v1/messages`` bodies -> Conversation.

The top-level ``system`` (string or text blocks) is read-only text. Message content is a string
or blocks: ``text``, ``tool_use`` (input never touched), ``tool_result`` (string or block
content, ``is_error``), ``thinking``/``redacted_thinking`` (signatures never touched), images
and documents (not text, left alone). ``cache_control`` markers stay where they are and decide
nothing.
"""

from __future__ import annotations

import json
from typing import Any

from ..conversation import Block, Conversation, Kind, ToolCall
from ..rawjson import Path
from ._common import require_dict, require_list, user_text

__all__ = ["FORMAT", "ITEMS", "head", "item_calls", "add_item", "user_text"]

FORMAT = "anthropic"
ITEMS = "messages"
_CALLS = ("tool_use", "server_tool_use")
# ``json.dumps(value, ensure_ascii=False)`` without building an encoder for every tool call read
_dump_input = json.JSONEncoder(ensure_ascii=False).encode


def head(body: dict[str, Any]) -> Conversation:
    require_list(body.get(ITEMS), ITEMS)
    model = body.get("model")
    conv = Conversation(format=FORMAT, model=model if isinstance(model, str) else None)
    system = body.get("system")
    if isinstance(system, str):
        conv.add(Block(kind=Kind.TEXT, role="system", text=system, message_index=-1))
    elif isinstance(system, list):
        for part in system:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                conv.add(Block(kind=Kind.TEXT, role="system", text=part["text"], message_index=-1))
    return conv


def item_calls(item: Any) -> list[tuple[str, ToolCall]]:
    """The tool_use blocks of a message, by id."""
    content = item.get("content") if isinstance(item, dict) else None
    if not isinstance(content, list):
        return []
    return [(block["id"], ToolCall(block["name"], block.get("input"))) for block in content
            if isinstance(block, dict) and block.get("type") in _CALLS
            and isinstance(block.get("id"), str) and isinstance(block.get("name"), str)]


def add_item(conv: Conversation, index: int, item: Any, calls: dict[str, ToolCall]) -> None:
    message = require_dict(item, f"messages[{index}]")
    role = str(message.get("role", ""))
    content = message.get("content")
    if isinstance(content, str):
        conv.add(Block(kind=Kind.TEXT, role=role, text=content, message_index=index,
                       path=(ITEMS, index, "content")))
    elif isinstance(content, list):
        for number, block in enumerate(content):
            if isinstance(block, dict):
                _block(conv, block, role, (ITEMS, index, "content", number), calls)


def _block(conv: Conversation, block: dict[str, Any], role: str, at: tuple[str | int, ...],
           calls: dict[str, ToolCall]) -> None:
    # Block(kind, role, text, message_index, ...): the four it always has by position, cheaper than
    # by keyword, since every block of a body read whole comes here.
    kind = block.get("type")
    index = int(at[1])
    if kind == "text" and isinstance(block.get("text"), str):
        conv.add(Block(Kind.TEXT, role, block["text"], index, path=(*at, "text")))
    elif kind in _CALLS:
        call_id, name = block.get("id"), block.get("name")
        conv.add(Block(Kind.TOOL_CALL, role, _dump_input(block.get("input")), index,
                       tool_name=name if isinstance(name, str) else None,
                       tool_call_id=call_id if isinstance(call_id, str) else None,
                       call=ToolCall(name, block.get("input"))))
    elif kind == "tool_result":
        _tool_result(conv, block, role, at, calls)
    elif kind == "thinking" and isinstance(block.get("thinking"), str):
        conv.add(Block(kind=Kind.THINKING, role=role, text=block["thinking"], message_index=index))


def _tool_result(conv: Conversation, block: dict[str, Any], role: str, at: tuple[str | int, ...],
                 calls: dict[str, ToolCall]) -> None:
    call_id = block.get("tool_use_id")
    call_id = call_id if isinstance(call_id, str) else None
    call = calls.get(call_id) if call_id else None
    content = block.get("content")
    texts: list[tuple[str, Path]]
    if isinstance(content, str):
        texts = [(content, (*at, "content"))]
    elif isinstance(content, list):
        texts = [(part["text"], (*at, "content", number, "text")) for number, part in enumerate(content)
                 if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)]
    else:
        return
    tool_name, is_error = call.name if call else None, block.get("is_error") is True
    for text, path in texts:
        conv.add(Block(Kind.TOOL_RESULT, role, text, int(at[1]), tool_name=tool_name, tool_call_id=call_id,
                       call=call, is_error=is_error, path=path))
