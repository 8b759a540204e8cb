"""Small helpers the format adapters share: write-back closures, tool calls and type guards."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import UnsupportedBody

__all__ = ["READ_ONLY_ROLES", "ToolCall", "tool_input", "setter", "role_setter", "require_list", "require_dict"]

# System and developer prompts are the operator's rules and the provider's cached prefix: read-only
# in every format, like Anthropic's top-level ``system`` and the Responses ``instructions``.
READ_ONLY_ROLES = frozenset({"system", "developer"})


class ToolCall(NamedTuple):
    """What a tool result needs from its call: the tool's name and its parsed arguments."""

    name: str | None
    input: dict[str, Any] | None


def tool_input(arguments: Any) -> dict[str, Any] | None:
    """A call's arguments as an object: given as one, or as a string of JSON that parses to one."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return None
    return arguments if isinstance(arguments, dict) else None


def setter(container: dict[str, Any] | list[Any], key: str | int) -> Callable[[str], None]:
    """A closure that writes a new string into ``container[key]``."""

    def write(value: str) -> None:
        container[key] = value  # type: ignore[index]

    return write


def role_setter(role: str, container: dict[str, Any] | list[Any],
                key: str | int) -> Callable[[str], None] | None:
    """``setter`` for message text, or None when the message's role makes it read-only."""
    return None if role in READ_ONLY_ROLES else setter(container, key)


def require_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnsupportedBody(f"{what} is not an object")
    return value


def require_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnsupportedBody(f"{what} is not an array")
    return value
