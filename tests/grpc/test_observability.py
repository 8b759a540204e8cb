"""What operators see: the /metrics exposition and the one log line per request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator

import grpc
import pytest
import structlog
from prometheus_client.metrics_core import Metric

from extproc import processor as processor_module
from extproc.logging_setup import configure_logging

from .bodies import anthropic_body, encode, marked_body, service_listing
from .conftest import StartTrimwire
from .envoy_stream import common, set_headers
from .faulty import STALL, STALL_ENTERED, STALL_RELEASE, stalling_factory
from .harness import Harness, eventually, http_get, sample_value

# Family name as exposed -> (type, label names). The contract dashboards and alerts rely on.
EXPECTED_FAMILIES = {
    "trimwire_requests_total": ("counter", {"format", "outcome"}),
    "trimwire_passthrough_total": ("counter", {"reason"}),
    "trimwire_failed_open_total": ("counter", {"reason"}),
    "trimwire_tokens_before_total": ("counter", {"model", "user"}),
    "trimwire_tokens_after_total": ("counter", {"model", "user"}),
    "trimwire_tokens_saved_total": ("counter", {"model", "user"}),
    "trimwire_body_bytes_total": ("counter", {"direction"}),
    "trimwire_stage_seconds": ("histogram", {"stage"}),
    "trimwire_request_seconds": ("histogram", {"format"}),
    "trimwire_inflight_streams": ("gauge", set()),
    "trimwire_ambiguous_user_total": ("counter", set()),
    "trimwire_stream_errors_total": ("counter", {"kind"}),
    "trimwire_compression_workers": ("gauge", set()),
    "trimwire_ready": ("gauge", set()),
    "trimwire_block_cache_total": ("counter", {"result"}),
    # No compression API call in this test: no series yet (labels: api, status / key).
    "trimwire_api_calls_total": ("counter", set()),
    "trimwire_api_config_ignored_total": ("counter", set()),
    # the busy server's test compressor has no Kompress (reason disabled; tests/grpc/test_kompress.py
    # covers a loaded model's labels), and its requests carry no prose, so nothing was counted
    "trimwire_kompress_model": ("gauge", set()),
    "trimwire_kompress_unavailable": ("gauge", {"reason"}),
    "trimwire_kompress_blocks_total": ("counter", set()),
    "trimwire_kompress_chunks_total": ("counter", set()),
    # every structural compressor loads here: no series (labels: compressor, reason)
    "trimwire_compressor_unavailable": ("gauge", set()),
    "trimwire_error_guard_rejected_total": ("counter", set()),
    # its requests hold no run of lines seen before in their conversation
    "trimwire_dedup_tokens_total": ("counter", set()),
    # tracing is off on this server: the enabled gauge is 0 and nothing is unavailable
    "trimwire_tracing_enabled": ("gauge", set()),
    "trimwire_tracing_unavailable": ("gauge", set()),
}
MODEL = "claude-opus-4-1"
PROMPT_CANARY = "CANARY-PROMPT-7f3a9c"
AUTH_CANARY = "sk-CANARY-AUTH-91b2e4"


BusyServer = tuple[Harness, bytes, bytes, dict[str, str]]


def label_names(family: Metric) -> set[str]:
    return {name for sample in family.samples for name in sample.labels if name != "le"}


async def compressed_request(harness: Harness, body: bytes, **headers: str) -> tuple[bytes, dict[str, str]]:
    stream = harness.stream()
    await stream.request_headers(headers=headers)
    mutated = common(await stream.body(body)).body_mutation.body
    client = set_headers(await stream.response_headers())
    assert await stream.finish() == grpc.StatusCode.OK
    return mutated, client


async def cancelled_during_compression(harness: Harness) -> None:
    """A client that goes away while its body is being compressed (Envoy resetting the stream)."""
    stream = harness.stream()
    await stream.request_headers()
    await stream.send_body(marked_body(STALL))
    assert await asyncio.to_thread(STALL_ENTERED.wait, 30)
    stream.call.cancel()  # the handler is awaiting the worker, so grpc must cancel its task

    async def cancel_seen() -> bool:
        return sample_value(await harness.metrics(), "trimwire_stream_errors_total", kind="cancelled") == 1

    await eventually(cancel_seen)


@pytest.fixture
async def busy_server(start_trimwire: StartTrimwire) -> BusyServer:
    """A server that has seen a compressed request, a passthrough and a cancelled stream."""
    STALL_ENTERED.clear()
    STALL_RELEASE.clear()
    harness = await start_trimwire(factory=stalling_factory)
    raw = encode(anthropic_body(service_listing(), model=MODEL))
    mutated, client = await compressed_request(harness, raw, **{"x-maas-username": "alice smith"})
    stream = harness.stream()
    await stream.request_headers("/v1/embeddings")
    await stream.body(b"{}")
    await stream.response_headers()
    await stream.finish()
    try:
        await cancelled_during_compression(harness)
    finally:
        STALL_RELEASE.set()
    return harness, raw, mutated, client


class TestMetrics:
    async def test_families_and_label_names_match_the_contract(self, busy_server: BusyServer) -> None:
        """Every exposed family, its type and its label names are exactly the expected ones."""
        families = await busy_server[0].metrics()
        exposed = {name: (family.type, label_names(family)) for name, family in families.items()}
        assert exposed == EXPECTED_FAMILIES

    async def test_token_counters_match_the_savings_headers(self, busy_server: BusyServer) -> None:
        """tokens_before/after/saved per model and sanitised user equal what the headers said."""
        harness, _, _, client = busy_server
        families = await harness.metrics()
        labels = {"model": MODEL, "user": "alice_smith"}
        for kind in ("before", "after", "saved"):
            value = sample_value(families, f"trimwire_tokens_{kind}_total", **labels)
            assert value == int(client[f"x-trimwire-tokens-{kind}"]) > 0

    async def test_request_counters_and_sizes(self, busy_server: BusyServer) -> None:
        """Outcomes, reasons, body bytes, stream errors and gauges count what happened."""
        harness, raw, mutated, _ = busy_server
        m = await harness.metrics()
        assert sample_value(m, "trimwire_requests_total", format="anthropic", outcome="compressed") == 1
        assert sample_value(m, "trimwire_requests_total", format="unknown", outcome="passthrough") == 1
        assert sample_value(m, "trimwire_requests_total", format="anthropic", outcome="failed_open") == 1
        assert sample_value(m, "trimwire_passthrough_total", reason="unknown_path") == 1
        assert sample_value(m, "trimwire_failed_open_total", reason="stream_closed") == 1
        assert sample_value(m, "trimwire_stream_errors_total", kind="cancelled") == 1
        assert sample_value(m, "trimwire_body_bytes_total", direction="before") == len(raw)
        assert sample_value(m, "trimwire_body_bytes_total", direction="after") == len(mutated)
        assert sample_value(m, "trimwire_request_seconds_count", format="anthropic") == 1
        assert sample_value(m, "trimwire_stage_seconds_count", stage="parse") == 1
        assert sample_value(m, "trimwire_stage_seconds_count", stage="stalling") == 1
        assert sample_value(m, "trimwire_inflight_streams") == 0
        assert sample_value(m, "trimwire_compression_workers") == 0
        assert sample_value(m, "trimwire_ready") == 1


class FrozenClock:
    """Stands in for the processor's ``time`` module: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


async def test_request_seconds_starts_when_the_body_arrives(trimwire: Harness,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The time a client spends uploading its body (headers to body) is not counted as trimwire's."""
    clock = FrozenClock()
    monkeypatch.setattr(processor_module, "time", clock)
    stream = trimwire.stream()
    await stream.request_headers()
    clock.now += 30.0  # a slow upload: Envoy buffers the body before sending it on
    await stream.body(encode(anthropic_body(service_listing())))
    await stream.response_headers()
    await stream.finish()
    metrics = await trimwire.metrics()
    assert sample_value(metrics, "trimwire_request_seconds_count", format="anthropic") == 1
    assert sample_value(metrics, "trimwire_request_seconds_sum", format="anthropic") == 0.0


async def test_user_label_can_be_hashed(start_trimwire: StartTrimwire) -> None:
    """With user_label_mode=hash the raw user name never appears in the exposition."""
    harness = await start_trimwire(user_label_mode="hash")
    await compressed_request(harness, encode(anthropic_body(service_listing())),
                             **{"x-maas-username": "bob.secret"})
    families = await harness.metrics()
    users = {s.labels["user"] for s in families["trimwire_tokens_saved_total"].samples}
    assert len(users) == 1 and "bob" not in users.pop()


def _can_bind(host: str) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


async def test_metrics_listen_on_metrics_address_only(start_trimwire: StartTrimwire) -> None:
    """metrics_address is the ops port's bind address, host included: bound to 127.0.0.2 the port
    answers there and not on 127.0.0.1, so /metrics can be kept off a pod's other interfaces."""
    if not _can_bind("127.0.0.2"):
        pytest.skip("no 127.0.0.2 on this host's loopback")
    harness = await start_trimwire(metrics_address="127.0.0.2:0")
    port = harness.server.ops_port
    status, text = await http_get(f"http://127.0.0.2:{port}/metrics")
    assert status == 200 and "trimwire_ready 1.0" in text
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@contextlib.contextmanager
def json_logging() -> Iterator[None]:
    """The service's real log set-up. Entered inside the test body: pytest swaps sys.stdout per
    phase, and PrintLoggerFactory binds the stdout current at configure time."""
    configure_logging("info")
    try:
        yield
    finally:
        structlog.reset_defaults()


async def test_one_log_line_per_request_without_secrets(capsys: pytest.CaptureFixture[str],
                                                        trimwire: Harness) -> None:
    """Each request logs one JSON line with ids, user, outcome and tokens, never prompt or auth;
    the metrics carry neither."""
    body = encode(anthropic_body(service_listing().replace("payments", PROMPT_CANARY),
                                 prompt=f"{PROMPT_CANARY}: which services are degraded?"))
    secret = {"authorization": f"Bearer {AUTH_CANARY}", "x-api-key": AUTH_CANARY}
    capsys.readouterr()
    with json_logging():
        first, second = trimwire.stream(), trimwire.stream()
        await first.request_headers(headers=secret)
        await first.body(body)
        client = set_headers(await first.response_headers())
        await first.finish()
        await second.request_headers("/v1/embeddings", headers=secret)
        await second.body(body)
        await second.response_headers()
        await second.finish()
    out = capsys.readouterr().out
    assert PROMPT_CANARY not in out and AUTH_CANARY not in out
    status, exposition = await http_get(trimwire.ops_url + "/metrics")
    assert status == 200 and PROMPT_CANARY not in exposition and AUTH_CANARY not in exposition
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    compressed, passthrough = [line for line in lines if line["event"] == "request"]
    assert (compressed["request_id"], passthrough["request_id"]) == (first.request_id, second.request_id)
    assert compressed["user"] == passthrough["user"] == "alice"
    assert (compressed["outcome"], passthrough["outcome"]) == ("compressed", "passthrough")
    assert compressed["tokens_before"] == int(client["x-trimwire-tokens-before"])
    assert compressed["tokens_after"] == int(client["x-trimwire-tokens-after"])
    assert compressed["path"] == "/v1/messages" and compressed["model"] == "claude-opus-4-1"
    assert compressed["mode"] == "cache"
    assert compressed["ms"] >= 0
