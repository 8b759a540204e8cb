"""One request body in, one decision out: decode, parse, compress, re-serialise, count tokens.

``BodyCompressor.run`` is the whole compression path for a buffered body and is a plain, blocking
function of bytes: the server runs it in worker processes (``workers.py``), ``trimwire compress``
runs it directly. It knows nothing about gRPC or Envoy.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field

from . import codec
from .config import Settings
from .conversation import Conversation
from .errors import PassThrough, UnsupportedBody
from .formats import parse_body
from .pipeline import Budget, Pipeline, Policy
from .compressors.kompress import KompressStatus
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

    outcome: str                     # compressed | unchanged | passthrough
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
    # Block cache counts of this request, by trimwire_block_cache_total's result label (hit, miss, ...).
    cache: dict[str, int] = field(default_factory=dict)
    # What timed compressors did (kompress_compressed, kompress_deadline, kompress_chunks, ...).
    events: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after


class _Numbers:
    """The numbers of one body as the client wrote them.

    Python writes ``1e5`` back as ``100000.0``, ``1.10`` as ``1.1`` and ``-0`` as ``0``, so a
    rewritten body would change bytes in fields no compressor touched. A float whose spelling
    Python would not reproduce (and ``-0``, and ``1e400``, which would become ``Infinity``) is
    parsed into a placeholder string instead and written back with its own spelling; every other
    number is a plain float or int and round-trips exactly. (A placeholder inside a tool call's
    ``input`` is counted as a few more tokens than the number: counting only.) A body whose
    strings already hold the placeholder shape gets plain floats and non-finite ones pass through.
    """

    _SPELLED = re.compile(r'"\\u0000(\d+)\\u0000"')

    def __init__(self, raw: bytes) -> None:
        self.enabled = b"\\u0000" not in raw
        self.spellings: list[str] = []

    def number(self, text: str) -> object:
        value = float(text)
        if math.isfinite(value) and repr(value) == text:
            return value
        if not self.enabled:
            if not math.isfinite(value):  # would come back out as Infinity: not JSON
                raise UnsupportedBody("non-finite number", reason="invalid_json")
            return value
        self.spellings.append(text)
        return f"\x00{len(self.spellings) - 1}\x00"

    def integer(self, text: str) -> object:
        return self.number(text) if text == "-0" else int(text)

    def respell(self, dumped: str) -> str:
        if not self.spellings:
            return dumped
        return self._SPELLED.sub(lambda match: self.spellings[int(match.group(1))], dumped)


def _no_constant(name: str) -> float:
    # NaN/Infinity are not JSON: a body carrying them goes upstream as sent, never rewritten.
    raise UnsupportedBody(f"non-standard constant {name}", reason="invalid_json")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    # Parsers disagree on which of two equal keys wins; a body that has them goes upstream as sent.
    value = dict(pairs)
    if len(value) != len(pairs):
        raise UnsupportedBody("duplicate object key", reason="duplicate_keys")
    return value


def _loads(raw: bytes, numbers: _Numbers) -> object:
    # Decoded as strict UTF-8 here: json.loads(bytes) would accept a BOM or UTF-16 and we would
    # then forward a different byte encoding than the client sent.
    try:
        return json.loads(raw.decode("utf-8"), parse_float=numbers.number, parse_int=numbers.integer,
                          parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except PassThrough:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, huge ints
        raise UnsupportedBody(type(exc).__name__, reason="invalid_json") from None


def dump_body(body: dict, numbers: _Numbers | None = None) -> bytes:
    """Compact UTF-8 JSON (numbers as the client spelled them); escaped ASCII when a lone
    surrogate (from a ``\\ud800`` escape) is in it."""
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800 escapes survive only escaped
        text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    return (numbers.respell(text) if numbers is not None else text).encode("utf-8")


class BodyCompressor:
    """Built once per process from Settings; ``run`` is called once per request body."""

    def __init__(self, settings: Settings, pipeline: Pipeline, tokens: TokenCounter | None = None,
                 kompress: KompressStatus | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.tokens = tokens or TokenCounter()
        self.kompress = kompress or KompressStatus(False, reason="disabled", detail="not configured")

    def run(self, raw: bytes, request: BodyRequest) -> BodyResult:
        timings: dict[str, float] = {}
        result = BodyResult(outcome="unchanged", bytes_before=len(raw), stage_seconds=timings,
                            content_encoding=request.content_encoding or "identity")
        try:
            conv, numbers = self._parse(raw, request, timings)
        except PassThrough as exc:
            result.outcome, result.reason = "passthrough", exc.reason
            return result
        result.model = conv.model
        started = time.perf_counter()
        result.tokens_before = sum(self.tokens.count(block.text) for block in conv.blocks)
        timings["tokens"] = time.perf_counter() - started

        before = self.pipeline.cache_counters()
        budget = Budget(deadline=request.deadline, events=result.events)
        self.pipeline.run(conv, timings, request.mode or self.settings.mode, budget=budget,
                          protect_recent=request.protect_recent, frozen_messages=request.frozen_messages)
        result.cache = {name: total - before[name] for name, total in self.pipeline.cache_counters().items()
                        if total > before[name]}
        # Shorter is not always cheaper: a change that costs more tokens than the text it replaces
        # (a marker over a few dense lines) is dropped, so no request ever grows in tokens.
        conv.changes = [c for c in conv.changes if self.tokens.count(c.new_text) < self.tokens.count(c.block.text)]
        if not conv.changed:
            result.tokens_after = result.tokens_before
            result.bytes_after = result.bytes_before
            return result
        self._write(conv, numbers, result, timings)
        return result

    def _parse(self, raw: bytes, request: BodyRequest,
               timings: dict[str, float]) -> tuple[Conversation, _Numbers]:
        started = time.perf_counter()
        if len(raw) > self.settings.max_body_bytes:
            raise PassThrough(reason="too_large")
        plain = codec.decode(raw, request.content_encoding, self.settings.max_decoded_bytes)
        numbers = _Numbers(plain)
        conv = parse_body(request.format, _loads(plain, numbers))
        timings["parse"] = time.perf_counter() - started
        return conv, numbers

    def _write(self, conv: Conversation, numbers: _Numbers, result: BodyResult,
               timings: dict[str, float]) -> None:
        started = time.perf_counter()
        saved = sum(self.tokens.count(c.block.text) - self.tokens.count(c.new_text) for c in conv.changes)
        result.tokens_after = result.tokens_before - saved
        result.blocks_changed = len(conv.changes)
        result.transforms = tuple(dict.fromkeys(change.by for change in conv.changes))
        body = dump_body(conv.apply(), numbers)
        result.body = codec.encode(body, result.content_encoding)
        result.bytes_after = len(result.body)
        result.outcome = "compressed"
        timings["serialize"] = time.perf_counter() - started


def build_compressor(settings: Settings) -> BodyCompressor:
    """The production BodyCompressor: default policy and routed compressors from Settings.

    Kompress's inference threads share the CPUs with the other compression processes
    (``workers``) unless ``kompress.threads`` says how many.
    """
    from .compressors import default_routes
    from .compressors.kompress import load_kompress
    from .workers import usable_cpus

    processes = usable_cpus() if settings.workers < 0 else settings.workers
    threads = settings.kompress.threads or max(1, usable_cpus() // max(1, processes))
    kompress, status = load_kompress(settings.kompress, threads=threads)

    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars)
    shared = None
    if settings.redis_url:
        from .pipeline.shared_cache import SharedBlockStore

        shared = SharedBlockStore(settings.redis_url, timeout_ms=settings.redis_timeout_ms)
    pipeline = Pipeline(policy, default_routes(settings, kompress=kompress),
                        protect_recent=settings.protect_recent_tool_results,
                        cache_bytes=settings.block_cache_bytes, shared=shared)
    return BodyCompressor(settings, pipeline, kompress=status)
