"""Small helpers the format adapters share: write-back closures and type guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UnsupportedBody

__all__ = ["READ_ONLY_ROLES", "setter", "role_setter", "require_list", "require_dict"]

# System and developer prompts are the operator's rules and the provider's cached prefix: read-only
# in every format, like Anthropic's top-level ``system`` and the Responses ``instructions``.
READ_ONLY_ROLES = frozenset({"system", "developer"})


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
