"""Resent history: everything a compressing process remembers of the bodies it has compressed.

An agent resends the whole conversation every turn, so most of a body was seen before. What
answers it is held here, behind one object (``History``) that ``BodyEngine.run``
(``compress.py``) asks at each step of a body's way:

* **read** (``History.read``): the conversation's checkpoint (its last body, ``messages.Checkpoints``),
  the message cache (``pipeline.cache.MessageCache``) and the surroundings
  (``messages.Surroundings``) answer the messages and members seen before; the rest is read into
  blocks for the pipeline.
* **count** (``History.tokens_before``): what the messages answered whole came to is taken from
  their outcomes, or from the checkpoint's totals (``messages.Totals``), not counted again; the
  token counter remembers recent counts too.
* **pipeline**: the block cache (``pipeline.cache.BlockCache``, the pipeline's) answers blocks seen
  before; dedup starts from the checkpoint's line index (``History.line_index``).
* **splice** (``History.settle``): the edits of the messages answered whole come from their
  outcomes; what the messages read now came to is remembered, with the body as the
  conversation's next checkpoint (``History.remember``).

``History.forget`` drops all of it at once: after a run cut short (``workers.JobCancelled``) a
half-made entry must never answer.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left

from . import rawjson
from .conversation import Block, Change, Kind
from .formats import Adapter
from .messages import Body, Checkpoints, Edit, MessageReader, Surroundings, Totals
from .pipeline.cache import BlockCache, ItemOutcome, MessageCache, call_digest
from .pipeline.dedup import Dedup
from .pipeline.lines import LineIndex, LinesCache, Source
from .tokens import TokenCounter

__all__ = ["History", "LineState"]

# dedup's line index of a body as it goes out, and the sources each message read now added to it
# (by ``id`` of its ``messages.Item``).
LineState = tuple[LineIndex | None, dict[int, tuple[Source, ...]]]


def _json_string(text: str) -> str:
    """``text`` as a JSON string literal to splice into a UTF-8 body."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only its escape can be written
        return json.dumps(text, ensure_ascii=True)
    return json.dumps(text, ensure_ascii=False)


class History:
    """The checkpoints, the message cache and the surroundings (read by ``messages.MessageReader``),
    the pipeline's block cache, the token counter's remembered counts and dedup's remembered line
    hashes (``lines.LinesCache``) of one process.

    Each part is optional: a process without result caches has none of the first four.
    """

    def __init__(self, *, messages: MessageCache | None = None, checkpoints: Checkpoints | None = None,
                 surroundings: Surroundings | None = None, blocks: BlockCache | None = None,
                 tokens: TokenCounter | None = None, lines: LinesCache | None = None) -> None:
        self.reader = MessageReader(messages, checkpoints, surroundings)
        self.blocks = blocks
        self.tokens = tokens
        self.lines = lines

    def forget(self) -> None:
        """Drop every remembered result: blocks, messages, checkpoints, surroundings, token counts,
        line hashes."""
        reader = self.reader
        for part in (self.blocks, reader.messages, reader.checkpoints, reader.surroundings, self.tokens, self.lines):
            if part is not None:
                part.clear()

    def read(self, plain: bytes, adapter: Adapter, cached: bool) -> Body:
        """The body's messages, those seen before answered (``cached``: cache mode, nothing frozen)."""
        return self.reader.read(plain, adapter, cached)

    @staticmethod
    def tokens_before(body: Body, counts: list[int]) -> int:
        """The body's tokens: ``counts`` of the blocks read now, and what every message answered
        whole came to (the checkpoint's totals, or its outcome)."""
        prior = body.prior
        return (sum(counts) + (prior.tokens_before if prior is not None else 0)
                + sum(item.outcome.tokens_before for item in body.unsummed if item.outcome))

    @staticmethod
    def line_index(body: Body, dedup: Dedup, released: set[Block], held: set[Block], events: dict[str, int],
                   timings: dict[str, float]) -> LineState:
        """Run dedup over the messages read now, in order (``pipeline/dedup.py``): the line index of
        the whole body as it goes out, and the sources each message read now added, by its ``id``.

        The index of the messages shared with the conversation's checkpoint comes with it (taken
        over when no other request took it first); any other message answered whole adds the
        sources it added when it was read."""
        started = time.perf_counter()
        resumed = body.resumed
        shared = body.items[:body.reused]
        index = resumed.index if resumed is not None else None
        # the previous body whole (``prior``): its totals know its sources; else they are counted
        length = body.prior.sources if body.prior is not None else sum(
            len(item.outcome.sources) for item in shared if item.outcome is not None)
        if index is None or resumed is None or not index.claim(resumed.version, length):
            index = LineIndex()
            for item in shared:
                for source in item.outcome.sources if item.outcome is not None else ():
                    index.add(source)
        added: dict[int, tuple[Source, ...]] = {}
        changes = {id(change.block): change for change in body.conv.changes}
        for item in body.items[body.reused:]:
            if item.blocks is None:
                for source in item.outcome.sources if item.outcome is not None else ():
                    index.add(source)
            else:
                blocks = body.conv.blocks[item.blocks]
                added[id(item)] = dedup.message(body.conv, blocks, index, released, held, changes, events)
        if added:  # else only sources were added: a message hit, part of "other"
            timings["dedup"] = time.perf_counter() - started
        return index, added

    def settle(self, body: Body, counts: list[int], changes: dict[int, tuple[Change, int]],
               lines: LineState) -> tuple[list[Edit], int, Totals]:
        """Every string to write over the body's (``Edit``: its byte span, new JSON, compressor), the
        tokens that saves, and the message array's share of both with dedup's line index
        (``lines``): the totals the conversation's next turn starts from. What each message read
        now came to is set on it. ``counts`` are the blocks' tokens; ``changes`` holds each change
        and its text's tokens, by ``id`` of its block. Messages the previous request ended with
        are taken from its totals (``body.prior``), not walked again."""
        index, sources = lines
        blocks = body.conv.blocks
        changed = [number for number, block in enumerate(blocks) if id(block) in changes] if changes else []
        edits, saved = _block_edits(body, changed, 0, body.head, 0, counts, changes)
        prior = body.prior
        items_edits = list(prior.edits) if prior is not None else []
        items_saved = prior.saved if prior is not None else 0
        items_before = prior.tokens_before if prior is not None else 0
        # what an outcome's calls are checked against: only a remembered outcome is ever checked
        kept = self.reader.messages is not None or self.reader.checkpoints is not None
        for item in body.unsummed:
            if item.outcome is None:
                assert item.blocks is not None
                first, stop = item.blocks.start, item.blocks.stop
                # most messages hold no changed block: the bisect answers that without a call
                at = bisect_left(changed, first)
                relative, item_saved = _block_edits(body, changed, first, stop, item.start, counts, changes) \
                    if at < len(changed) and changed[at] < stop else ([], 0)
                # each call as named when this message was read: an id an agent uses again for
                # another tool later in the body must not be taken for this message's tool
                calls = tuple(sorted({(block.tool_call_id, block.tool_name, call_digest(block.call))
                                      for block in blocks[first:stop]
                                      if block.kind is Kind.TOOL_RESULT and block.tool_call_id is not None})) \
                    if kept else ()
                before = sum(counts[first:stop])
                # by position (calls, tokens_before, tokens_after, edits, sources): a frozen value's
                # keywords cost several times as much, once per message read
                item.outcome = ItemOutcome(calls, before, before - item_saved, tuple(relative),
                                           sources.get(id(item), ()))
            outcome = item.outcome
            items_before += outcome.tokens_before
            if outcome.edits:
                items_saved += outcome.tokens_before - outcome.tokens_after
                items_edits += [(start + item.byte_start, end + item.byte_start, new, by)
                                for start, end, new, by in outcome.edits]
        totals = Totals(items_before, items_saved, tuple(items_edits), index,
                        index.version if index is not None else 0, len(index.sources) if index is not None else 0)
        return edits + items_edits, saved + items_saved, totals

    def remember(self, body: Body, totals: Totals) -> dict[str, int]:
        """Keep what the messages read now came to, and the body with ``totals`` as the
        conversation's checkpoint; the messages answered whole and read now, by
        ``trimwire_block_cache_total``'s result label (message_hit, message_miss)."""
        read_now = sum(item.blocks is not None for item in body.items[body.reused:])
        self.reader.remember(body, totals)
        return {"message_hit": len(body.items) - read_now, "message_miss": read_now}


def _block_edits(body: Body, changed: list[int], first: int, stop: int, origin: int, counts: list[int],
                 changes: dict[int, tuple[Change, int]]) -> tuple[list[Edit], int]:
    """The edits of blocks ``first`` to ``stop`` and the tokens they save; ``changed`` lists
    the numbers of the blocks with a change, in order. An edit's span is in the body's UTF-8
    bytes, counted from the character at ``origin``, and its new JSON is UTF-8 bytes.

    Shorter is not always cheaper: a change that costs more tokens than the text it replaces
    (a marker over a few dense lines) is dropped, so no request ever grows in tokens.
    """
    edits = []
    saved = 0
    text = body.doc.text
    for number in changed[bisect_left(changed, first):bisect_left(changed, stop)]:
        block = body.conv.blocks[number]
        change, after = changes[id(block)]
        if block.path is None or after >= counts[number]:
            continue
        start, end = body.doc.span_of(block.path)
        byte_start = rawjson.utf8_length(text, origin, start)
        byte_end = byte_start + rawjson.utf8_length(text, start, end)
        edits.append((byte_start, byte_end, _json_string(change.new_text).encode("utf-8"), change.by))
        saved += counts[number] - after
    return edits, saved
