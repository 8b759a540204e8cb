"""A body's messages: each answered whole when it was seen before, else read into blocks.

In cache mode what a message comes to (its tokens, and the strings trimwire writes over its own)
depends only on its JSON text, the tools its results answer (names and arguments) and the settings. A
coding agent resends its whole history every turn, so most messages of a body were seen before:

* ``Checkpoints`` (``checkpoints.py``) remember each conversation's last request (per worker, by
  its first two messages: a system prompt alone is shared by every conversation of an agent).
  A body that begins with the same bytes is parsed only from where the two part (not even
  decoded before that point when everything after the message array is the same too); every
  message before that point is taken as it came out last time. A turn costs what is new in it.
* the message cache (``pipeline.cache.MessageCache``) answers any other message seen before, by
  its text.
* ``Surroundings`` remember the large members around the message array (a system prompt, tool
  definitions: often a hundred KB that every turn resends unchanged) and large first two
  messages, by the text they were parsed from, so they are not parsed again; sessions of one
  agent share its tool definitions.

Everything else is read into blocks by the format adapter, for the pipeline to compress.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from . import rawjson
from .checkpoints import Checkpoint, CheckpointResume, Checkpoints, Edit, Item, Totals, decode_text, read_resent
from .conversation import Conversation, ToolCall
from .formats import Adapter
from .pipeline.cache import ByteLRU, CacheStats, MessageCache, message_key
from .pipeline.focus import question
from .rawjson import Document, Span

__all__ = ["Body", "Checkpoints", "Edit", "Item", "MessageReader", "Surroundings", "Totals"]

# Members shorter than this are parsed about as fast as they are looked up.
SURROUNDINGS_MIN_CHARS = 2048
_PROBE_CHARS = 64          # a member is looked up by its key and its first characters
_CANDIDATES = 4            # members kept per probe (system prompts of one agent start alike)
_KEPT_STARTS = ("{", "[", '"')  # objects, arrays, strings: their text ends where their value does
_MAX_NAMES = 256           # member names remembered as ever kept (``Surroundings.find``)


@dataclass(slots=True)
class Body:
    """A parsed body and its messages."""

    plain: bytes                      # the decoded body
    doc: Document
    conv: Conversation                # blocks outside the array, then those of each message read now
    items: list[Item]
    names: dict[str, str | None]      # tool name by call id, for every call in the body
    head: int                         # how many of conv.blocks lie outside the array
    checkpoint: bytes | None = None   # where this body is remembered for the conversation's next one
    reused: int = 0                   # how many first items came from the previous request
    calls: dict[str, ToolCall] = field(default_factory=dict)  # every call in the body, by id
    # When the first ``reused`` items are all of the previous request's: what the caller summed
    # over them then (``MessageReader.remember``'s ``totals``), so a turn need not walk its history.
    prior: Totals | None = None
    # The conversation's checkpoint's totals whenever some first items came from it (``reused``).
    resumed: Totals | None = None

    @property
    def unsummed(self) -> list[Item]:
        """The items ``prior`` does not cover: those after it, or all of them when there is none."""
        return self.items[self.reused:] if self.prior is not None else self.items

    def asked_before(self, stop: int) -> int:
        """The index of the latest item before item ``stop`` whose user text asks something, -1: none."""
        return self.items[stop - 1].asks if 0 < stop <= len(self.items) else -1


class Surroundings:
    """Large members around the message array, and large first two messages, by the text they
    were parsed from (``rawjson.Known``).

    A value is looked up by its key and first characters, and taken only where the body holds
    its whole text at that place (``str.startswith`` at an offset: a compare, no copy). Only
    objects, arrays and strings are kept: their text ends where their value does, which a
    number's does not. The values are shared between the bodies that reuse them; nothing
    changes them."""

    def __init__(self, max_bytes: int, min_chars: int = SURROUNDINGS_MIN_CHARS) -> None:
        self._lru: ByteLRU[tuple[tuple[str, Any], ...]] = ByteLRU(max_bytes)
        self.min_chars = min_chars
        # Names a value was ever kept under: any other member ("model", "stream", a short first
        # message) is parsed without hashing a probe. Bounded: past it, every name is probed.
        self._names: set[str] = set()

    @property
    def stats(self) -> CacheStats:
        return self._lru.stats

    def clear(self) -> None:
        self._lru.clear()

    def find(self, key: str, text: str, start: int) -> tuple[Any, int] | None:
        if len(self._names) < _MAX_NAMES and key not in self._names:
            return None
        if text[start:start + 1] not in _KEPT_STARTS:  # a number or a literal: never kept
            return None
        for known, value in self._lru.get(_probe(key, text, start)) or ():
            if text.startswith(known, start):
                return value, start + len(known)
        return None

    def keep(self, key: str, text: str, span: Span, value: Any) -> None:
        start, end = span
        if end - start < self.min_chars or text[start] not in _KEPT_STARTS:
            return
        if len(self._names) < _MAX_NAMES:
            self._names.add(key)
        probe = _probe(key, text, start)
        known = text[start:end]
        others = [pair for pair in self._lru.get(probe) or () if pair[0] != known]
        kept = ((known, value), *others[:_CANDIDATES - 1])
        # the text and the parsed value it holds take a few times its length
        self._lru.put(probe, kept, sum(4 * len(member) for member, _ in kept))


def _probe(key: str, text: str, start: int) -> bytes:
    """The lookup key of a member: its name and its first characters."""
    return hashlib.blake2b(f"{key}\x00{text[start:start + _PROBE_CHARS]}".encode("utf-8", "surrogatepass"),
                           digest_size=16).digest()


def _question_digest(said: str | None) -> bytes:
    """A digest of a question (``focus.question``), or b"" when there is none."""
    return hashlib.blake2b(said.encode("utf-8", "surrogatepass"), digest_size=16).digest() if said else b""


class MessageReader:
    """Reads a body's messages, answering those seen before from the checkpoints and the cache."""

    def __init__(self, messages: MessageCache | None = None, checkpoints: Checkpoints | None = None,
                 surroundings: Surroundings | None = None) -> None:
        self.messages = messages
        self.checkpoints = checkpoints
        self.surroundings = surroundings
        # The user text a turn's new messages follow and the digest of its question: the same
        # object every turn of a conversation (taken from its checkpoint), hashed once.
        self._asked: tuple[str | None, bytes] = (None, b"")

    def read(self, plain: bytes, adapter: Adapter, cached: bool) -> Body:
        """``cached``: answer messages seen before (cache mode, nothing frozen), else read them all.
        Raises UnsupportedBody for bytes that are not UTF-8 or not a JSON object.

        Every message's tool calls are registered, in order, before its blocks are read.
        """
        doc, checkpoint, key, shared = self._document(plain, adapter, cached)
        text = doc.text
        conv = adapter.head(doc.body)
        body = Body(plain, doc, conv, items=[], names={}, head=len(conv.blocks), checkpoint=key, reused=shared)
        if checkpoint is not None and shared:
            body.resumed = checkpoint.totals
        if checkpoint is not None and shared == len(checkpoint.items):
            body.items = list(checkpoint.items)
            body.calls, body.names, body.prior = dict(checkpoint.calls), dict(checkpoint.names), checkpoint.totals
        elif checkpoint is not None and shared:
            body.items = checkpoint.items[:shared]
            for item in body.items:
                for call_id, call in item.calls:
                    body.calls[call_id], body.names[call_id] = call, call.name
        self._read_rest(body, text, adapter, self.messages if cached else None)
        return body

    def _document(self, plain: bytes, adapter: Adapter,
                  cached: bool) -> tuple[Document, Checkpoint | None, bytes | None, int]:
        """The body parsed; its conversation's checkpoint, key, and how many first messages the two
        share. The next turn of a conversation read just before is read from that checkpoint
        (only its new messages parsed), any other body whole."""
        resent = read_resent(plain, adapter.ITEMS, self.checkpoints) if cached and self.checkpoints else None
        if resent is not None:
            doc, checkpoint, shared = resent
            return doc, checkpoint, checkpoint.key, shared
        resume = CheckpointResume(plain, decode_text(plain), adapter.FORMAT, self.checkpoints if cached else None)
        doc = rawjson.scan(resume.text, adapter.ITEMS, resume if cached else None, self.surroundings)
        return doc, resume.checkpoint, resume.key, resume.shared

    def _read_rest(self, body: Body, text: str, adapter: Adapter, memo: MessageCache | None) -> None:
        values: list[Any] = body.doc.body.get(adapter.ITEMS) or []  # no items: no spans either
        spans, conv, calls = body.doc.items, body.conv, body.calls
        if body.items:
            last = body.items[-1]
            position, byte_position = last.end, last.byte_end
        else:
            position = spans[0][0] if spans else 0
            byte_position = rawjson.utf8_length(text, 0, position)
        # What a message's tool results come to depends on the user's question before it too.
        asks = body.asked_before(body.reused)
        asked = self._asked_before(adapter.user_text(values[asks])) if memo is not None and asks >= 0 else b""
        # Without a message cache no key is made, and an ASCII body's byte lengths are its
        # character lengths: its messages are not encoded at all (``isascii`` is a flag lookup).
        ascii_text = memo is None and text.isascii()
        for index in range(body.reused, len(spans)):
            start, end = spans[index]
            byte_start = byte_position + (start - position)  # separators are ASCII
            if ascii_text:
                byte_end, key = byte_start + (end - start), b""
            else:
                encoded = text[start:end].encode()
                byte_end = byte_start + len(encoded)
                key = message_key(adapter.FORMAT, encoded, asked) if memo is not None else b""
            made = adapter.item_calls(values[index])
            entry = Item(start, end, byte_start, byte_end, key, made)
            said = question(adapter.user_text(values[index]))
            if said:
                asks = index
                asked = _question_digest(said) if memo is not None else b""
            entry.asks = asks
            for call_id, call in made:
                calls[call_id], body.names[call_id] = call, call.name
            entry.outcome = memo.get(entry.key, body.names, calls) if memo is not None else None
            if entry.outcome is None:
                first = len(conv.blocks)
                adapter.add_item(conv, index, values[index], calls)
                entry.blocks = slice(first, len(conv.blocks))
            body.items.append(entry)
            position, byte_position = end, byte_end

    def _asked_before(self, user_text: str | None) -> bytes:
        """``_question_digest`` of the question in ``user_text``, the last one's answered by identity."""
        known, digest = self._asked
        if user_text is None or user_text is not known:
            digest = _question_digest(question(user_text))
            self._asked = (user_text, digest)  # the text is held, so its id cannot name another
        return digest

    def remember(self, body: Body, totals: Totals | None = None) -> None:
        """Keep what the messages read now came to, and the body for the conversation's next one,
        with ``totals``: what the caller summed over all its items (the next body's ``prior``)."""
        for item in body.items[body.reused:]:
            # a message with a dedup pointer holds only after its history: the checkpoint answers it
            if (item.blocks is not None and self.messages is not None and item.outcome is not None
                    and not item.outcome.follows_history):
                self.messages.put(item.key, item.outcome)
            item.blocks = None  # the Conversation they point into ends with this request
        if self.checkpoints is not None and body.checkpoint is not None:
            values = body.doc.body[body.doc.items_key]
            self.checkpoints.put(body.checkpoint, Checkpoint(body.plain, values, body.doc.items, body.items, body.calls,
                                                             body.names, totals, body.doc, body.checkpoint))
