"""Each conversation's last body, kept so its next turn is read from where the two part
(``messages.MessageReader``, in ``History.read``'s step of a body's way: ``history.py``).

An agent resends its whole conversation every turn. ``Checkpoints`` keep each conversation's
last body (its bytes, text, members, messages and what they came to), by its first two messages.
A body is first tried against the checkpoints put last (``read_resent``): when it is one of them
with messages replaced or added from some point on and every byte after its message array the
same (an agent's next turn), that body's text and members are taken as they are and only the
bytes after the shared messages are decoded and parsed. Otherwise the body is read whole
(``rawjson.scan``) and ``CheckpointResume`` finds its conversation's checkpoint once two messages
are read. Either way, what is reused is what the body shares with the checkpoint byte for byte.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from . import rawjson
from .conversation import ToolCall
from .errors import PassThrough, UnsupportedBody
from .pipeline.cache import ByteLRU, ItemOutcome, message_key
from .pipeline.lines import LineIndex
from .rawjson import Document, Span

__all__ = ["Checkpoint", "CheckpointResume", "Checkpoints", "Edit", "Item", "Totals", "common_items", "decode_text",
           "read_resent"]

_KEY_CHARS = 4096          # of each of its first two messages, in a conversation's checkpoint key
_RECENT = 4                # checkpoints a body is first tried against as their next turn (``read_resent``)


# A string written over the body's: its (start, end) in the body's UTF-8 bytes, its new JSON
# (UTF-8), the compressor that made it.
Edit = tuple[int, int, bytes, str]


@dataclass(frozen=True, slots=True)
class Totals:
    """A body's messages summed: their tokens, the tokens their edits save, the edits (byte spans
    in the body). Kept with the conversation's checkpoint, where the next turn starts from them."""

    tokens_before: int
    saved: int
    edits: tuple[Edit, ...]
    # dedup's line index of every message as it went out, and how many sources of it are theirs
    index: LineIndex | None = None
    version: int = 0
    sources: int = 0                  # of the index, how many are the body's (all, when taken over)

    @property
    def held_bytes(self) -> int:
        """What the line index holds: a checkpoint keeping these totals counts it."""
        return self.index.bytes if self.index is not None else 0


@dataclass(slots=True)
class Item:
    """One entry of the body's message array."""

    start: int                          # where its text starts and ends in the body
    end: int
    byte_start: int                     # ... and in the body's UTF-8 bytes
    byte_end: int
    key: bytes                          # its message cache key (b"" when no cache is asked)
    calls: list[tuple[str, ToolCall]]   # the tool calls it makes
    outcome: ItemOutcome | None = None  # known, or worked out once its blocks are compressed
    blocks: slice | None = None         # its blocks in the Conversation, when read now
    # The index of the latest item up to this one whose user text asks something
    # (``focus.question``), -1: none. Kept with the checkpoint, so a turn finds the question
    # before its new messages without walking back through its history.
    asks: int = -1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A conversation's last body as read, and what its messages came to."""

    plain: bytes
    values: list[Any]
    spans: list[Span]
    items: list[Item]
    calls: dict[str, ToolCall]        # the body's, never changed after: the next body copies them
    names: dict[str, str | None]
    totals: Totals | None             # what the caller summed over all the items
    doc: Document                     # the body read (its text, members and their spans)
    key: bytes = b""


class Checkpoints:
    """Each conversation's last body, by a digest of the lengths and first characters of its first
    two messages.

    The key only finds a candidate: what is reused is what the new body shares with it byte for
    byte, so two conversations that start alike cost each other speed, never correctness."""

    def __init__(self, max_bytes: int) -> None:
        self._lru: ByteLRU[Checkpoint] = ByteLRU(max_bytes)
        self._recent: deque[bytes] = deque(maxlen=_RECENT)  # the keys put last, the latest last

    def get(self, key: bytes) -> Checkpoint | None:
        return self._lru.get(key)

    def recent(self) -> Iterator[Checkpoint]:
        """The checkpoints put last that are still kept, the latest first (each looked up only
        when the one before it did not serve)."""
        for key in reversed(list(self._recent)):
            checkpoint = self._lru.get(key)
            if checkpoint is not None:
                yield checkpoint

    def put(self, key: bytes, checkpoint: Checkpoint) -> None:
        totals = checkpoint.totals
        # the parsed messages kept with it take a few times their text; dedup's line index its own
        self._lru.put(key, checkpoint, 4 * len(checkpoint.plain) + 2 * len(checkpoint.doc.text)
                      + (totals.held_bytes if totals is not None else 0))
        with suppress(ValueError):  # not among them (or another thread took it out first)
            self._recent.remove(key)
        self._recent.append(key)

    def clear(self) -> None:
        self._lru.clear()
        self._recent.clear()


def common_items(checkpoint: Checkpoint, plain: bytes) -> int:
    """How many of the checkpoint's first items ``plain`` holds byte for byte, from its first byte."""
    old = memoryview(checkpoint.plain)
    items = checkpoint.items
    if items and plain.startswith(old[:items[-1].byte_end]):  # the next turn of a conversation: all
        return len(items)
    low, high = 0, len(items)  # items [0, low) are shared; [high, ...) are not
    while low < high:
        mid = (low + high + 1) // 2
        if plain.startswith(old[:items[mid - 1].byte_end]):  # a memcmp, no copy
            low = mid
        else:
            high = mid - 1
    return low


class CheckpointResume:
    """``rawjson.Resume`` for one body: finds the conversation's checkpoint once two messages are
    read, and hands back the messages the body shares with it."""

    def __init__(self, plain: bytes, text: str, format_name: str, checkpoints: Checkpoints | None) -> None:
        self.plain, self.text, self.format, self.checkpoints = plain, text, format_name, checkpoints
        self.key: bytes | None = None
        self.checkpoint: Checkpoint | None = None
        self.shared = 0

    def __call__(self, first: Span, second: Span) -> rawjson.Prefix | None:
        # The key only finds a candidate (the reuse compares every byte before it takes anything):
        # the first two messages' lengths and first characters, not the whole of a long system
        # prompt, and nothing of what comes before them.
        text = self.text
        sample = (f"{first[1] - first[0]}:{second[1] - second[0]}"
                  f"\x00{text[first[0]:min(first[1], first[0] + _KEY_CHARS)]}"
                  f"\x00{text[second[0]:min(second[1], second[0] + _KEY_CHARS)]}")
        self.key = message_key(self.format, sample.encode("utf-8", "surrogatepass"))
        self.checkpoint = self.checkpoints.get(self.key) if self.checkpoints is not None else None
        if self.checkpoint is None:
            return None
        self.shared = common_items(self.checkpoint, self.plain)
        return (self.checkpoint.values[:self.shared], self.checkpoint.spans[:self.shared]) if self.shared else None


def decode_text(plain: bytes) -> str:
    try:
        return plain.decode("utf-8")  # strict: a BOM, UTF-16 or bad bytes are not ours to re-encode
    except UnicodeDecodeError:
        raise UnsupportedBody("not UTF-8", reason="invalid_json") from None


def read_resent(plain: bytes, items_key: str,
            checkpoints: Checkpoints) -> tuple[Document, Checkpoint, int] | None:
    """The body read from one of the checkpoints put last, when it is that body with its messages
    from some point on replaced or added to and every byte after the array the same (an agent's
    next turn): the checkpoint's text, members and first messages taken as they are, only the
    messages after those decoded and parsed. With the checkpoint, and how many of its messages
    the body shares; None otherwise (the body is then read whole: ``rawjson.scan``)."""
    for checkpoint in checkpoints.recent():
        old, items = checkpoint.doc, checkpoint.items
        if not items or items_key not in old.members:
            continue
        close = old.members[items_key][1] - 1                    # the array's "]" in the old text
        tail = memoryview(checkpoint.plain)[items[-1].byte_end + (close - items[-1].end):]  # ASCII between
        shared = common_items(checkpoint, plain) if plain.endswith(tail) else 0
        if shared < 2:  # the first two messages name the conversation (``_Resume``): another's
            continue
        cut, byte_cut = items[shared - 1].end, items[shared - 1].byte_end   # the last message shared
        if len(plain) < byte_cut + len(tail):
            continue
        try:
            added = plain[byte_cut:len(plain) - len(tail)].decode("utf-8")
            text = "".join((old.text[:cut], added, old.text[close:]))  # one copy of the history, no decoding
            values, spans, end = rawjson.array_rest(text, cut)
        except (UnicodeDecodeError, PassThrough, ValueError, RecursionError):
            return None  # read whole: what is wrong with it is told there
        if end != cut + len(added):  # the new messages closed the array before the old tail began
            return None
        shift = len(added) - (close - cut)
        members = {name: (start, stop + shift) if name == items_key else
                   (start + shift, stop + shift) if start > close else (start, stop)
                   for name, (start, stop) in old.members.items()}
        body = dict(old.body)
        body[items_key] = checkpoint.values[:shared] + values
        return Document(text, body, items_key, members, checkpoint.spans[:shared] + spans), checkpoint, shared
    return None
