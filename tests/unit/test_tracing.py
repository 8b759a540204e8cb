"""tracing.start_tracing: off by default, on with the SDK present, and when asked for but unable
to run (extra not installed, a protocol it does not send) logged and exported as a metric."""

from __future__ import annotations

import sys

import pytest
from structlog.testing import capture_logs

from extproc.config import Settings
from extproc.metrics import Metrics
from extproc.tracing import RequestTracer, start_tracing


def _gauge(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


def test_off_by_default() -> None:
    """No setting: no tracer, nothing logged, the enabled gauge at 0."""
    metrics = Metrics()
    with capture_logs() as logs:
        assert Settings().tracing is False and start_tracing(Settings(), metrics) is None
    assert logs == [] and _gauge(metrics, "trimwire_tracing_enabled") == 0


@pytest.mark.parametrize("service, expected", [(None, "trimwire"), ("llm-gateway-trimwire", "llm-gateway-trimwire")])
def test_on_builds_a_tracer_from_the_otel_environment(monkeypatch: pytest.MonkeyPatch, service: str | None,
                                                     expected: str) -> None:
    """tracing: true with the SDK installed: a tracer named by OTEL_SERVICE_NAME, else "trimwire"."""
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    if service is None:
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    else:
        monkeypatch.setenv("OTEL_SERVICE_NAME", service)
    metrics = Metrics()
    with capture_logs() as logs:
        tracer = start_tracing(Settings(tracing=True), metrics, env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert isinstance(tracer, RequestTracer)
    try:
        assert [(e["event"], e["protocol"], e["service"]) for e in logs] == [("tracing_on", "grpc", expected)]
        assert _gauge(metrics, "trimwire_tracing_enabled") == 1
        assert tracer.provider.resource.attributes["service.name"] == expected
    finally:
        tracer.shutdown()


def test_missing_extra_is_logged_and_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked for without the otel extra: the server runs untraced, says why, and counts it."""
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # import now fails
    metrics = Metrics()
    with capture_logs() as logs:
        assert start_tracing(Settings(tracing=True), metrics, env={}) is None
    assert [(e["event"], e["reason"]) for e in logs] == [("tracing_unavailable", "not_installed")]
    assert _gauge(metrics, "trimwire_tracing_unavailable", reason="not_installed") == 1
    assert _gauge(metrics, "trimwire_tracing_enabled") == 0


def test_unsupported_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTLP http/json is not sent: said at start-up rather than silently dropping spans."""
    metrics = Metrics()
    with capture_logs() as logs:
        assert start_tracing(Settings(tracing=True), metrics, env={"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}) is None
    assert logs[0]["reason"] == "unsupported_protocol"
    assert _gauge(metrics, "trimwire_tracing_unavailable", reason="unsupported_protocol") == 1
