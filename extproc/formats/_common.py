"""Small helpers the format adapters share: block paths and type guards."""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedBody
from ..rawjson import Path

__all__ = ["READ_ONLY_ROLES", "role_path", "require_list", "require_dict", "user_text"]

# System and developer prompts are the operator's rules and the provider's cached prefix: read-only
# in every format, like Anthropic's top-level ``system`` and the Responses ``instructions``.
READ_ONLY_ROLES = frozenset({"system", "developer"})


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


def user_text(item: Any) -> str | None:
    """What the user wrote in a ``role: user`` message (a string, or its text blocks), or None: not
    the user's, or only tool results (Anthropic messages and OpenAI chat spell it alike)."""
    if not isinstance(item, dict) or item.get("role") != "user":
        return None
    content = item.get("content")
    if isinstance(content, str):
        return content
    texts = [part["text"] for part in content if isinstance(part, dict) and part.get("type") == "text"
             and isinstance(part.get("text"), str)] if isinstance(content, list) else []
    return "\n".join(texts) if texts else None
