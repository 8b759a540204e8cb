"""OpenAI ``/v1/chat/completions`` bodies -> Conversation.

Roles ``system``/``developer`` (read-only) and ``user``/``assistant`` carry string or array
content; assistant ``tool_calls`` carry arguments (never touched); ``role: tool`` messages are
tool results whose tool name is resolved from the earlier call with the same id. Legacy
``role: function`` messages are tool results named by their ``name``.
"""

from __future__ import annotations

from typing import Any

from ..conversation import Block, Conversation, Kind
from ._common import ToolCall, require_dict, require_list, role_setter, tool_input

__all__ = ["parse"]

FORMAT = "openai"


def parse(body: dict[str, Any]) -> Conversation:
    messages = require_list(body.get("messages"), "messages")
    conv = Conversation(format=FORMAT, model=_model(body), body=body)
    calls: dict[str, ToolCall] = {}
    for index, raw in enumerate(messages):
        message = require_dict(raw, f"messages[{index}]")
        role = str(message.get("role", ""))
        call, tool_call_id = None, None
        kind = Kind.TEXT
        if role == "tool":
            kind = Kind.TOOL_RESULT
            tool_call_id = message.get("tool_call_id")
            call = calls.get(tool_call_id) if isinstance(tool_call_id, str) else None
        elif role == "function":
            kind, call = Kind.TOOL_RESULT, ToolCall(message.get("name"), None)
        _content_blocks(conv, message, index, role, kind, call, tool_call_id)
        tool_calls = message.get("tool_calls")
        for raw_call in tool_calls if isinstance(tool_calls, list) else ():  # null or junk: no calls
            if isinstance(raw_call, dict):
                _tool_call(conv, raw_call, index, calls)
    return conv


def _model(body: dict[str, Any]) -> str | None:
    model = body.get("model")
    return model if isinstance(model, str) else None


def _content_blocks(conv: Conversation, message: dict[str, Any], index: int, role: str,
                    kind: Kind, call: ToolCall | None, tool_call_id: Any) -> None:
    tool_name = call.name if call else None
    common = dict(role=role, message_index=index,
                  tool_name=tool_name if isinstance(tool_name, str) else None,
                  tool_call_id=tool_call_id if isinstance(tool_call_id, str) else None,
                  tool_input=call.input if call else None)
    content = message.get("content")
    if isinstance(content, str):
        conv.add(Block(kind=kind, text=content, writer=role_setter(role, message, "content"), **common))
        return
    if not isinstance(content, list):
        return
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            conv.add(Block(kind=kind, text=part["text"], writer=role_setter(role, part, "text"), **common))


def _tool_call(conv: Conversation, call: dict[str, Any], index: int, calls: dict[str, ToolCall]) -> None:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    name = function.get("name")
    call_id = call.get("id")
    arguments = function.get("arguments")
    parsed = tool_input(arguments)
    if isinstance(call_id, str) and isinstance(name, str):
        calls[call_id] = ToolCall(name, parsed)
    if isinstance(arguments, str):
        conv.add(Block(kind=Kind.TOOL_CALL, role="assistant", text=arguments, message_index=index,
                       tool_name=name if isinstance(name, str) else None,
                       tool_call_id=call_id if isinstance(call_id, str) else None, tool_input=parsed))
