"""Start-up, health, reflection, graceful drain and stream isolation."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from extproc import load_settings
from extproc.server import start_server
from extproc.workers import WorkerPool

from .bodies import anthropic_body, encode, marked_body, service_listing
from .conftest import StartTrimwire
from .envoy_stream import common, set_headers
from .faulty import BREAK, breaking_factory, gated_factory
from .harness import Harness, eventually, http_get, sample_value

SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
BODY = encode(anthropic_body(service_listing()))


class TestHealth:
    @pytest.mark.parametrize("service", ["", SERVICE])
    async def test_grpc_health_is_serving_after_start(self, trimwire: Harness, service: str) -> None:
        """grpc.health.v1 Check answers SERVING once start_server has returned."""
        assert await trimwire.health_status(service) == SERVING

    async def test_grpc_health_turns_not_serving_when_stop_begins(self, trimwire: Harness) -> None:
        """A health watcher sees NOT_SERVING as soon as the drain starts."""
        watch = trimwire.health.Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == SERVING
        stopping = asyncio.create_task(trimwire.stop(grace=1.0))
        assert (await watch.read()).status == NOT_SERVING
        watch.cancel()
        await stopping

    async def test_ops_probes(self, trimwire: Harness) -> None:
        """/healthz and /readyz answer 200 on a ready server."""
        assert (await http_get(trimwire.ops_url + "/healthz"))[0] == 200
        status, text = await http_get(trimwire.ops_url + "/readyz")
        assert (status, json.loads(text)) == (200, {"ready": True})
        assert sample_value(await trimwire.metrics(), "trimwire_ready") == 1

    async def test_readyz_fails_while_draining(self, trimwire: Harness) -> None:
        """/readyz answers 503 once stop has begun, while an in-flight stream keeps the drain open."""
        stream = trimwire.stream()
        await stream.request_headers()
        stopping = asyncio.create_task(trimwire.stop(grace=5.0))
        await eventually(lambda: _readyz_status_is(trimwire, 503))
        await stream.body(BODY)
        await stream.response_headers()
        await stream.finish()
        await stopping

    async def test_reflection_lists_the_external_processor(self, trimwire: Harness) -> None:
        """Server reflection lists ExternalProcessor, the Compressor API, Health and reflection itself."""
        stub = reflection_pb2_grpc.ServerReflectionStub(trimwire.channel)
        call = stub.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        reply = await call.read()
        await call.done_writing()
        names = {service.name for service in reply.list_services_response.service}
        assert names == {SERVICE, "trimwire.v1.Compressor", "grpc.health.v1.Health",
                         "grpc.reflection.v1alpha.ServerReflection"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_not_serving_until_workers_are_warm(tmp_path: Path) -> None:
    """While the compression workers load, gRPC health says NOT_SERVING, /readyz and /v1/compress
    answer 503; then SERVING."""
    gate = tmp_path / "loaded"
    grpc_port, ops_port, api_port = _free_port(), _free_port(), _free_port()
    settings = load_settings(env={}, grpc_address=f"127.0.0.1:{grpc_port}",
                             metrics_address=f"127.0.0.1:{ops_port}", api_address=f"127.0.0.1:{api_port}",
                             workers=1)
    settings = settings.replace(extra={"gate": str(gate)})
    starting = asyncio.create_task(
        start_server(settings, WorkerPool(settings, factory=gated_factory)))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=SERVICE)
    try:
        reply = await health.Check(request, wait_for_ready=True, timeout=30)
        assert reply.status == NOT_SERVING
        assert (await http_get(f"http://127.0.0.1:{ops_port}/healthz"))[0] == 200
        assert (await http_get(f"http://127.0.0.1:{ops_port}/readyz"))[0] == 503
        async with (aiohttp.ClientSession() as session,
                    session.post(f"http://127.0.0.1:{api_port}/v1/compress", json={"messages": [], "model": "m"}) as reply):
            assert reply.status == 503 and (await reply.json())["error"]["type"] == "not_ready"
        gate.touch()
        await starting
        assert (await health.Check(request)).status == SERVING
        assert (await http_get(f"http://127.0.0.1:{ops_port}/readyz"))[0] == 200
    finally:
        gate.touch()
        await (await starting).stop(0)
        await channel.close()


async def _readyz_status_is(harness: Harness, status: int) -> bool:
    try:
        return (await http_get(harness.ops_url + "/readyz"))[0] == status
    except OSError:
        return False


async def _rejects_new_calls(harness: Harness) -> bool:
    try:
        await harness.health_status()
    except grpc.aio.AioRpcError:
        return True
    return False


async def test_stop_lets_a_stream_in_the_middle_of_its_body_finish(trimwire: Harness) -> None:
    """stop(grace) refuses new calls but a stream that has sent its headers still gets its body compressed."""
    stream = trimwire.stream()
    await stream.request_headers()
    stopping = asyncio.create_task(trimwire.stop(grace=10.0))
    await eventually(lambda: _rejects_new_calls(trimwire))
    assert not stopping.done()
    reply = await stream.body(BODY)
    assert len(common(reply).body_mutation.body) < len(BODY)
    assert set_headers(await stream.response_headers())["x-trimwire-outcome"] == "compressed"
    assert await stream.finish() == grpc.StatusCode.OK
    await stopping


async def test_cancelled_stream_does_not_affect_a_concurrent_one(trimwire: Harness) -> None:
    """A client cancelling one stream mid-request leaves a concurrent stream untouched."""
    victim, survivor = trimwire.stream(), trimwire.stream()
    await victim.request_headers(full_duplex=True)
    await survivor.request_headers()
    await victim.send_body(BODY[:1000], end_of_stream=False)  # accumulated: no reply is due
    victim.call.cancel()

    # Counted as stream_closed whether grpc surfaces the cancel as a task cancel or as end of input.
    async def victim_accounted() -> bool:
        return sample_value(await trimwire.metrics(), "trimwire_failed_open_total", reason="stream_closed") == 1

    await eventually(victim_accounted)
    reply = await survivor.body(BODY)
    assert len(common(reply).body_mutation.body) < len(BODY)
    assert set_headers(await survivor.response_headers())["x-trimwire-outcome"] == "compressed"
    assert await survivor.finish() == grpc.StatusCode.OK
    assert await victim.call.code() == grpc.StatusCode.CANCELLED
    metrics = await trimwire.metrics()
    assert sample_value(metrics, "trimwire_inflight_streams") == 0
    assert sample_value(metrics, "trimwire_requests_total", format="anthropic", outcome="compressed") == 1


async def test_a_reset_after_the_last_reply_is_how_envoy_ends_a_stream(trimwire: Harness) -> None:
    """Envoy resets each stream as soon as it has the response-headers reply: that is not counted
    as a cancelled stream (whether the server's status got there first or not), and the request is
    accounted as compressed."""
    stream = trimwire.stream()
    await stream.request_headers()
    await stream.body(BODY)
    assert set_headers(await stream.response_headers())["x-trimwire-outcome"] == "compressed"
    stream.call.cancel()
    assert await stream.call.code() in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED)

    async def accounted() -> bool:
        metrics = await trimwire.metrics()
        return sample_value(metrics, "trimwire_requests_total", format="anthropic", outcome="compressed") == 1 \
            and sample_value(metrics, "trimwire_inflight_streams") == 0

    await eventually(accounted)
    assert sample_value(await trimwire.metrics(), "trimwire_stream_errors_total", kind="cancelled") == 0


async def test_stream_fault_ends_only_that_stream(start_trimwire: StartTrimwire) -> None:
    """A server-side fault aborts its own stream with INTERNAL while a concurrent stream completes."""
    harness = await start_trimwire(factory=breaking_factory)
    broken, healthy = harness.stream(), harness.stream()
    await broken.request_headers()
    await healthy.request_headers()
    await broken.send_body(marked_body(BREAK))
    with pytest.raises(grpc.aio.AioRpcError) as aborted:
        await broken.call.read()
    assert aborted.value.code() == grpc.StatusCode.INTERNAL
    reply = await healthy.body(BODY)
    assert len(common(reply).body_mutation.body) < len(BODY)
    assert set_headers(await healthy.response_headers())["x-trimwire-outcome"] == "compressed"
    assert await healthy.finish() == grpc.StatusCode.OK
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_stream_errors_total", kind="AttributeError") == 1
