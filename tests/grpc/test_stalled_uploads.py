"""Clients that send their request headers and stall never take every stream thread (issue 20,
defect 4): past half of stream_threads, the stream that has waited longest for its body is
cancelled, so health answers and new requests are compressed."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2

from .bodies import anthropic_body, encode, service_listing
from .conftest import StartTrimwire
from .envoy_stream import common
from .harness import sample_value

THREADS = 8


async def test_stalled_uploads_leave_threads_for_health_and_new_requests(start_trimwire: StartTrimwire) -> None:
    """Eight streams (as many as stream_threads) send headers and no body. The four that waited
    longest are cancelled; the gRPC health check answers and a new request is compressed (before,
    every thread was held: health and new requests waited for one)."""
    harness = await start_trimwire(stream_threads=THREADS)
    stalled = [harness.stream() for _ in range(THREADS)]
    for stream in stalled:
        await stream.request_headers()
    reply = await harness.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=20)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    fresh = harness.stream()
    await asyncio.wait_for(fresh.request_headers(), 20)
    body = encode(anthropic_body(service_listing()))
    compressed = common(await asyncio.wait_for(fresh.body(body), 20))
    assert len(compressed.body_mutation.body) < len(body)
    codes = []
    for stream in stalled[:THREADS // 2]:
        codes.append(await asyncio.wait_for(stream.call.code(), 20))
    assert set(codes) == {grpc.StatusCode.CANCELLED}
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_stream_errors_total", kind="body_wait_evicted") >= THREADS // 2
    for stream in stalled:
        stream.call.cancel()
