"""OpenAI ``/v1/responses`` bodies -> Conversation.

``instructions`` is read-only system text. ``input`` is a string (one user message) or items:
messages (with or without ``type: message``; string or ``input_text``/``output_text`` parts;
``system``/``developer`` ones read-only), ``function_call``/``custom_tool_call`` (arguments never
touched), their ``*_output`` items (tool results, named from the call with the same
``call_id``), and anything else (reasoning, shell calls, references), which is left alone.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..conversation import Block, Conversation, Kind, ToolCall
from ..errors import UnsupportedBody
from ._common import require_dict, role_path

__all__ = ["FORMAT", "ITEMS", "head", "item_calls", "add_item", "user_text"]

FORMAT = "responses"
ITEMS = "input"

_TEXT_PARTS = ("input_text", "output_text", "text")
_CALLS = {"function_call": "arguments", "custom_tool_call": "input"}
_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output")


def head(body: dict[str, Any]) -> Conversation:
    model = body.get("model")
    conv = Conversation(format=FORMAT, model=model if isinstance(model, str) else None)
    if isinstance(body.get("instructions"), str):
        conv.add(Block(kind=Kind.TEXT, role="system", text=body["instructions"], message_index=-1))
    items = body.get(ITEMS)
    if isinstance(items, str):
        conv.add(Block(kind=Kind.TEXT, role="user", text=items, message_index=0, path=(ITEMS,)))
    elif not isinstance(items, list):
        raise UnsupportedBody("input is neither a string nor an array")
    return conv


def _kind(item: dict[str, Any]) -> str | None:
    kind = item.get("type", "message" if "role" in item else None)
    return kind if isinstance(kind, str) else None  # a list or object here is no item we know


def item_calls(item: Any) -> list[tuple[str, ToolCall]]:
    """The call a ``function_call`` or ``custom_tool_call`` item makes, by its ``call_id``."""
    if not isinstance(item, dict):
        return []
    field = _CALLS.get(_kind(item) or "")
    call_id, name = item.get("call_id"), item.get("name")
    if field is None or not isinstance(call_id, str) or not isinstance(name, str):
        return []
    return [(call_id, ToolCall(name, item.get(field)))]


def user_text(item: Any) -> str | None:
    """What the user wrote in a user message item, or None for any other item."""
    if not isinstance(item, dict) or _kind(item) != "message" or item.get("role") != "user":
        return None
    content = item.get("content")
    if isinstance(content, str):
        return content
    texts = [part["text"] for part in content if isinstance(part, dict) and part.get("type") in _TEXT_PARTS
             and isinstance(part.get("text"), str)] if isinstance(content, list) else []
    return "\n".join(texts) if texts else None


def add_item(conv: Conversation, index: int, item: Any, calls: dict[str, ToolCall]) -> None:
    item = require_dict(item, f"input[{index}]")
    kind = _kind(item)
    if kind == "message":
        _message(conv, item, index)
    elif kind in _CALLS:
        _call(conv, item, index, _CALLS[kind])
    elif kind in _OUTPUTS:
        _output(conv, item, index, calls)


def _message(conv: Conversation, item: dict[str, Any], index: int) -> None:
    role = str(item.get("role", ""))
    content = item.get("content")
    if isinstance(content, str):
        conv.add(Block(kind=Kind.TEXT, role=role, text=content, message_index=index,
                       path=role_path(role, (ITEMS, index, "content"))))
    elif isinstance(content, list):
        for number, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
                conv.add(Block(kind=Kind.TEXT, role=role, text=part["text"], message_index=index,
                               path=role_path(role, (ITEMS, index, "content", number, "text"))))


def _call(conv: Conversation, item: dict[str, Any], index: int, field: str) -> None:
    call_id, name = item.get("call_id"), item.get("name")
    if isinstance(item.get(field), str):
        conv.add(Block(kind=Kind.TOOL_CALL, role="assistant", text=item[field], message_index=index,
                       tool_name=name if isinstance(name, str) else None,
                       tool_call_id=call_id if isinstance(call_id, str) else None,
                       call=ToolCall(name, item.get(field))))


def _output(conv: Conversation, item: dict[str, Any], index: int, calls: dict[str, ToolCall]) -> None:
    call_id = item.get("call_id")
    call_id = call_id if isinstance(call_id, str) else None
    call = calls.get(call_id) if call_id else None
    name = call.name if call else None
    if name is None and item.get("type") == "local_shell_call_output":
        name = "local_shell"
    result = partial(Block, kind=Kind.TOOL_RESULT, role="tool", message_index=index, tool_name=name,
                     tool_call_id=call_id, call=call)
    output = item.get("output")
    if isinstance(output, str):
        conv.add(result(text=output, path=(ITEMS, index, "output")))
    elif isinstance(output, list):
        for number, part in enumerate(output):
            if isinstance(part, dict) and part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
                conv.add(result(text=part["text"], path=(ITEMS, index, "output", number, "text")))
