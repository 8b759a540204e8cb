"""What a compressor may touch. Everything not released here reaches the model byte for byte.

Released: tool results that are not errors, do not carry a traceback, do not come from a tool
whose output must stay exact (file reads and edits), and are long enough to be worth it.
Never released: user, system, developer and assistant text, tool-call arguments, thinking.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..conversation import Block, Kind

__all__ = ["Policy"]

_TRACEBACK_SIGNS = ("Traceback (most recent call last)", "\n    at ", "panicked at ", "Exception in thread")
# The same signs as they read inside a JSON envelope (Codex's {"output": "..."}), line breaks escaped.
_TRACEBACK_SIGNS += tuple(sign.replace("\n", "\\n") for sign in _TRACEBACK_SIGNS if "\n" in sign)


class Policy:
    def __init__(self, *, protected_tools: Iterable[str], min_block_chars: int) -> None:
        self.protected_tools = frozenset(name.lower() for name in protected_tools)
        self.min_block_chars = min_block_chars

    def releases(self, block: Block) -> bool:
        if block.kind is not Kind.TOOL_RESULT or not block.writable or block.is_error:
            return False
        if len(block.text) < self.min_block_chars:
            return False
        if block.tool_name and block.tool_name.lower() in self.protected_tools:
            return False
        text = block.text
        for sign in _TRACEBACK_SIGNS:  # a plain loop: any() over a generator costs more per block
            if sign in text:
                return False
        return True
