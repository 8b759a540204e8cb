"""Lossless JSON compaction: pretty-printed JSON tool output re-emitted without layout whitespace.

Only whitespace between tokens goes; every string and number keeps its exact bytes (a regex pass
over the original text, not a parse-and-dump, so ``1.10`` stays ``1.10`` and escapes stay as
written). The text must parse as JSON before and after, or the block is left alone. A stream of
documents one after another (``jq`` output, two ``kubectl -o json`` calls in one command) is
compacted document by document, one a line.
"""

from __future__ import annotations

import json
import re

from ..pipeline.contract import BlockInputs, Budget

__all__ = ["JsonCompactor", "json_documents"]

# JSON string literals; split() with this capture alternates outside-string / string pieces.
_STRING = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")', re.DOTALL)
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


def json_documents(text: str) -> list[str] | None:
    """The text of each JSON value in ``text`` (usually one; a stream has several, whitespace
    between them), or None when some part of it is not JSON."""
    documents: list[str] = []
    position = _skip_space(text, 0)
    while position < len(text):
        try:
            _, end = _DECODER.raw_decode(text, position)
        except (ValueError, RecursionError):
            return None
        documents.append(text[position:end])
        position = _skip_space(text, end)
    return documents or None


def _skip_space(text: str, at: int) -> int:
    """The index of the first non-whitespace character at or after ``at``."""
    match = _SPACE.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _strip_layout(text: str) -> str:
    """Drop whitespace outside string literals (in valid JSON, all of it is layout)."""
    parts = _STRING.split(text)
    parts[::2] = ["".join(part.split()) for part in parts[::2]]
    return "".join(parts)


class JsonCompactor:
    name = "json_compact"
    then = None  # its output is not offered on

    def applies(self, block: BlockInputs) -> bool:
        return True  # the router decided the type

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        documents = json_documents(text)
        if documents is None:
            return None
        compact = [_compact(document) for document in documents]
        if None in compact:
            return None
        out = "\n".join(compact)  # type: ignore[arg-type]
        return out if len(out) < len(text) else None


def _compact(document: str) -> str | None:
    """One JSON document without layout whitespace, checked to parse to the same value."""
    # RecursionError: tool output nested deeper than the parser goes is left alone.
    try:
        before = json.loads(document)
        compact = _strip_layout(document)
        return compact if json.loads(compact) == before else None
    except (ValueError, RecursionError):
        return None
