"""Lossless JSON compaction: pretty-printed JSON tool output re-emitted without layout whitespace.

Only whitespace between tokens goes; every string and number keeps its exact bytes (a regex pass
over the original text, not a parse-and-dump, so ``1.10`` stays ``1.10`` and escapes stay as
written). The text must parse as JSON before and after, or the block is left alone.
"""

from __future__ import annotations

import json
import re

from ..conversation import Block

__all__ = ["JsonCompactor"]

# JSON string literals; split() with this capture alternates outside-string / string pieces.
_STRING = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")', re.DOTALL)


def _strip_layout(text: str) -> str:
    """Drop whitespace outside string literals (in valid JSON, all of it is layout)."""
    parts = _STRING.split(text)
    parts[::2] = ["".join(part.split()) for part in parts[::2]]
    return "".join(parts)


class JsonCompactor:
    name = "json_compact"

    def applies(self, block: Block) -> bool:
        head = block.text[:64].lstrip()
        return head[:1] in ("{", "[")

    def compress(self, text: str) -> str | None:
        # RecursionError: tool output nested deeper than the parser goes is left alone.
        try:
            before = json.loads(text)
        except (ValueError, RecursionError):
            return None
        compact = _strip_layout(text)
        if len(compact) >= len(text):
            return None
        try:
            if json.loads(compact) != before:
                return None
        except (ValueError, RecursionError):
            return None
        return compact
