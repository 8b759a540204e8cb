"""Small helpers the format adapters share: write-back closures and type guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UnsupportedBody

__all__ = ["setter", "require_list", "require_dict"]


def setter(container: dict[str, Any] | list[Any], key: str | int) -> Callable[[str], None]:
    """A closure that writes a new string into ``container[key]``."""

    def write(value: str) -> None:
        container[key] = value  # type: ignore[index]

    return write


def require_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnsupportedBody(f"{what} is not an object")
    return value


def require_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnsupportedBody(f"{what} is not an array")
    return value
