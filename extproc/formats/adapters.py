"""Which adapter reads a body (``formats/__init__.py`` says what an adapter is): the registry of
formats, chosen by path suffix or by the body's shape, and a whole-body parse for offline use."""

from __future__ import annotations

from typing import Any, Protocol

from ..conversation import Conversation, ToolCall
from ..errors import UnsupportedBody
from . import anthropic_messages, openai_chat, openai_responses

__all__ = ["Adapter", "FORMATS", "adapter_for", "detect_format", "format_for_path", "parse_body"]


class Adapter(Protocol):
    FORMAT: str
    ITEMS: str

    def head(self, body: dict[str, Any]) -> Conversation:
        """The Conversation with the body's blocks outside ``ITEMS``; raises UnsupportedBody."""

    def item_calls(self, item: Any) -> list[tuple[str, ToolCall]]:
        """(call id, call) for each tool call ``item`` makes; [] for anything else, junk included."""

    def add_item(self, conv: Conversation, index: int, item: Any, calls: dict[str, ToolCall]) -> None:
        """Add the blocks of ``body[ITEMS][index]``; tool results are named from ``calls``."""

    def user_text(self, item: Any) -> str | None:
        """What the user wrote in ``item``, or None when it is no user message (or only results)."""


FORMATS: dict[str, Adapter] = {module.FORMAT: module for module in (openai_chat, anthropic_messages,
                                                                     openai_responses)}

# Matched on the path's end so gateway prefixes (/llm/<model>/v1/messages) work.
_SUFFIXES = (
    ("/v1/chat/completions", openai_chat.FORMAT),
    ("/v1/messages", anthropic_messages.FORMAT),
    ("/v1/responses", openai_responses.FORMAT),
)


def format_for_path(path: str) -> str | None:
    """The format served at ``path`` (query string ignored), or None if trimwire does not know it."""
    path = path.split("?", 1)[0].rstrip("/")
    for suffix, name in _SUFFIXES:
        if path.endswith(suffix):
            return name
    return None


def detect_format(body: dict[str, Any]) -> str:
    """Best guess of a captured body's format, for offline use (``trimwire compress``)."""
    if "input" in body and "messages" not in body:
        return openai_responses.FORMAT
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise UnsupportedBody("no messages or input")
    if "system" in body or any(isinstance(m, dict) and isinstance(m.get("content"), list) and any(
            isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result", "thinking")
            for b in m["content"]) for m in messages):
        return anthropic_messages.FORMAT
    return openai_chat.FORMAT


def adapter_for(format_name: str) -> Adapter:
    try:
        return FORMATS[format_name]
    except KeyError:
        raise UnsupportedBody(f"unknown format {format_name!r}") from None


def parse_body(format_name: str, body: Any) -> Conversation:
    """The whole body as a Conversation: every block, each item's calls registered before its blocks."""
    if not isinstance(body, dict):
        raise UnsupportedBody("body is not a JSON object")
    adapter = adapter_for(format_name)
    conv = adapter.head(body)
    calls: dict[str, ToolCall] = {}
    items = body.get(adapter.ITEMS)
    for index, item in enumerate(items if isinstance(items, list) else ()):
        calls.update(adapter.item_calls(item))
        adapter.add_item(conv, index, item, calls)
    return conv
