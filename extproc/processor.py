"""One ext_proc stream (one HTTP request): receive, dispatch by phase, reply, account.

Request headers decide whether the request is ours (path, method, content-type, bypass) and
which mode it asks for (``x-trimwire-mode: cache|token``; other values are ignored); the request
body is handed to the compression workers once, complete; response headers carry the
savings back to the client. Everything else passes through. No compression logic lives here.

A stream holds a thread of the gRPC server from its request headers on, and Envoy sends the body
only once the client has uploaded all of it. So that clients that send headers and stall cannot
take every thread (1,100 of them once left new requests uncompressed and the gRPC health check
unanswered), at most ``BodyWaits.limit`` streams wait for a body at once (half of
``stream_threads``); one more cancels the stream that has waited longest (Envoy, failing open,
sends that request on uncompressed once its body arrives). Stalled uploads are the longest waits,
so they go first; a prompt upload is never the oldest while they are there.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from . import envoy_wire
from .compress import BodyRequest, BodyResult, inference_deadline
from .config import MODES, Settings
from .formats import format_for_path
from .logging_setup import get_logger
from .metrics import AMBIGUOUS_LABEL, UNKNOWN_LABEL, LabelGuard, Metrics, sanitise
from .outcomes import SAVINGS_COUNTED, RequestOutcome
from .stats import RequestRecord, SavingsStats, cache_hits
from .tracing import TRACE_HEADERS, RequestTracer
from .workers import WorkerPool

__all__ = ["RequestContext", "StreamProcessor"]

_TRUE = ("1", "true", "yes", "on")
log = get_logger("trimwire.request")


@dataclass(slots=True)
class RequestContext:
    """Everything known about one request, built up phase by phase."""

    request_id: str = ""
    user: str = ""
    path: str = ""
    format: str | None = None
    content_encoding: str = "identity"
    mode: str | None = None          # from the mode header; None: the configured default
    full_duplex: bool = False
    outcome: RequestOutcome = RequestOutcome.PASSTHROUGH
    reason: str = "no_body"
    chunks: list[bytes] = field(default_factory=list)
    body_done: bool = False
    result: BodyResult | None = None
    started: float = 0.0             # when the complete body was in hand
    elapsed_ms: float = 0.0
    body_sent: bool = False          # the reply to the whole body has gone
    answered: bool = False           # the last reply (response headers) has gone
    trace_headers: dict[str, str] | None = None  # traceparent/tracestate, read only when tracing

    @property
    def ours(self) -> bool:
        return self.outcome not in (RequestOutcome.PASSTHROUGH, RequestOutcome.BYPASSED)

    def fail_open(self, reason: str) -> None:
        """The original body goes (or went) upstream: no result stands, ``reason`` says why."""
        self.outcome, self.reason, self.result = RequestOutcome.FAILED_OPEN, reason, None


class BodyWaits:
    """The streams waiting for their request body, oldest first, each with what cancels it."""

    def __init__(self, limit: int, on_evict: Callable[[], None]) -> None:
        self.limit = max(1, limit)
        self._on_evict = on_evict
        self._waiting: OrderedDict[int, Callable[[], object]] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, key: int, cancel: Callable[[], object]) -> None:
        with self._lock:
            self._waiting[key] = cancel
            evicted = self._waiting.popitem(last=False)[1] if len(self._waiting) > self.limit else None
        if evicted is not None:
            self._on_evict()
            evicted()

    def end(self, key: int) -> None:
        with self._lock:
            self._waiting.pop(key, None)

    def __len__(self) -> int:
        return len(self._waiting)


class StreamProcessor:
    """Shared by every stream of a server; per-request state lives in RequestContext."""

    def __init__(self, settings: Settings, workers: WorkerPool, metrics: Metrics,
                 stats: SavingsStats | None = None, tracer: RequestTracer | None = None) -> None:
        self.settings = settings
        self.workers = workers
        self.metrics = metrics
        self.stats = stats
        self.tracer = tracer
        self.users = LabelGuard(settings.user_label_mode, settings.user_label_limit)
        self.models = LabelGuard("raw", 200)
        self.body_waits = BodyWaits(settings.stream_threads // 2,
                                    lambda: metrics.stream_errors.labels("body_wait_evicted").inc())

    def process(self, requests: Iterator[pb.ProcessingRequest],
                cancel: Callable[[], object] = lambda: None) -> Iterator[pb.ProcessingResponse]:
        """One stream, on a thread of the gRPC server: each message in, its replies out.
        ``cancel`` ends the stream from another thread (``BodyWaits``)."""
        ctx = RequestContext()
        self.metrics.inflight.inc()
        try:
            for request in requests:
                kind = request.WhichOneof("request")
                if kind == "request_headers":
                    reply = self._on_request_headers(ctx, request)
                    if not request.request_headers.end_of_stream:
                        self.body_waits.start(id(ctx), cancel)
                    yield reply
                elif kind == "request_body":
                    self.body_waits.end(id(ctx))
                    yield from self._on_request_body(ctx, request.request_body)
                    ctx.body_sent = ctx.body_done
                elif kind == "request_trailers":
                    yield from self._on_request_trailers(ctx)
                    ctx.body_sent = ctx.body_done
                elif kind == "response_headers":
                    if ctx.outcome == RequestOutcome.PENDING:  # Envoy answered before the body came (a 413)
                        ctx.fail_open("no_body_received")
                    ctx.answered = True  # before the yield: Envoy may reset while it is being sent
                    yield envoy_wire.response_headers_reply(self._savings_headers(ctx))
                    return  # our last phase: the call ends here, whether or not Envoy resets it
                elif kind is not None:
                    yield envoy_wire.empty_reply(kind)
        except grpc.RpcError:  # the call was cancelled while we waited for its next message
            self._cancelled(ctx)
        except GeneratorExit:  # ... or while a reply was on its way
            self._cancelled(ctx)
            raise
        finally:
            self.body_waits.end(id(ctx))
            self.metrics.inflight.dec()
            self.account(ctx)

    def _cancelled(self, ctx: RequestContext) -> None:
        if not ctx.answered:  # a reset after our last reply is how Envoy ends every stream
            self.metrics.stream_errors.labels("cancelled").inc()
        if ctx.body_done and not ctx.body_sent and ctx.ours:  # our body never reached Envoy
            ctx.fail_open("stream_closed")

    def _on_request_headers(self, ctx: RequestContext, request: pb.ProcessingRequest) -> pb.ProcessingResponse:
        repeats: set[str] = set()
        headers = envoy_wire.read_headers(request.request_headers, repeats)
        s = self.settings
        ctx.request_id = sanitise(headers.get("x-request-id"))
        ctx.user = headers.get(s.user_header, "")
        if s.user_header in repeats:  # bob then alice: neither
            ctx.user = AMBIGUOUS_LABEL
            self.metrics.ambiguous_user.inc()
        ctx.path = headers.get(":path", "")
        ctx.full_duplex = envoy_wire.is_full_duplex(request)
        ctx.content_encoding = headers.get("content-encoding", "identity") or "identity"
        ctx.format = format_for_path(ctx.path)
        if self.tracer is not None:
            ctx.trace_headers = {name: headers[name] for name in TRACE_HEADERS if name in headers}
        mode = headers.get(s.header_prefix + "mode", "").strip().lower()
        ctx.mode = mode if mode in MODES else None
        if mode and ctx.mode is None:  # a typo must not pass for the default silently
            log.warning("invalid_mode_header", header=s.header_prefix + "mode", value=sanitise(mode),
                        allowed=list(MODES), request_id=ctx.request_id)
        if request.request_headers.end_of_stream:
            ctx.outcome, ctx.reason = RequestOutcome.PASSTHROUGH, "no_body"
        elif ctx.format is None:
            ctx.outcome, ctx.reason = RequestOutcome.PASSTHROUGH, "unknown_path"
        elif headers.get(":method", "").upper() != "POST":
            ctx.outcome, ctx.reason = RequestOutcome.PASSTHROUGH, "method"
        elif "json" not in headers.get("content-type", "").lower():
            ctx.outcome, ctx.reason = RequestOutcome.PASSTHROUGH, "content_type"
        elif (headers.get(s.bypass_header, "").strip().lower() in _TRUE and ctx.user != AMBIGUOUS_LABEL
              and s.bypass_allowed(ctx.user)):
            ctx.outcome, ctx.reason = RequestOutcome.BYPASSED, "header"
        else:
            ctx.outcome, ctx.reason = RequestOutcome.PENDING, ""
        remove = [name for name in headers if name.startswith(s.header_prefix)]
        if ctx.full_duplex and ctx.ours:
            remove.append("content-length")  # the body we stream back may differ in length
        return envoy_wire.request_headers_reply(remove=remove)

    def _on_request_body(self, ctx: RequestContext, body: pb.HttpBody) -> list[pb.ProcessingResponse]:
        if ctx.body_done:  # a duplicate end of stream must never process the body twice
            return [] if ctx.full_duplex else [envoy_wire.request_body_reply()]
        if not ctx.ours:
            if ctx.full_duplex:
                ctx.body_done = body.end_of_stream
                return list(envoy_wire.streamed_body_replies(body.body, body.end_of_stream))
            ctx.body_done = True
            return [envoy_wire.request_body_reply()]
        ctx.chunks.append(body.body)
        if ctx.full_duplex and not body.end_of_stream:
            return []
        return self._finish_body(ctx)

    def _on_request_trailers(self, ctx: RequestContext) -> list[pb.ProcessingResponse]:
        replies = self._finish_body(ctx) if ctx.full_duplex and ctx.ours and not ctx.body_done else []
        return replies + [envoy_wire.trailers_reply(response_side=False)]

    def _finish_body(self, ctx: RequestContext) -> list[pb.ProcessingResponse]:
        ctx.body_done = True
        ctx.started = time.perf_counter()  # the client's upload before this is not our latency
        raw = b"".join(ctx.chunks)
        ctx.chunks.clear()
        request = BodyRequest(format=ctx.format or "", content_encoding=ctx.content_encoding, mode=ctx.mode,
                              deadline=inference_deadline(self.settings))
        result = self.compress_or_fail_open(ctx, raw, request)
        changed = result.body if result is not None else None
        if ctx.full_duplex:
            return list(envoy_wire.streamed_body_replies(changed if changed is not None else raw, end_of_stream=True))
        if changed is None:
            return [envoy_wire.request_body_reply(set_headers=self._savings_headers(ctx))]
        return [envoy_wire.request_body_reply(changed, self._savings_headers(ctx))]

    def compress_or_fail_open(self, ctx: RequestContext, raw: bytes, request: BodyRequest) -> BodyResult | None:
        """The one fail-open path, for the ext_proc stream and the compression API (``service.py``):
        ``raw`` compressed by the workers within ``request_deadline_ms``, its result and outcome
        set on ``ctx``. Whatever goes wrong (the deadline passes, a stage raises, a worker dies)
        leaves ``ctx`` failed open with the reason (``deadline`` or the exception's type) and
        returns None: the caller sends the original bytes. ``ctx.elapsed_ms`` counts from
        ``ctx.started``, which the caller sets when the body is in hand."""
        started = time.perf_counter()
        try:
            result = self.workers.run_blocking(raw, request, self.settings.request_deadline_ms / 1000)
        except TimeoutError:
            ctx.fail_open("deadline")
            return None
        except Exception as exc:  # any failure fails open, named by its type
            ctx.fail_open(type(exc).__name__)
            return None
        else:
            ctx.result, ctx.outcome, ctx.reason = result, result.outcome, result.reason
            return result
        finally:
            now = time.perf_counter()
            self.metrics.stage_seconds.labels("total").observe(now - started)
            ctx.elapsed_ms = (now - ctx.started) * 1000

    def _savings_headers(self, ctx: RequestContext) -> dict[str, str]:
        prefix = self.settings.header_prefix
        headers: dict[str, str] = {prefix + "outcome": ctx.outcome}
        result = ctx.result
        if result is not None and result.outcome in SAVINGS_COUNTED:
            ratio = result.tokens_after / result.tokens_before if result.tokens_before else 1.0
            headers.update({
                prefix + "tokens-before": str(result.tokens_before),
                prefix + "tokens-after": str(result.tokens_after),
                prefix + "tokens-saved": str(result.tokens_saved),
                prefix + "ratio": f"{ratio:.4f}",
                prefix + "ms": f"{ctx.elapsed_ms:.2f}",  # body in hand to reply: what trimwire added
            })
        return headers

    def account(self, ctx: RequestContext) -> None:
        """Metrics and the one log line for this request. Ids, sizes and counts only."""
        if ctx.outcome == RequestOutcome.PENDING:  # stream ended before the body arrived
            ctx.fail_open("stream_closed")
        m = self.metrics
        fmt = ctx.format or "unknown"
        m.requests.labels(fmt, ctx.outcome).inc()
        if ctx.outcome == RequestOutcome.PASSTHROUGH:
            m.passthrough.labels(ctx.reason).inc()
        elif ctx.outcome == RequestOutcome.FAILED_OPEN:
            m.failed_open.labels(ctx.reason).inc()
        result = ctx.result
        fields: dict[str, object] = {}
        if result is not None:
            model = self.models.label(result.model)
            user = self.users.label(ctx.user)
            if result.outcome in SAVINGS_COUNTED:
                m.tokens_before.labels(model, user).inc(result.tokens_before)
                m.tokens_after.labels(model, user).inc(result.tokens_after)
                m.tokens_saved.labels(model, user).inc(max(0, result.tokens_saved))  # counters never go down
            for kind, count in result.cache.items():
                m.block_cache.labels(kind).inc(count)
            m.count_events(result.events)
            m.body_bytes.labels("before").inc(result.bytes_before)
            m.body_bytes.labels("after").inc(result.bytes_after or result.bytes_before)
            m.request_seconds.labels(fmt).observe(ctx.elapsed_ms / 1000)
            for stage, seconds in result.stage_seconds.items():
                m.stage_seconds.labels(stage).observe(seconds)
            fields = dict(model=model, mode=ctx.mode or self.settings.mode,
                          bytes_before=result.bytes_before, bytes_after=result.bytes_after,
                          tokens_before=result.tokens_before, tokens_after=result.tokens_after,
                          blocks_changed=result.blocks_changed)
        if self.stats is not None:
            self.stats.record(RequestRecord(
                request_id=ctx.request_id, user=self.users.label(ctx.user),
                model=str(fields.get("model", UNKNOWN_LABEL)),
                path=sanitise(ctx.path.split("?", 1)[0]), outcome=ctx.outcome,
                tokens_before=result.tokens_before if result is not None else 0,
                tokens_after=result.tokens_after if result is not None else 0, ms=ctx.elapsed_ms,
                transforms=result.transforms if result is not None else (),
                cache_hits=cache_hits(result.cache) if result is not None else 0))
        user_shown = self.users.display(ctx.user)
        log.info("request", request_id=ctx.request_id, user=user_shown,
                 path=sanitise(ctx.path.split("?", 1)[0]), format=fmt, outcome=ctx.outcome,
                 reason=ctx.reason, ms=round(ctx.elapsed_ms, 2), **fields)
        if self.tracer is not None:
            self.tracer.record(ctx, user_shown, fields)
