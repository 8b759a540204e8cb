"""trimwire stopped in the middle of concurrent traffic through a real Envoy: SIGTERM (a drain) and
SIGKILL (a crash). With failure_mode_allow no client request fails, and the upstream receives a
valid body every time: compressed before the stop, the original after (a request caught by the
stop between its body and its response headers goes upstream compressed without savings headers)."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from tests.upstream import RecordingUpstream

from .bodies import anthropic_conversation, assert_only_tool_output_compressed, dumps
from .stack import TEST_ID_HEADER, recorded, start_test_envoy, start_trimwire

pytestmark = pytest.mark.envoy

CLIENTS = 4
REQUESTS_PER_CLIENT = 12
STOP_AFTER = 12   # requests answered, over all clients, before the signal is sent


@dataclass
class Run:
    raw: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    outcomes: list[tuple[str, bytes]] = field(default_factory=list)   # savings header, upstream body
    stopped: threading.Event = field(default_factory=threading.Event)


def client_loop(run: Run, url: str, upstream: RecordingUpstream) -> None:
    with httpx.Client(trust_env=False, timeout=120) as client:
        for _ in range(REQUESTS_PER_CLIENT):
            test_id = uuid.uuid4().hex
            try:
                response = client.post(url + "/v1/messages", content=run.raw,
                                       headers={"content-type": "application/json", TEST_ID_HEADER: test_id})
            except httpx.HTTPError as exc:
                with run.lock:
                    run.failures.append(type(exc).__name__)
                continue
            received = recorded(upstream, test_id)
            with run.lock:
                run.answered += 1
                if response.status_code != 200 or len(received) != 1:
                    run.failures.append(f"status {response.status_code}, {len(received)} upstream")
                    continue
                run.outcomes.append((response.headers.get("x-trimwire-outcome", ""), received[0].body))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stop_under_concurrent_load_fails_no_request(sig, tmp_path, upstream: RecordingUpstream,
                                                     envoy_binary: str) -> None:
    """Every request of four concurrent clients succeeds across the stop, with a valid body upstream."""
    trimwire = start_trimwire(tmp_path, workers=1)
    envoy = start_test_envoy(trimwire.grpc_port, upstream)
    run = Run(raw=dumps(anthropic_conversation()[0]))
    try:
        clients = [threading.Thread(target=client_loop, args=(run, envoy.url, upstream)) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        while True:  # send the signal once enough requests went through; never a timing check
            with run.lock:
                if run.answered >= STOP_AFTER or not any(t.is_alive() for t in clients):
                    break
            threading.Event().wait(0.01)
        trimwire.proc.send_signal(sig)
        for thread in clients:
            thread.join(300)
        trimwire.proc.wait(60)
    finally:
        envoy.stop()
        trimwire.stop()
    assert run.failures == []
    assert len(run.outcomes) == CLIENTS * REQUESTS_PER_CLIENT
    _, paths = anthropic_conversation()
    for outcome, body in run.outcomes:
        assert outcome in ("compressed", "")
        if body != run.raw:
            # Compressed: a request whose stream the stop cut after the body reply (so its savings
            # header never reached the client) still went upstream compressed and valid.
            assert_only_tool_output_compressed(json.loads(run.raw), json.loads(body), paths)
    assert any(outcome == "compressed" for outcome, _ in run.outcomes)
    assert any(outcome == "" and body == run.raw for outcome, body in run.outcomes)
