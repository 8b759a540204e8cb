"""A loopback OTLP/HTTP trace collector for tests: POST /v1/traces with an
ExportTraceServiceRequest (protobuf, the exporter's default), decoded with the
opentelemetry-proto message types; spans are kept with their attributes as plain values.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.upstream import LoopbackServer

__all__ = ["CollectedSpan", "OtlpCollector"]


@dataclass(frozen=True)
class CollectedSpan:
    name: str
    trace_id: str
    parent_span_id: str
    kind: int
    status_code: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpCollector(LoopbackServer):
    """Start with ``start()``; ``endpoint`` is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""

    def __init__(self) -> None:
        self.spans: list[CollectedSpan] = []
        self.requests = 0
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                collector._add(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self._serve(Handler)

    @property
    def endpoint(self) -> str:
        return self.url

    def _add(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.requests += 1
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(CollectedSpan(
                            span.name, span.trace_id.hex(), span.parent_span_id.hex(), span.kind,
                            span.status.code, span.start_time_unix_nano, span.end_time_unix_nano,
                            _attributes(span.attributes), resource))

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> CollectedSpan:
        """The first span matching ``predicate``, waiting for the exporter's next batch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((s for s in self.spans if predicate(s)), None)
            if found is not None:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no matching span within {timeout}s; got {len(self.spans)} spans")
