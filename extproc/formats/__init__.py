"""Wire formats: which adapter reads a body, chosen by path suffix or by the body's shape.

To add a format: write ``parse(body) -> Conversation`` in a module here and register it below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..conversation import Conversation
from ..errors import UnsupportedBody
from . import anthropic_messages, openai_chat, openai_responses

__all__ = ["FORMATS", "format_for_path", "detect_format", "parse_body"]

Parser = Callable[[dict[str, Any]], Conversation]

FORMATS: dict[str, Parser] = {
    openai_chat.FORMAT: openai_chat.parse,
    anthropic_messages.FORMAT: anthropic_messages.parse,
    openai_responses.FORMAT: openai_responses.parse,
}

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


def parse_body(format_name: str, body: Any) -> Conversation:
    if not isinstance(body, dict):
        raise UnsupportedBody("body is not a JSON object")
    try:
        parser = FORMATS[format_name]
    except KeyError:
        raise UnsupportedBody(f"unknown format {format_name!r}") from None
    return parser(body)
