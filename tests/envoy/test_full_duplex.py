"""An Envoy in FULL_DUPLEX_STREAMED body mode in front of the shared trimwire: bodies arrive in
pieces, trimwire answers with streamed mutations, and the upstream gets a chunked body.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.upstream import Recorded, RecordingUpstream

from .bodies import anthropic_conversation, assert_only_tool_output_compressed, big_anthropic_conversation, dumps
from .stack import TEST_ID_HEADER, EnvoyProcess, TrimwireProcess, recorded, start_test_envoy

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def duplex_envoy(trimwire: TrimwireProcess, upstream: RecordingUpstream) -> Iterator[EnvoyProcess]:
    running = start_test_envoy(trimwire.grpc_port, upstream, body_mode="FULL_DUPLEX_STREAMED")
    yield running
    running.stop()


def send(envoy: EnvoyProcess, upstream: RecordingUpstream, path: str, raw: bytes) -> tuple[httpx.Response, Recorded]:
    test_id = uuid.uuid4().hex
    with httpx.Client(trust_env=False, timeout=120) as client:
        response = client.post(envoy.url + path, content=raw,
                               headers={"content-type": "application/json", TEST_ID_HEADER: test_id})
    [received] = recorded(upstream, test_id)
    return response, received


def assert_framed(received: Recorded) -> None:
    """The upstream body is chunked, or its content-length is the real length."""
    headers = received.headers
    if headers.get("transfer-encoding", "").lower() != "chunked":
        assert headers["content-length"] == str(len(received.body))


@pytest.mark.parametrize("size", [0, 1_500_000], ids=["agent-turn", "1.5MB"])
def test_compressible_request_arrives_compressed(duplex_envoy, upstream, size: int) -> None:
    """A compressible request, small or 1.5 MB, arrives compressed, valid and correctly framed."""
    body, compressible = big_anthropic_conversation(size) if size else anthropic_conversation()
    raw = dumps(body)
    response, received = send(duplex_envoy, upstream, "/v1/messages", raw)
    assert response.status_code == 200 and response.json()["type"] == "message"
    assert len(received.body) < len(raw)
    assert_framed(received)
    assert_only_tool_output_compressed(body, received.json(), compressible)


def test_client_sees_savings_headers(duplex_envoy, upstream) -> None:
    """In full duplex mode the savings still come back on the client response."""
    response, _ = send(duplex_envoy, upstream, "/v1/messages", dumps(anthropic_conversation()[0]))
    assert response.headers["x-trimwire-outcome"] == "compressed"
    assert int(response.headers["x-trimwire-tokens-saved"]) > 0


@pytest.mark.parametrize("path,cut", [("/v1/embeddings", 0), ("/v1/messages", 9)], ids=["unknown-path", "invalid-json"])
def test_passthrough_streams_byte_identical(duplex_envoy, upstream, path: str, cut: int) -> None:
    """Bodies that are not trimwire's stream through full duplex byte for byte, large ones too."""
    raw = dumps(big_anthropic_conversation(300_000)[0])
    raw = raw[:-cut] if cut else raw
    response, received = send(duplex_envoy, upstream, path, raw)
    assert response.status_code == 200
    assert received.body == raw
    assert_framed(received)
