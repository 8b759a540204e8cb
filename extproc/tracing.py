"""OpenTelemetry tracing, off by default (``tracing: true`` turns it on): one span per request.

Where it sits: ``StreamProcessor.account`` closes every request (ext_proc streams and the
/v1/compress and gRPC Compress calls) and, when tracing is on, hands the finished
``RequestContext`` to ``RequestTracer.record``, which writes one span after the fact: outcome,
reason, format, user label, model, tokens, bytes and each pipeline stage's milliseconds as
attributes. No span is open while the request runs, so with tracing off the request path pays
one ``is None`` check; with it on, one span built from numbers already in hand, exported in
batches off the request threads.

Configured by the standard OpenTelemetry variables, as every OTLP exporter is:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``), ``OTEL_EXPORTER_OTLP_PROTOCOL``
(``http/protobuf``, the default, or ``grpc``), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``.
A ``traceparent`` the gateway sent makes the span a child of the gateway's trace.

The SDK and exporters are the optional ``otel`` extra. Asked for but missing (or an unsupported
protocol), start-up logs ``tracing_unavailable`` and ``trimwire_tracing_unavailable{reason}`` is 1;
the server runs untraced. Prompt text and auth headers never reach a span.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .logging_setup import get_logger
from .metrics import sanitise
from .outcomes import RequestOutcome

if TYPE_CHECKING:
    from .compress import BodyResult
    from .config import Settings
    from .metrics import Metrics

__all__ = ["RequestTracer", "start_tracing", "TRACE_HEADERS", "SPAN_NAME"]

TRACE_HEADERS = ("traceparent", "tracestate")   # W3C trace context, read from the request headers
SPAN_NAME = "trimwire.request"
_PROTOCOLS = ("http/protobuf", "grpc")
log = get_logger("trimwire.tracing")


class RequestContext(Protocol):
    """What a span is made of: the fields of ``processor.RequestContext`` it reads (a protocol
    here, so tracing, which the processor imports, never imports the processor)."""

    request_id: str
    path: str
    format: str | None
    outcome: RequestOutcome
    reason: str
    result: BodyResult | None
    started: float
    elapsed_ms: float
    trace_headers: dict[str, str] | None


class RequestTracer:
    """Turns finished requests into spans; created once per server by ``start_tracing``."""

    def __init__(self, provider: Any, propagator: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("trimwire")
        self.propagator = propagator

    def record(self, ctx: RequestContext, user: str, fields: Mapping[str, Any]) -> None:
        """One span for one request: from the body in hand to the reply, as the log line says."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        ended = time.time_ns()
        if ctx.started:  # perf_counter when the body was in hand; the span covers trimwire's work
            started = ended - int((time.perf_counter() - ctx.started) * 1e9)
            ended = started + int(ctx.elapsed_ms * 1e6)
        else:
            started = ended
        parent = self.propagator.extract(ctx.trace_headers) if ctx.trace_headers else None
        span = self.tracer.start_span(SPAN_NAME, context=parent, kind=SpanKind.SERVER,
                                      start_time=started, attributes=_attributes(ctx, user, fields))
        if ctx.outcome == RequestOutcome.FAILED_OPEN:
            span.set_status(Status(StatusCode.ERROR, ctx.reason))
        span.end(end_time=ended)

    def shutdown(self) -> None:
        """Flush the spans still batched (at server stop)."""
        self.provider.shutdown()


def _attributes(ctx: RequestContext, user: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "trimwire.request_id": ctx.request_id, "trimwire.user": user,
        "trimwire.path": sanitise(ctx.path.split("?", 1)[0]), "trimwire.format": ctx.format or "unknown",
        "trimwire.outcome": ctx.outcome, "trimwire.reason": ctx.reason,
        "trimwire.duration_ms": round(ctx.elapsed_ms, 3),
    }
    attributes.update({f"trimwire.{name}": value for name, value in fields.items() if value is not None})
    result = ctx.result
    if result is not None:
        attributes["trimwire.tokens_saved"] = result.tokens_saved
        attributes["trimwire.transforms"] = list(result.transforms)
        for stage, seconds in result.stage_seconds.items():
            attributes[f"trimwire.stage.{stage}_ms"] = round(seconds * 1000, 3)
    return attributes


def start_tracing(settings: Settings, metrics: Metrics, env: Mapping[str, str] = os.environ) -> RequestTracer | None:
    """The server's tracer, or None: tracing off, or asked for but unavailable (logged, counted)."""
    metrics.tracing_enabled.set(0)
    if not settings.tracing:
        return None
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf")
    if protocol not in _PROTOCOLS:
        _unavailable(metrics, "unsupported_protocol", f"OTLP protocol {protocol!r}; trimwire sends {_PROTOCOLS}")
        return None
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        exporter: type[SpanExporter]
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
            exporter = GrpcExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
            exporter = HttpExporter
    except ImportError as exc:
        _unavailable(metrics, "not_installed", f"tracing needs the otel extra (pip install 'trimwire[otel]'): {exc}")
        return None
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "trimwire"}))
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(exporter()))
    metrics.tracing_enabled.set(1)
    log.info("tracing_on", protocol=protocol, service=resource.attributes.get(SERVICE_NAME))
    return RequestTracer(provider, TraceContextTextMapPropagator())


def _unavailable(metrics: Metrics, reason: str, detail: str) -> None:
    log.warning("tracing_unavailable", reason=reason, detail=detail)
    metrics.tracing_unavailable.labels(reason).set(1)
    return None
