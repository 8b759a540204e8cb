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

# A JSON string literal (kept as is) or a run of insignificant whitespace (dropped).
_TOKEN = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\r\n]+', re.DOTALL)


class JsonCompactor:
    name = "json_compact"

    def applies(self, block: Block) -> bool:
        head = block.text[:64].lstrip()
        return head[:1] in ("{", "[")

    def compress(self, text: str) -> str | None:
        try:
            before = json.loads(text)
        except ValueError:
            return None
        compact = _TOKEN.sub(r"\1", text)
        if len(compact) >= len(text):
            return None
        try:
            if json.loads(compact) != before:
                return None
        except ValueError:
            return None
        return compact
