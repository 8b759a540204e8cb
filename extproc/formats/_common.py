"""Small helpers the format adapters share: tool calls, block paths and type guards."""

from __future__ import annotations

import json
from typing import Any

from ..errors import UnsupportedBody
from ..rawjson import Path

__all__ = ["READ_ONLY_ROLES", "ToolCall", "tool_input", "role_path", "require_list", "require_dict"]

# System and developer prompts are the operator's rules and the provider's cached prefix: read-only
# in every format, like Anthropic's top-level ``system`` and the Responses ``instructions``.
READ_ONLY_ROLES = frozenset({"system", "developer"})


def tool_input(arguments: Any) -> dict[str, Any] | None:
    """A call's arguments as an object: given as one, or as a string of JSON that parses to one."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return None
    return arguments if isinstance(arguments, dict) else None


class ToolCall:
    """What a tool result needs from its call: the tool's name and its arguments, parsed when asked.

    Every request registers every call of the conversation, most of them answered long ago; only
    the results compressed now ever read ``input``.
    """

    __slots__ = ("name", "_arguments", "_input", "_parsed")

    def __init__(self, name: str | None, arguments: Any = None) -> None:
        self.name = name
        self._arguments = arguments
        self._input: dict[str, Any] | None = None
        self._parsed = False

    @property
    def input(self) -> dict[str, Any] | None:
        if not self._parsed:
            self._input, self._parsed = tool_input(self._arguments), True
        return self._input


def role_path(role: str, path: Path) -> Path | None:
    """``path`` for message text, or None when the message's role makes it read-only."""
    return None if role in READ_ONLY_ROLES else path


def require_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnsupportedBody(f"{what} is not an object")
    return value


def require_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnsupportedBody(f"{what} is not an array")
    return value
