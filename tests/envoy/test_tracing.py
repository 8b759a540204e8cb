"""OpenTelemetry tracing end to end: a request through Envoy with the real OpenAI SDK reaches
trimwire, and one span with its outcome, user, tokens and stage timings arrives at a loopback
OTLP/HTTP collector, as a child of the trace the client started (traceparent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from tests.otlp_collector import OtlpCollector
from tests.upstream import RecordingUpstream

from .bodies import chat_conversation
from .stack import EnvoyProcess, TrimwireProcess, start_test_envoy, start_trimwire

pytestmark = pytest.mark.envoy

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
SPAN_KIND_SERVER = 2


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    running = OtlpCollector().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, envoy_binary: str, collector: OtlpCollector,
           upstream: RecordingUpstream) -> Iterator[tuple[TrimwireProcess, EnvoyProcess]]:
    """trimwire with tracing on, the standard OTEL_* variables pointing at the collector."""
    otel = {k: v for k, v in os.environ.items() if k.startswith("OTEL_")}
    assert not otel, f"the test environment carries {sorted(otel)}"
    trimwire = start_trimwire(Path(tmp_path_factory.mktemp("traced")), workers=1, TRIMWIRE_TRACING="true",
                              OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_BSP_SCHEDULE_DELAY="100",
                              OTEL_SERVICE_NAME="trimwire-under-test")
    envoy = start_test_envoy(trimwire.grpc_port, upstream)
    yield trimwire, envoy
    envoy.stop()
    trimwire.stop()


def test_a_request_span_reaches_the_collector(traced: tuple[TrimwireProcess, EnvoyProcess],
                                              collector: OtlpCollector) -> None:
    """The span carries the outcome, user, model, tokens and stage timings, in the client's trace."""
    _, envoy = traced
    body, _ = chat_conversation()
    client = openai.OpenAI(base_url=envoy.url + "/v1", api_key="sk-test", max_retries=0,
                           http_client=httpx2.Client(trust_env=False, timeout=120))
    client.chat.completions.create(**body, extra_headers={
        "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01", "x-maas-username": "alice"})

    span = collector.wait_for(lambda s: s.trace_id == TRACE_ID)
    assert span.name == "trimwire.request" and span.kind == SPAN_KIND_SERVER
    assert span.parent_span_id == PARENT_SPAN
    assert span.resource["service.name"] == "trimwire-under-test"
    a = span.attributes
    assert (a["trimwire.outcome"], a["trimwire.user"], a["trimwire.model"]) == ("compressed", "alice", "gpt-4.1")
    assert a["trimwire.format"] == "openai" and a["trimwire.path"] == "/v1/chat/completions"
    assert a["trimwire.tokens_before"] > a["trimwire.tokens_after"] > 0
    assert a["trimwire.tokens_saved"] == a["trimwire.tokens_before"] - a["trimwire.tokens_after"]
    assert a["trimwire.bytes_before"] > a["trimwire.bytes_after"]
    stages = {k for k in a if k.startswith("trimwire.stage.")}
    assert stages and all(a[k] >= 0 for k in stages)
    assert abs(span.end_ns - span.start_ns - a["trimwire.duration_ms"] * 1e6) < 10_000  # body in hand to reply
    assert "messages" not in str(a) and "sk-test" not in str(a)  # no prompt text, no credentials
