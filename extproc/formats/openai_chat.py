"""OpenAI ``/v1/chat/completions`` bodies -> Conversation.

Roles ``system``/``developer`` (read-only) and ``user``/``assistant`` carry string or array
content; assistant ``tool_calls`` carry arguments (never touched); ``role: tool`` messages are
tool results whose tool name is resolved from the earlier call with the same id. Legacy
``role: function`` messages are tool results named by their ``name``.
"""

from __future__ import annotations

from typing import Any

from ..conversation import Block, Conversation, Kind, ToolCall
from ..rawjson import Path
from ._common import require_dict, require_list, role_path, user_text

__all__ = ["FORMAT", "ITEMS", "head", "item_calls", "add_item", "user_text"]

FORMAT = "openai"
ITEMS = "messages"


def head(body: dict[str, Any]) -> Conversation:
    require_list(body.get(ITEMS), ITEMS)
    model = body.get("model")
    return Conversation(format=FORMAT, model=model if isinstance(model, str) else None)


def item_calls(item: Any) -> list[tuple[str, ToolCall]]:
    """The calls an assistant message makes, by id."""
    tool_calls = item.get("tool_calls") if isinstance(item, dict) else None
    calls = []
    for call in tool_calls if isinstance(tool_calls, list) else ():  # null or junk: no calls
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(call.get("id"), str) and isinstance(function.get("name"), str):
            calls.append((call["id"], ToolCall(function["name"], function.get("arguments"))))
    return calls


def add_item(conv: Conversation, index: int, item: Any, calls: dict[str, ToolCall]) -> None:
    message = require_dict(item, f"messages[{index}]")
    role = str(message.get("role", ""))
    call, tool_call_id = None, None
    kind = Kind.TEXT
    if role == "tool":
        kind = Kind.TOOL_RESULT
        tool_call_id = message.get("tool_call_id")
        call = calls.get(tool_call_id) if isinstance(tool_call_id, str) else None
    elif role == "function":
        kind, call = Kind.TOOL_RESULT, ToolCall(message.get("name"))
    _content_blocks(conv, message, index, role, kind, call, tool_call_id)
    tool_calls = message.get("tool_calls")
    for raw_call in tool_calls if isinstance(tool_calls, list) else ():  # null or junk: no calls
        if isinstance(raw_call, dict):
            _tool_call(conv, raw_call, index)


def _content_blocks(conv: Conversation, message: dict[str, Any], index: int, role: str,
                    kind: Kind, call: ToolCall | None, tool_call_id: Any) -> None:
    content = message.get("content")
    texts: list[tuple[str, Path]]
    if isinstance(content, str):
        texts = [(content, (ITEMS, index, "content"))]
    elif isinstance(content, list):
        texts = [(part["text"], (ITEMS, index, "content", number, "text")) for number, part in enumerate(content)
                 if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)]
    else:
        return
    tool_name = call.name if call else None
    tool_name = tool_name if isinstance(tool_name, str) else None
    tool_call_id = tool_call_id if isinstance(tool_call_id, str) else None
    # Block(kind, role, text, message_index, ...): the four it always has by position, cheaper than
    # by keyword (and no partial), since every message of a body read whole comes here.
    for text, path in texts:
        conv.add(Block(kind, role, text, index, tool_name=tool_name, tool_call_id=tool_call_id, call=call,
                       path=role_path(role, path)))


def _tool_call(conv: Conversation, call: dict[str, Any], index: int) -> None:
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    name = function.get("name")
    call_id = call.get("id")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        conv.add(Block(Kind.TOOL_CALL, "assistant", arguments, index,
                       tool_name=name if isinstance(name, str) else None,
                       tool_call_id=call_id if isinstance(call_id, str) else None, call=ToolCall(name, arguments)))
