"""One request body in, one decision out: decode, parse, compress, splice in the new strings, count tokens.

``BodyCompressor.run`` is the whole compression path for a buffered body and is a plain, blocking
function of bytes: the server runs it in worker processes (``workers.py``), ``trimwire compress``
runs it directly. It knows nothing about gRPC or Envoy.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left
from dataclasses import dataclass, field

from . import codec, rawjson
from .config import Settings
from .cpus import cpu_share
from .conversation import Change, Kind
from .errors import BodyTooLarge, PassThrough, UnsupportedBody
from .formats import adapter_for
from .pipeline import Budget, Pipeline, Policy, focus
from .messages import Body, Checkpoints, MessageReader, Surroundings
from .outcomes import RequestOutcome
from .pipeline.cache import ItemOutcome, MessageCache
from .pipeline.dedup import Dedup
from .pipeline.lines import LineIndex, Source
from .status import KompressStatus
from .tokens import TokenCounter

__all__ = ["BodyRequest", "BodyResult", "BodyCompressor", "build_compressor", "dump_body", "inference_deadline"]

# Of request_deadline_ms, the share model inference may use; the rest is for counting tokens and
# writing the body, so a slow model leaves its blocks alone instead of failing the whole request.
INFERENCE_SHARE = 0.6


def inference_deadline(settings: Settings) -> float:
    """The ``BodyRequest.deadline`` of a request whose body arrives now."""
    return time.monotonic() + settings.request_deadline_ms / 1000 * INFERENCE_SHARE


@dataclass(frozen=True, slots=True)
class BodyRequest:
    """What the compressor needs to know about a body besides its bytes."""

    format: str
    content_encoding: str = "identity"
    mode: str | None = None          # "cache" or "token" for this request; None: Settings.mode
    protect_recent: int | None = None  # token mode's newest results kept whole; None: Settings
    frozen_messages: int = 0         # blocks of messages before this index are never changed
    # time.monotonic() instant by which model inference (Kompress) must be done; None: no limit.
    # CLOCK_MONOTONIC is system-wide on Linux, so the server's instant holds in a worker process.
    deadline: float | None = None


@dataclass(slots=True)
class BodyResult:
    """The decision for one body. ``body`` is None unless the body changed."""

    outcome: RequestOutcome          # COMPRESSED, UNCHANGED or PASSTHROUGH
    reason: str = ""
    body: bytes | None = None
    content_encoding: str = "identity"
    model: str | None = None
    tokens_before: int = 0
    tokens_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    blocks_changed: int = 0
    transforms: tuple[str, ...] = ()  # compressors that changed a block, in the order they first did
    transform_blocks: dict[str, int] = field(default_factory=dict)  # blocks each of them changed
    # Block cache counts of this request, by trimwire_block_cache_total's result label (hit, miss, ...).
    cache: dict[str, int] = field(default_factory=dict)
    # What timed compressors did (kompress_compressed, kompress_deadline, kompress_chunks, ...).
    events: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after


def dump_body(body: dict) -> bytes:
    """Compact UTF-8 JSON; escaped ASCII when a lone surrogate (from a ``\\ud800`` escape) is in it."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800 escapes survive only escaped
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("utf-8")


def _json_string(text: str) -> str:
    """``text`` as a JSON string literal to splice into a UTF-8 body."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only its escape can be written
        return json.dumps(text, ensure_ascii=True)
    return json.dumps(text, ensure_ascii=False)


# A string written over the body's: its (start, end) in the body's UTF-8 bytes, its new JSON
# (UTF-8), the compressor that made it.
Edit = tuple[int, int, bytes, str]


@dataclass(frozen=True, slots=True)
class _Totals:
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


class BodyCompressor:
    """Built once per process from Settings; ``run`` is called once per request body.

    ``reader`` (cache mode only) answers each message seen before whole (``messages.py``), so a
    turn's cost grows with what is new in it, not with the history resent before it.
    """

    def __init__(self, settings: Settings, pipeline: Pipeline, tokens: TokenCounter | None = None,
                 kompress: KompressStatus | None = None, reader: MessageReader | None = None,
                 dedup: Dedup | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.tokens = tokens or TokenCounter()
        self.kompress = kompress or KompressStatus(False, reason="disabled", detail="not configured")
        self.reader = reader or MessageReader()
        self.dedup = dedup

    def forget(self) -> None:
        """Drop every remembered result (blocks, messages, checkpoints, token counts): after a run
        cut short at any step (``workers.JobCancelled``) a half-made entry must never answer."""
        if self.pipeline.cache is not None:
            self.pipeline.cache.clear()
        for part in (self.reader.messages, self.reader.checkpoints, self.reader.surroundings):
            if part is not None:
                part.clear()
        self.tokens.clear()

    def run(self, raw: bytes, request: BodyRequest) -> BodyResult:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        result = BodyResult(outcome=RequestOutcome.UNCHANGED, bytes_before=len(raw), stage_seconds=timings,
                            content_encoding=request.content_encoding or "identity")
        try:
            self._run(raw, request, result)
        finally:
            # what the named stages leave out: the policy's pass, edits, the message caches' upkeep
            timings["other"] = max(0.0, time.perf_counter() - started - sum(timings.values()))
        return result

    def _run(self, raw: bytes, request: BodyRequest, result: BodyResult) -> None:
        timings = result.stage_seconds
        mode = request.mode or self.settings.mode
        cached = mode == "cache" and not request.frozen_messages
        try:
            body = self._read(raw, request, cached, timings)
        except PassThrough as exc:
            result.outcome, result.reason = RequestOutcome.PASSTHROUGH, exc.reason
            return
        conv = body.conv
        result.model = conv.model
        started = time.perf_counter()
        counts = [self.tokens.count(block.text) for block in conv.blocks]
        prior: _Totals | None = body.prior
        result.tokens_before = (sum(counts) + (prior.tokens_before if prior is not None else 0)
                                + sum(item.outcome.tokens_before for item in body.unsummed if item.outcome))
        timings["tokens"] = time.perf_counter() - started

        before = self.pipeline.cache_counters()
        budget = Budget(deadline=request.deadline, events=result.events)
        released, held = self.pipeline.run(conv, timings, mode, budget=budget,
                                     protect_recent=request.protect_recent, frozen_messages=request.frozen_messages)
        index, sources = self._dedup(body, released, held, result.events, timings)
        result.cache = {name: total - before[name] for name, total in self.pipeline.cache_counters().items()
                        if total > before[name]}
        started = time.perf_counter()
        changes = {id(change.block): (change, self.tokens.count(change.new_text)) for change in conv.changes}
        timings["tokens"] += time.perf_counter() - started
        edits, saved, totals = self._edits(body, counts, changes, sources)
        totals = _Totals(totals.tokens_before, totals.saved, totals.edits, index,
                         index.version if index is not None else 0, len(index.sources) if index is not None else 0)
        if cached:
            read_now = sum(item.blocks is not None for item in body.items[body.reused:])
            counts_by_result = {"message_hit": len(body.items) - read_now, "message_miss": read_now}
            result.cache.update((name, count) for name, count in counts_by_result.items() if count)
            self.reader.remember(body, totals)
        result.tokens_after = result.tokens_before - saved
        if not edits:
            result.bytes_after = result.bytes_before
            return
        self._write(body, edits, result, timings)

    def _read(self, raw: bytes, request: BodyRequest, cached: bool, timings: dict[str, float]) -> Body:
        started = time.perf_counter()
        if len(raw) > self.settings.max_body_bytes:
            raise BodyTooLarge(f"body over {self.settings.max_body_bytes} bytes")
        plain = codec.decode(raw, request.content_encoding, self.settings.max_decoded_bytes)
        adapter = adapter_for(request.format)
        try:
            text = plain.decode("utf-8")  # strict: a BOM, UTF-16 or bad bytes are not ours to re-encode
        except UnicodeDecodeError:
            raise UnsupportedBody("not UTF-8", reason="invalid_json") from None
        body = self.reader.read(plain, text, adapter, cached)
        focus.assign(body.conv.blocks[body.head:], body.doc.body.get(adapter.ITEMS), adapter.user_text)
        timings["parse"] = time.perf_counter() - started
        return body

    def _dedup(self, body: Body, released: set, held: set, events: dict[str, int],
               timings: dict[str, float]) -> tuple[LineIndex | None, dict[int, tuple[Source, ...]]]:
        """Run dedup over the messages read now, in order (``pipeline/dedup.py``): the line index of
        the whole body as it goes out, and the sources each message read now added, by its ``id``.

        The index of the messages shared with the conversation's checkpoint comes with it (taken
        over when no other request took it first); any other message answered whole adds the
        sources it added when it was read."""
        if self.dedup is None:
            return None, {}
        started = time.perf_counter()
        resumed: _Totals | None = body.resumed
        shared = body.items[:body.reused]
        index = resumed.index if resumed is not None else None
        # the previous body whole (``prior``): its totals know its sources; else they are counted
        length = body.prior.sources if body.prior is not None else sum(len(item.outcome.sources) for item in shared)
        if index is None or not index.claim(resumed.version, length):
            index = LineIndex()
            for item in shared:
                for source in item.outcome.sources:
                    index.add(source)
        added: dict[int, tuple[Source, ...]] = {}
        changes = {id(change.block): change for change in body.conv.changes}
        for item in body.items[body.reused:]:
            if item.blocks is None:
                for source in item.outcome.sources if item.outcome is not None else ():
                    index.add(source)
            else:
                blocks = body.conv.blocks[item.blocks]
                added[id(item)] = self.dedup.message(body.conv, blocks, index, released, held, changes, events)
        if added:  # else only sources were added: a message hit, part of "other"
            timings["dedup"] = time.perf_counter() - started
        return index, added

    def _edits(self, body: Body, counts: list[int], changes: dict[int, tuple[Change, int]],
               sources: dict[int, tuple[Source, ...]]) -> tuple[list[Edit], int, _Totals]:
        """Every string to write over the body's (``Edit``: its byte span, new JSON, compressor), the
        tokens that saves, and the message array's share of both; what each message read now came
        to is set on it. ``counts`` are the blocks' tokens; ``changes`` holds each change and its
        text's tokens, by ``id`` of its block. Messages the previous request ended with are taken
        from its totals (``body.prior``), not walked again."""
        blocks = body.conv.blocks
        changed = [number for number, block in enumerate(blocks) if id(block) in changes] if changes else []
        edits, saved = self._changed(body, changed, 0, body.head, 0, counts, changes)
        prior: _Totals | None = body.prior
        items_edits = list(prior.edits) if prior is not None else []
        items_saved = prior.saved if prior is not None else 0
        items_before = prior.tokens_before if prior is not None else 0
        for item in body.unsummed:
            if item.outcome is None:
                assert item.blocks is not None
                first, stop = item.blocks.start, item.blocks.stop
                relative, item_saved = self._changed(body, changed, first, stop, item.start, counts, changes)
                # each call as named when this message was read: an id an agent uses again for
                # another tool later in the body must not be taken for this message's tool
                calls = tuple(sorted({(block.tool_call_id, block.tool_name) for block in blocks[first:stop]
                                      if block.kind is Kind.TOOL_RESULT and block.tool_call_id is not None}))
                before = sum(counts[first:stop])
                item.outcome = ItemOutcome(calls=calls, tokens_before=before, tokens_after=before - item_saved,
                                           edits=tuple(relative), sources=sources.get(id(item), ()))
            outcome = item.outcome
            items_before += outcome.tokens_before
            if outcome.edits:
                items_saved += outcome.tokens_before - outcome.tokens_after
                items_edits += [(start + item.byte_start, end + item.byte_start, new, by)
                                for start, end, new, by in outcome.edits]
        totals = _Totals(tokens_before=items_before, saved=items_saved, edits=tuple(items_edits))
        return edits + items_edits, saved + items_saved, totals

    def _changed(self, body: Body, changed: list[int], first: int, stop: int, origin: int, counts: list[int],
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

    def _write(self, body: Body, edits: list[Edit], result: BodyResult, timings: dict[str, float]) -> None:
        started = time.perf_counter()
        result.blocks_changed = len(edits)
        edits.sort()
        result.transforms = tuple(dict.fromkeys(by for *_, by in edits))
        for *_, by in edits:
            result.transform_blocks[by] = result.transform_blocks.get(by, 0) + 1
        plain = rawjson.splice_bytes(body.plain, [(start, end, new) for start, end, new, _ in edits])
        result.body = codec.encode(plain, result.content_encoding)
        result.bytes_after = len(result.body)
        result.outcome = RequestOutcome.COMPRESSED
        timings["serialize"] = time.perf_counter() - started


def build_compressor(settings: Settings, *, lazy_kompress: bool = False) -> BodyCompressor:
    """The production BodyCompressor: default policy and routed compressors from Settings.

    Kompress's inference threads share the CPUs with the other compression processes
    (``workers``) unless ``kompress.threads`` says how many. ``lazy_kompress`` (``trimwire
    compress``) opens the model only when the first prose block appears.
    """
    from .compressors import default_routes
    from .compressors.kompress import Kompress, load_kompress
    from .compressors.kompress.lazy import LazyKompress

    threads = cpu_share(settings).threads
    kompress: Kompress | LazyKompress | None
    if lazy_kompress and settings.kompress.enabled:
        kompress = LazyKompress(settings.kompress, threads=threads)
        status = KompressStatus(False, reason="not_loaded", detail="opened when the first prose block appears")
    else:
        kompress, status = load_kompress(settings.kompress, threads=threads)

    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars,
                    compress_errors=settings.compress_errors)
    shared = None
    if settings.redis_url:
        from .pipeline.shared_cache import SharedBlockStore

        shared = SharedBlockStore(settings.redis_url, timeout_ms=settings.redis_timeout_ms)
    # block_cache_bytes bounds every result cache: half for blocks, a quarter for messages, a
    # quarter for each conversation's last body and the large values it resends (Surroundings).
    quarter = settings.block_cache_bytes // 4
    pipeline = Pipeline(policy, default_routes(kompress=kompress),
                        protect_recent=settings.protect_recent_tool_results,
                        cache_bytes=settings.block_cache_bytes - 2 * quarter, shared=shared)
    reader = (MessageReader(MessageCache(quarter), Checkpoints(quarter - quarter // 4), Surroundings(quarter // 4))
              if quarter > 0 else None)
    tokens = TokenCounter()
    dedup = (Dedup(margin=settings.dedup_margin, protected_tools=settings.protected_tools, count=tokens.count,
                   guards=policy.guards, reads=settings.dedup_reads) if settings.dedup else None)
    return BodyCompressor(settings, pipeline, tokens=tokens, kompress=status, reader=reader, dedup=dedup)
