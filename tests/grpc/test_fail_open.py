"""Fail open: when compression breaks or runs out of time the original body goes upstream."""

from __future__ import annotations

import asyncio

import grpc

from extproc import BodyRequest, Settings, build_engine
from tests.redis_server import pause, requires_redis, running_redis
from tests.shelf import SHELF

from .bodies import anthropic_body, encode, marked_body, service_listing
from .conftest import StartTrimwire
from .envoy_stream import common, set_headers
from .faulty import (
    BLOW_UP,
    CRASH,
    EXPLODE,
    SLEEP,
    SLEEP_SECONDS,
    STALL,
    STALL_RELEASE,
    STUCK,
    blowing_up_factory,
    crashing_factory,
    raising_factory,
    sleeping_factory,
    stalling_factory,
    stuck_factory,
)
from .harness import Harness, sample_value

HEALTHY = encode(anthropic_body(service_listing()))


async def one_request(harness: Harness, body: bytes) -> tuple[object, dict[str, str]]:
    """A full buffered request; returns the body reply's CommonResponse and the client headers."""
    stream = harness.stream()
    await stream.request_headers()
    reply = common(await stream.body(body))
    client = set_headers(await stream.response_headers())
    assert await stream.finish() == grpc.StatusCode.OK
    return reply, client


async def test_raising_compressor_fails_open_and_server_keeps_compressing(start_trimwire: StartTrimwire) -> None:
    """A stage that raises sends the original body on, counts it, and the next stream still compresses."""
    harness = await start_trimwire(factory=raising_factory)
    reply, client = await one_request(harness, marked_body(EXPLODE))
    assert not reply.HasField("body_mutation")
    assert client["x-trimwire-outcome"] == "failed_open"
    assert "x-trimwire-tokens-saved" not in client
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_failed_open_total", reason="RuntimeError") == 1
    assert sample_value(metrics, "trimwire_requests_total", format="anthropic", outcome="failed_open") == 1

    reply, client = await one_request(harness, HEALTHY)
    assert len(reply.body_mutation.body) < len(HEALTHY)
    assert client["x-trimwire-outcome"] == "compressed"


async def test_compressor_past_the_deadline_fails_open(start_trimwire: StartTrimwire) -> None:
    """A stage slower than request_deadline_ms fails open with reason deadline."""
    STALL_RELEASE.clear()
    harness = await start_trimwire(factory=stalling_factory, request_deadline_ms=200)
    try:
        reply, client = await one_request(harness, marked_body(STALL))
    finally:
        STALL_RELEASE.set()
    assert not reply.HasField("body_mutation")
    assert client["x-trimwire-outcome"] == "failed_open"
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_failed_open_total", reason="deadline") == 1

    reply, client = await one_request(harness, HEALTHY)
    assert client["x-trimwire-outcome"] == "compressed"


async def test_process_pool_compresses_and_fails_open(start_trimwire: StartTrimwire) -> None:
    """With workers=1 bodies compress in a worker process, and a failure there still fails open."""
    harness = await start_trimwire(factory=raising_factory, workers=1)
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_compression_workers") == 1
    reply, client = await one_request(harness, HEALTHY)
    assert len(reply.body_mutation.body) < len(HEALTHY)
    assert client["x-trimwire-outcome"] == "compressed"

    reply, client = await one_request(harness, marked_body(EXPLODE))
    assert not reply.HasField("body_mutation")
    assert client["x-trimwire-outcome"] == "failed_open"
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_failed_open_total", reason="RuntimeError") == 1


async def test_dead_worker_process_fails_open_and_pool_recovers(start_trimwire: StartTrimwire) -> None:
    """A worker process that dies mid-body fails that request open; the rebuilt pool compresses the next."""
    harness = await start_trimwire(factory=crashing_factory, workers=1, request_deadline_ms=30_000)
    reply, client = await one_request(harness, marked_body(CRASH))
    assert not reply.HasField("body_mutation")
    assert client["x-trimwire-outcome"] == "failed_open"
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_failed_open_total", reason="BrokenProcessPool") == 1

    reply, client = await one_request(harness, HEALTHY)
    assert len(reply.body_mutation.body) < len(HEALTHY)
    assert client["x-trimwire-outcome"] == "compressed"


async def test_only_the_dead_worker_process_is_replaced(start_trimwire: StartTrimwire) -> None:
    """Of two worker processes, the one that dies is replaced; the other keeps running (and its
    caches), and both serve the requests after."""
    harness = await start_trimwire(factory=crashing_factory, workers=2, request_deadline_ms=30_000)
    before = set(harness.server.workers.pids)
    reply, client = await one_request(harness, marked_body(CRASH))
    assert client["x-trimwire-outcome"] == "failed_open"
    for _ in range(4):
        reply, client = await one_request(harness, HEALTHY)
        assert client["x-trimwire-outcome"] == "compressed"
    after = set(harness.server.workers.pids)
    assert len(before) == len(after) == 2 and len(before & after) == 1


async def test_a_worker_past_the_deadline_is_cancelled_then_serves(start_trimwire: StartTrimwire) -> None:
    """A body whose compression outlasts request_deadline_ms fails open and its job is cancelled
    at the deadline; the same worker process compresses the next request (queued meanwhile)."""
    harness = await start_trimwire(factory=sleeping_factory, workers=1, request_deadline_ms=1_000)
    assert SLEEP_SECONDS * 1000 > 1_000
    pids = harness.server.workers.pids
    reply, client = await one_request(harness, marked_body(SLEEP))
    assert client["x-trimwire-outcome"] == "failed_open" and not reply.HasField("body_mutation")
    reply, client = await one_request(harness, HEALTHY)
    assert client["x-trimwire-outcome"] == "compressed" and len(reply.body_mutation.body) < len(HEALTHY)
    assert harness.server.workers.pids == pids  # the same process: cancelled, not killed
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_failed_open_total", reason="deadline") == 1
    assert sample_value(metrics, "trimwire_failed_open_total", reason="BrokenProcessPool") == 0


async def test_a_worker_stuck_past_the_deadline_is_replaced(start_trimwire: StartTrimwire) -> None:
    """A job stuck where the cancel cannot reach (30 s in native code, the signal blocked) does not
    keep its worker: it is killed soon after the deadline and a fresh one compresses the next
    requests, long before the stuck job would have ended."""
    harness = await start_trimwire(factory=stuck_factory, workers=1, request_deadline_ms=500)
    pids = harness.server.workers.pids
    reply, client = await one_request(harness, marked_body(STUCK))
    assert client["x-trimwire-outcome"] == "failed_open"
    for _ in range(300):  # the replacement starts in seconds; the stuck job would take 30
        if harness.server.workers.pids != pids and (await one_request(harness, HEALTHY))[1][
                "x-trimwire-outcome"] == "compressed":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("no worker compressed within 30 s of the stuck job")
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_failed_open_total", reason="BrokenProcessPool") == 0


async def test_memory_blow_up_fails_only_that_request(start_trimwire: StartTrimwire) -> None:
    """With worker_memory_mb set, a stage that tries to take 4 GiB fails open with MemoryError; the
    same worker process goes on compressing."""
    harness = await start_trimwire(factory=blowing_up_factory, workers=1, worker_memory_mb=1024,
                                   request_deadline_ms=30_000)
    reply, client = await one_request(harness, HEALTHY)
    assert client["x-trimwire-outcome"] == "compressed"
    reply, client = await one_request(harness, marked_body(BLOW_UP))
    assert not reply.HasField("body_mutation") and client["x-trimwire-outcome"] == "failed_open"
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_failed_open_total", reason="MemoryError") == 1
    assert sample_value(metrics, "trimwire_failed_open_total", reason="BrokenProcessPool") == 0
    reply, client = await one_request(harness, HEALTHY)
    assert len(reply.body_mutation.body) < len(HEALTHY) and client["x-trimwire-outcome"] == "compressed"


async def test_redis_down_costs_nothing_but_shared_hits(start_trimwire: StartTrimwire) -> None:
    """A server whose redis_url points at nothing still compresses every request, and counts the error."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    harness = await start_trimwire(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_ms=50)
    for _ in range(2):
        reply, client = await one_request(harness, HEALTHY)
        assert len(reply.body_mutation.body) < len(HEALTHY) and client["x-trimwire-outcome"] == "compressed"
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_block_cache_total", result="shared_error") >= 1
    assert sample_value(metrics, "trimwire_block_cache_total", result="message_hit") >= 1


@requires_redis
async def test_slow_redis_under_load_is_given_up_on_and_the_local_path_serves(start_trimwire: StartTrimwire) -> None:
    """A real Redis made slow, not down (CLIENT PAUSE: it accepts connections and queues commands,
    answering none), while 24 requests run at once through two worker processes: every request is
    answered and compressed, byte for byte as without a Redis, none fails open, and the timeouts
    are counted as shared_error. The deadline is far above redis_timeout_ms and far below the
    pause, so a Redis call left waiting for the pause would show as a deadline fail-open."""
    bodies = [marked_body(f"tenant-{n % 8}") for n in range(24)]  # blocks new to the caches
    local = build_engine(Settings(workers=0), shelf=SHELF)
    expected = {body: local.run(body, BodyRequest("anthropic")).body for body in set(bodies)}
    with running_redis() as url:
        harness = await start_trimwire(redis_url=url, redis_timeout_ms=50, workers=2, request_deadline_ms=10_000)
        _, client = await one_request(harness, HEALTHY)
        assert client["x-trimwire-outcome"] == "compressed"
        assert sample_value(await harness.metrics(), "trimwire_block_cache_total", result="shared_miss") >= 1

        pause(url, seconds=60)  # outlasts the test: redis-server is stopped while still paused
        # a generous bound against a hang, not a latency check
        answers = await asyncio.wait_for(asyncio.gather(*(one_request(harness, body) for body in bodies)), 60)
        for body, (reply, client) in zip(bodies, answers):
            assert client["x-trimwire-outcome"] == "compressed"
            assert reply.body_mutation.body == expected[body]
    metrics = await harness.metrics()
    assert sum(sample.value for sample in metrics["trimwire_failed_open_total"].samples) == 0
    assert sample_value(metrics, "trimwire_requests_total", format="anthropic", outcome="compressed") == 25
    assert sample_value(metrics, "trimwire_block_cache_total", result="shared_error") >= 1
