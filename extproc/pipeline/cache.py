"""Compress each block once: a coding agent resends its whole history every turn.

``BlockCache`` maps the pipeline's block key (``contract.BlockInputs.key``: a digest of all a
compressor is given, the block's text, tool name, context terms and guard flag, and of the
compressor config version) to what the routed compressors made of that block (new text and
compressor name, or "nothing shrank it"). A block seen before is answered from the cache without
running a compressor. Compression is a pure function of exactly those inputs, so a hit gives the
bytes a fresh run would (tests/unit/test_cache.py checks it on real-shaped fixtures). The age rules of token mode decide
*whether* a block is offered; they are not cached.

``MessageCache`` sits one level up: what a whole message (an item of the body's message array)
came to, keyed by a digest of its JSON text as the client sent it, so a resent message is not even
read into blocks. Cache mode only: there a message's outcome depends on its own text, the names of
the tools it answers (checked on every hit) and the settings, which the cache is built with.

``ByteLRU`` is the bounded map underneath both, also used by ``tokens.TokenCounter`` so resent
blocks are not re-counted. All are per process: each compression worker keeps its own.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

__all__ = ["ByteLRU", "BlockCache", "CacheStats", "ItemOutcome", "MessageCache", "Outcome", "TextMemo", "digest",
           "message_key", "MEMO_CHARS"]

_ENTRY_OVERHEAD = 120   # bytes per entry beyond its text: key, tuple, OrderedDict node (measured order)

V = TypeVar("V")


def digest(*parts: str) -> bytes:
    """A 16-byte key for the joined parts (lone surrogates from JSON escapes included)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.digest()


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0

    def snapshot(self) -> tuple[int, int, int]:
        return self.hits, self.misses, self.evictions


class ByteLRU(Generic[V]):
    """Least-recently-used map bounded by the bytes its values claim; ``max_bytes`` 0 stores nothing.
    Safe to share between threads (``workers=0`` compresses on two)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.stats = CacheStats()
        self._items: OrderedDict[bytes, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def get(self, key: bytes) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.stats.misses += 1
                return None
            self._items.move_to_end(key)
            self.stats.hits += 1
            return item[0]

    def put(self, key: bytes, value: V, cost: int) -> None:
        cost += _ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return  # bigger than the whole cache: never stored
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[key] = (value, cost)
            self.bytes += cost
            while self.bytes > self.max_bytes:
                _, (_, freed) = self._items.popitem(last=False)
                self.bytes -= freed
                self.stats.evictions += 1


# Texts shorter than this are remembered by ``TextMemo``, longer ones by digest: hashing a str costs
# about a fifth of a digest (and is kept on the str), and the text held is small.
MEMO_CHARS = 4096
_MISSING = object()  # ``TextMemo.recall``: no value yet (None is a value)


class TextMemo(Generic[V]):
    """A value per text, keyed by the text itself, up to ``max_bytes`` (the texts' characters and
    what each entry claims besides); past that everything is forgotten together. For per-text
    memos of a pure function (a text's lines, type, tokens) over texts under ``MEMO_CHARS``,
    which a conversation read cold resends every turn. Safe to share between threads: a race
    at the bound can only forget more."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: dict[str, V] = {}
        self._bytes = 0

    def get(self, text: str) -> V | None:
        return self._items.get(text)

    def recall(self, text: str, make: Callable[[str], V], cost: int = 0) -> V:
        """``make(text)``, remembered when ``text`` is under ``MEMO_CHARS`` (None included);
        ``cost``: what the value holds besides the text (``put``)."""
        if len(text) >= MEMO_CHARS:
            return make(text)
        found = self._items.get(text, _MISSING)
        if found is _MISSING:
            found = make(text)
            self.put(text, found, cost)
        return cast(V, found)

    def put(self, text: str, value: V, cost: int = 0) -> None:
        cost += len(text) + _ENTRY_OVERHEAD
        if self._bytes + cost > self.max_bytes:
            self._items.clear()
            self._bytes = 0
        self._items[text] = value
        self._bytes += cost

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


# What the compressors made of a block: (new text, compressor name), or None when nothing shrank it.
Outcome = tuple[str, str] | None


class BlockCache:
    """Per-block compression results, by the pipeline's block key (``BlockInputs.key``)."""

    def __init__(self, max_bytes: int) -> None:
        self._lru: ByteLRU[tuple[Outcome]] = ByteLRU(max_bytes)

    @property
    def stats(self) -> CacheStats:
        return self._lru.stats

    def get(self, key: bytes) -> tuple[Outcome] | None:
        """``(outcome,)`` for a block seen before (the outcome may be None), or None if unseen."""
        return self._lru.get(key)

    def put(self, key: bytes, outcome: Outcome) -> None:
        self._lru.put(key, (outcome,), len(outcome[0]) if outcome else 0)

    def clear(self) -> None:
        self._lru.clear()

    # after the methods that take ``bytes`` keys, which would otherwise name this property
    @property
    def bytes(self) -> int:
        return self._lru.bytes


def message_key(format_name: str, encoded: bytes, context: bytes = b"") -> bytes:
    """The message cache key: a digest of a message's JSON text (UTF-8), per wire format, and of
    ``context``: a digest of the user's question before it, which its tool results answer
    (``pipeline.focus``)."""
    digest = hashlib.blake2b(encoded, digest_size=16, person=format_name.encode()[:16])
    if context:
        digest.update(b"\x00" + context)
    return digest.digest()


def call_digest(call: Any) -> bytes:
    """A ``conversation.ToolCall``'s digest of its arguments; empty for a result with no call."""
    return call.digest if call is not None else b""


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What one message of a body came to: token counts and the strings written over its own."""

    # (tool call id, tool name or None, digest of its arguments) for each call its tool results
    # answer, as they were when cached: a result's treatment depends on its command (reads.py, dedup)
    calls: tuple[tuple[str, str | None, bytes], ...]
    tokens_before: int
    tokens_after: int
    # (start, end) of a string in UTF-8 bytes counted from the message's first byte, its new JSON
    # (UTF-8), compressor
    edits: tuple[tuple[int, int, bytes, str], ...]
    # the line-index sources (``lines.Source``) it adds for dedup: its outputs and arguments as sent
    # (Any: lines.py builds on this module, so naming its type here would import upward)
    sources: tuple[Any, ...] = ()

    @property
    def follows_history(self) -> bool:
        """Whether it points into earlier messages (dedup): then it holds only after the same history."""
        return any(edit[3] == "dedup" for edit in self.edits)


class MessageCache:
    """Message outcomes by digest of (format, message text); a hit holds only if its calls (tool
    names and arguments) still match."""

    def __init__(self, max_bytes: int) -> None:
        self._lru: ByteLRU[ItemOutcome] = ByteLRU(max_bytes)

    @property
    def stats(self) -> CacheStats:
        return self._lru.stats

    def get(self, key: bytes, tool_names: dict[str, str | None], calls: dict[str, Any]) -> ItemOutcome | None:
        """The outcome stored under ``key`` if every call it answers still has the same tool name
        and arguments (``calls``: ``conversation.ToolCall`` by id)."""
        found = self._lru.get(key)
        if found is not None and found.calls and any(
                tool_names.get(call_id) != name or call_digest(calls.get(call_id)) != digest
                for call_id, name, digest in found.calls):
            return None
        return found

    def put(self, key: bytes, outcome: ItemOutcome) -> None:
        self._lru.put(key, outcome, sum(len(edit[2]) for edit in outcome.edits) + 64 * len(outcome.calls)
                      + sum(source.cost for source in outcome.sources))

    def clear(self) -> None:
        self._lru.clear()
