"""Failing open through a real Envoy: trimwire killed with SIGKILL between requests, and a
compressor that raises inside a running server. Each case has its own trimwire and Envoy so the
shared stack is never harmed.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import httpx
import pytest

from extproc.compress import BodyEngine
from extproc.compressors.content_types import ROUTER
from extproc.config import Settings, load_settings
from extproc.pipeline import BlockInputs, Budget, Pipeline, Policy, Routes
from extproc.pipeline.router import ContentType
from extproc.server import TrimwireServer, start_server
from extproc.workers import WorkerPool
from tests.upstream import RecordingUpstream

from .bodies import anthropic_conversation, dumps
from .stack import (
    TEST_ID_HEADER,
    EnvoyProcess,
    child_pids,
    metric_value,
    process_gone,
    recorded,
    start_test_envoy,
    start_trimwire,
    wait_until,
)

pytestmark = pytest.mark.envoy

REQUESTS_BEFORE_KILL = 5
REQUESTS_AFTER_KILL = 20


@dataclass
class KillRun:
    """What happened to a run of requests with trimwire SIGKILLed in the middle."""

    raw: bytes
    before: list[tuple[int, bytes, str]] = field(default_factory=list)   # status, upstream body, outcome
    after: list[tuple[int, bytes, str]] = field(default_factory=list)
    failures: int = 0
    server_children: list[int] = field(default_factory=list)


def _post(client: httpx.Client, envoy: EnvoyProcess, upstream: RecordingUpstream, raw: bytes):
    test_id = uuid.uuid4().hex
    response = client.post(envoy.url + "/v1/messages", content=raw,
                           headers={"content-type": "application/json", TEST_ID_HEADER: test_id})
    received = recorded(upstream, test_id)
    return response, (received[0].body if len(received) == 1 else b"")


@pytest.fixture(scope="module")
def kill_run(tmp_path_factory: pytest.TempPathFactory, upstream: RecordingUpstream,
             envoy_binary: str) -> Iterator[KillRun]:
    trimwire = start_trimwire(tmp_path_factory.mktemp("killed"), workers=1)
    envoy = None
    try:
        envoy = start_test_envoy(trimwire.grpc_port, upstream)
        run = KillRun(raw=dumps(anthropic_conversation()[0]))
        with httpx.Client(trust_env=False, timeout=120) as client:
            for number in range(REQUESTS_BEFORE_KILL + REQUESTS_AFTER_KILL):
                if number == REQUESTS_BEFORE_KILL:
                    run.server_children = child_pids(trimwire.proc.pid)
                    trimwire.proc.kill()
                    trimwire.proc.wait()
                try:
                    response, body = _post(client, envoy, upstream, run.raw)
                except httpx.HTTPError:
                    run.failures += 1
                    continue
                run.failures += response.status_code != 200
                outcome = response.headers.get("x-trimwire-outcome", "")
                (run.before if number < REQUESTS_BEFORE_KILL else run.after).append(
                    (response.status_code, body, outcome))
        yield run
    finally:
        if envoy is not None:
            envoy.stop()
        trimwire.stop()


def test_requests_compressed_before_kill(kill_run: KillRun) -> None:
    """While trimwire runs, the requests of the run are compressed."""
    assert len(kill_run.before) == REQUESTS_BEFORE_KILL
    assert all(outcome == "compressed" and 0 < len(body) < len(kill_run.raw)
               for _, body, outcome in kill_run.before)


def test_no_request_fails_after_kill(kill_run: KillRun) -> None:
    """With failure_mode_allow, every request after the SIGKILL succeeds."""
    assert kill_run.failures == 0
    assert [status for status, _, _ in kill_run.after] == [200] * REQUESTS_AFTER_KILL


def test_original_body_reaches_upstream_after_kill(kill_run: KillRun) -> None:
    """After the SIGKILL the upstream receives each original body byte for byte, without savings headers."""
    assert all(body == kill_run.raw and outcome == "" for _, body, outcome in kill_run.after)


def test_compression_workers_die_with_killed_server(kill_run: KillRun) -> None:
    """The SIGKILLed server's worker processes do not outlive it."""
    assert kill_run.server_children, "the server had no worker processes to check"
    for pid in kill_run.server_children:
        wait_until(partial(process_gone, pid), f"worker {pid} to exit", timeout=30)


class ExplodingCompressor:
    """A compressor that applies to everything and always raises."""

    name = "exploding"

    then = None

    def applies(self, block: BlockInputs) -> bool:
        return True

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        raise RuntimeError("compressor bug")


def exploding_compressor(settings: Settings) -> BodyEngine:
    """A BodyEngine factory whose pipeline raises on the first released block."""
    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars)
    return BodyEngine(settings, Pipeline(policy, Routes(ROUTER, dict.fromkeys(ContentType, [ExplodingCompressor()]))))


class ThreadedServer:
    """An in-process trimwire server on its own event loop in a background thread."""

    def __init__(self, settings: Settings, workers: WorkerPool) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="trimwire-loop", daemon=True)
        self.thread.start()
        self.server: TrimwireServer = self._call(start_server(settings, workers=workers))

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def stop(self) -> None:
        try:
            self._call(self.server.stop(1))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()


@pytest.fixture(scope="module")
def exploding_stack(upstream: RecordingUpstream, envoy_binary: str) -> Iterator[tuple[ThreadedServer, EnvoyProcess]]:
    settings = load_settings(env={}, grpc_address="127.0.0.1:0", metrics_address="127.0.0.1:0",
                             api_address="127.0.0.1:0", workers=0,
                             log_level="warning")
    server = ThreadedServer(settings, WorkerPool(settings, factory=exploding_compressor))
    envoy = None
    try:
        envoy = start_test_envoy(server.server.grpc_port, upstream)
        yield server, envoy
    finally:
        if envoy is not None:
            envoy.stop()
        server.stop()


def test_compressor_exception_fails_open(exploding_stack, upstream: RecordingUpstream) -> None:
    """A compressor raising inside trimwire still lets the request through, body byte-identical."""
    server, envoy = exploding_stack
    raw = dumps(anthropic_conversation()[0])
    with httpx.Client(trust_env=False, timeout=120) as client:
        response, body = _post(client, envoy, upstream, raw)
    assert response.status_code == 200 and response.json()["type"] == "message"
    assert body == raw
    assert response.headers["x-trimwire-outcome"] == "failed_open"
    ops = f"http://127.0.0.1:{server.server.ops_port}"
    wait_until(lambda: metric_value(ops, "trimwire_failed_open_total", {"reason": "RuntimeError"}) == 1,
               "failed_open{reason=RuntimeError} to count the request", timeout=30)
