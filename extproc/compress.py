"""One request body in, one decision out: decode, read, count tokens, compress, splice in the new strings.

``BodyEngine.run`` is the whole compression path for a buffered body and is a plain, blocking
function of bytes: the server runs it in worker processes (``workers.py``), ``trimwire compress``
runs it directly. It knows nothing about gRPC or Envoy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import codec, rawjson
from .config import Settings
from .cpus import cpu_share
from .errors import BodyTooLarge, PassThrough
from .formats import adapter_for
from .history import History, LineState
from .messages import Body, Checkpoints, Edit, Surroundings
from .outcomes import RequestOutcome
from .pipeline import Budget, Pipeline, Policy, focus
from .pipeline.cache import MessageCache
from .pipeline.dedup import Dedup
from .status import KompressStatus
from .tokens import TokenCounter

if TYPE_CHECKING:
    from .compressors.kompress import ModelShelf

__all__ = ["BodyRequest", "BodyResult", "BodyEngine", "build_engine", "dump_body", "inference_deadline"]

# Of request_deadline_ms, the share model inference may use; the rest is for counting tokens and
# writing the body, so a slow model leaves its blocks alone instead of failing the whole request.
INFERENCE_SHARE = 0.6


def inference_deadline(settings: Settings) -> float:
    """The ``BodyRequest.deadline`` of a request whose body arrives now."""
    return time.monotonic() + settings.request_deadline_ms / 1000 * INFERENCE_SHARE


@dataclass(frozen=True, slots=True)
class BodyRequest:
    """What the engine needs to know about a body besides its bytes."""

    format: str
    content_encoding: str = "identity"
    mode: str | None = None          # "cache" or "token" for this request; None: Settings.mode
    protect_recent: int | None = None  # token mode's newest results kept whole; None: Settings
    frozen_messages: int = 0         # blocks of messages before this index are never changed
    # time.monotonic() instant by which model inference (Kompress) must be done; None: no limit.
    # CLOCK_MONOTONIC is system-wide on Linux, so the server's instant holds in a worker process.
    deadline: float | None = None
    # The caller holds the body's bytes and writes the edits over them itself (``BodyResult.edits``,
    # ``BodyResult.with_body``): a worker's answer then carries the new strings, not a whole body.
    edits_only: bool = False


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
    # With ``BodyRequest.edits_only`` and no content encoding: ``body`` stays None and these
    # (start, end, new bytes), sorted, are what to write over the body's bytes instead.
    edits: tuple[tuple[int, int, bytes], ...] = ()

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    def with_body(self, raw: bytes) -> BodyResult:
        """The result with ``body`` written from ``edits`` over ``raw`` (the bytes it was run on)."""
        if self.edits:
            self.body, self.edits = rawjson.splice_bytes(raw, list(self.edits)), ()
        return self


def dump_body(body: Any) -> bytes:
    """Compact UTF-8 JSON; escaped ASCII when a lone surrogate (from a ``\\ud800`` escape) is in it."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800 escapes survive only escaped
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("utf-8")


class BodyEngine:
    """Built once per process from Settings; ``run`` is called once per request body.

    ``history`` (``history.py``) holds everything remembered of bodies seen before, so in cache
    mode a turn's cost grows with what is new in it, not with the history resent before it.
    """

    def __init__(self, settings: Settings, pipeline: Pipeline, tokens: TokenCounter | None = None,
                 kompress: KompressStatus | None = None, history: History | None = None,
                 dedup: Dedup | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.tokens = tokens or TokenCounter()
        self.kompress = kompress or KompressStatus(False, reason="disabled", detail="not configured")
        self.history = history if history is not None else History(
            blocks=pipeline.cache, tokens=self.tokens, lines=dedup.lines if dedup is not None else None)
        self.dedup = dedup

    def forget(self) -> None:
        """Drop every remembered result (``History.forget``): after a run cut short at any step
        (``workers.JobCancelled``) a half-made entry must never answer."""
        self.history.forget()

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
        """decode -> read -> count -> pipeline -> splice."""
        mode = request.mode or self.settings.mode
        cached = mode == "cache" and not request.frozen_messages
        try:
            body = self._read(raw, request, cached, result.stage_seconds)
        except PassThrough as exc:
            result.outcome, result.reason = RequestOutcome.PASSTHROUGH, exc.reason
            return
        result.model = body.conv.model
        counts = self._count(body, result)
        lines = self._compress(body, request, mode, result)
        edits, saved = self._settle(body, counts, lines, cached, result)
        result.tokens_after = result.tokens_before - saved
        if not edits:
            result.bytes_after = result.bytes_before
            return
        self._write(body, edits, result, request.edits_only)

    def _read(self, raw: bytes, request: BodyRequest, cached: bool, timings: dict[str, float]) -> Body:
        """Decode the body and read its messages, those seen before answered by the history."""
        started = time.perf_counter()
        if len(raw) > self.settings.max_body_bytes:
            raise BodyTooLarge(f"body over {self.settings.max_body_bytes} bytes")
        plain = codec.decode(raw, request.content_encoding, self.settings.max_decoded_bytes)
        adapter = adapter_for(request.format)
        body = self.history.read(plain, adapter, cached)
        focus.assign(body.conv.blocks[body.head:], body.doc.body.get(adapter.ITEMS), adapter.user_text,
                     (body.reused, body.asked_before(body.reused)) if body.reused else None)
        timings["parse"] = time.perf_counter() - started
        return body

    def _count(self, body: Body, result: BodyResult) -> list[int]:
        """The tokens of each block read now; the body's tokens set on ``result``."""
        started = time.perf_counter()
        counts = [self.tokens.count(block.text) for block in body.conv.blocks]
        result.tokens_before = self.history.tokens_before(body, counts)
        result.stage_seconds["tokens"] = time.perf_counter() - started
        return counts

    def _compress(self, body: Body, request: BodyRequest, mode: str, result: BodyResult) -> LineState:
        """Run the pipeline, then dedup, over the blocks read now; the block cache's counts of it
        on ``result``."""
        timings = result.stage_seconds
        before = self.pipeline.cache_counters()
        budget = Budget(deadline=request.deadline, events=result.events)
        released, held = self.pipeline.run(body.conv, timings, mode, budget=budget,
                                           protect_recent=request.protect_recent,
                                           frozen_messages=request.frozen_messages)
        lines: LineState = (None, {})
        if self.dedup is not None:
            lines = self.history.line_index(body, self.dedup, released, held, result.events, timings)
        result.cache = {name: total - before[name] for name, total in self.pipeline.cache_counters().items()
                        if total > before[name]}
        return lines

    def _settle(self, body: Body, counts: list[int], lines: LineState, cached: bool,
                result: BodyResult) -> tuple[list[Edit], int]:
        """The edits to splice and the tokens they save; in cache mode, the body remembered."""
        started = time.perf_counter()
        changes = {id(change.block): (change, self.tokens.count(change.new_text)) for change in body.conv.changes}
        result.stage_seconds["tokens"] += time.perf_counter() - started
        edits, saved, totals = self.history.settle(body, counts, changes, lines)
        if cached:
            result.cache.update((name, count) for name, count in self.history.remember(body, totals).items() if count)
        return edits, saved

    def _write(self, body: Body, edits: list[Edit], result: BodyResult, edits_only: bool) -> None:
        """The new body, or with ``edits_only`` and no content encoding its edits (``BodyResult.edits``)."""
        started = time.perf_counter()
        result.blocks_changed = len(edits)
        edits.sort()
        result.transforms = tuple(dict.fromkeys(by for *_, by in edits))
        for *_, by in edits:
            result.transform_blocks[by] = result.transform_blocks.get(by, 0) + 1
        splices = [(start, end, new) for start, end, new, _ in edits]
        if edits_only and codec.is_identity(result.content_encoding):
            result.edits = tuple(splices)
            result.bytes_after = len(body.plain) + sum(len(new) - (end - start) for start, end, new in splices)
        else:
            result.body = codec.encode(rawjson.splice_bytes(body.plain, splices), result.content_encoding)
            result.bytes_after = len(result.body)
        result.outcome = RequestOutcome.COMPRESSED
        result.stage_seconds["serialize"] = time.perf_counter() - started


def build_engine(settings: Settings, *, lazy_kompress: bool = False, shelf: ModelShelf | None = None) -> BodyEngine:
    """The production BodyEngine: default policy and routed compressors from Settings.

    Kompress's inference threads share the CPUs with the other compression processes
    (``workers``) unless ``kompress.threads`` says how many. ``lazy_kompress`` (``trimwire
    compress``) opens the model only when the first prose block appears. ``shelf``: where the
    model is taken from, shared with the other engines its owner builds; none: opened afresh.
    """
    from .compressors import default_routes
    from .compressors.kompress import Kompress, load_kompress
    from .compressors.kompress.lazy import LazyKompress

    threads = cpu_share(settings).threads
    kompress: Kompress | LazyKompress | None
    if lazy_kompress and settings.kompress.enabled:
        kompress = LazyKompress(settings.kompress, threads=threads, shelf=shelf)
        status = KompressStatus(False, reason="not_loaded", detail="opened when the first prose block appears")
    else:
        kompress, status = load_kompress(settings.kompress, threads=threads, shelf=shelf)

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
    tokens = TokenCounter()
    dedup = (Dedup(margin=settings.dedup_margin, protected_tools=settings.protected_tools, count=tokens.count,
                   guards=policy.guards, reads=settings.dedup_reads,
                   errors=settings.dedup_errors) if settings.dedup else None)
    lines = dedup.lines if dedup is not None else None
    history = History(messages=MessageCache(quarter), checkpoints=Checkpoints(quarter - quarter // 4),
                      surroundings=Surroundings(quarter // 4), blocks=pipeline.cache,
                      tokens=tokens, lines=lines) if quarter > 0 else None
    return BodyEngine(settings, pipeline, tokens=tokens, kompress=status, history=history, dedup=dedup)
