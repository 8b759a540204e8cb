"""Requests trimwire must not touch: the body reply never carries a body mutation."""

from __future__ import annotations

import gzip

import grpc
import pytest

from .bodies import anthropic_body, encode, service_listing
from .envoy_stream import ANTHROPIC_PATH, common, set_headers
from .harness import Harness, sample_value

COMPRESSIBLE = encode(anthropic_body(service_listing()))


async def run_passthrough(harness: Harness, body: bytes, path: str = ANTHROPIC_PATH,
                          method: str = "POST", headers: dict | None = None) -> dict[str, str]:
    """Drive one full buffered request, check the body is untouched, return the client headers."""
    stream = harness.stream()
    await stream.request_headers(path, method=method, headers=headers)
    reply = await stream.body(body)
    assert reply.WhichOneof("response") == "request_body"
    assert not common(reply).HasField("body_mutation")
    assert "content-length" not in set_headers(reply)
    client = set_headers(await stream.response_headers())
    assert await stream.finish() == grpc.StatusCode.OK
    return client


@pytest.mark.parametrize(("path", "method", "headers", "reason"), [
    ("/v1/embeddings", "POST", {}, "unknown_path"),
    (ANTHROPIC_PATH, "GET", {}, "method"),
    (ANTHROPIC_PATH, "POST", {"content-type": "text/plain"}, "content_type"),
    (ANTHROPIC_PATH, "POST", {"content-type": None}, "content_type"),
])
async def test_request_not_ours_passes_through(trimwire: Harness, path: str, method: str,
                                               headers: dict, reason: str) -> None:
    """A compressible body on a request that is not ours passes through with its reason counted."""
    client = await run_passthrough(trimwire, COMPRESSIBLE, path, method, headers)
    assert client == {"x-trimwire-outcome": "passthrough"}
    metrics = await trimwire.metrics()
    assert sample_value(metrics, "trimwire_passthrough_total", reason=reason) == 1


async def test_headers_with_end_of_stream_pass_through(trimwire: Harness) -> None:
    """A request without a body gets a plain headers reply and counts as passthrough no_body."""
    stream = trimwire.stream()
    reply = await stream.request_headers(end_of_stream=True)
    assert reply.WhichOneof("response") == "request_headers"
    assert not common(reply).HasField("body_mutation")
    assert set_headers(await stream.response_headers()) == {"x-trimwire-outcome": "passthrough"}
    assert await stream.finish() == grpc.StatusCode.OK
    metrics = await trimwire.metrics()
    assert sample_value(metrics, "trimwire_passthrough_total", reason="no_body") == 1


@pytest.mark.parametrize(("body", "headers", "reason"), [
    (b'{"model": "claude", "messages": [', {}, "invalid_json"),
    (b"\xff\xfe not utf-8", {}, "invalid_json"),
    (gzip.compress(COMPRESSIBLE)[:-40] + b"\x00" * 40, {"content-encoding": "gzip"}, "corrupt_encoding"),
    (gzip.compress(COMPRESSIBLE)[:200], {"content-encoding": "gzip"}, "corrupt_encoding"),
    (COMPRESSIBLE, {"content-encoding": "br"}, "unsupported_encoding"),
])
async def test_body_we_cannot_read_passes_through(trimwire: Harness, body: bytes, headers: dict,
                                                  reason: str) -> None:
    """Invalid JSON or a corrupt or unknown encoding goes upstream untouched."""
    client = await run_passthrough(trimwire, body, headers=headers)
    assert client == {"x-trimwire-outcome": "passthrough"}
    metrics = await trimwire.metrics()
    assert sample_value(metrics, "trimwire_passthrough_total", reason=reason) == 1


async def test_bypass_header_skips_compression(trimwire: Harness) -> None:
    """x-trimwire-bypass: true forwards the body untouched with outcome bypassed."""
    client = await run_passthrough(trimwire, COMPRESSIBLE, headers={"x-trimwire-bypass": "true"})
    assert client == {"x-trimwire-outcome": "bypassed"}
    metrics = await trimwire.metrics()
    assert sample_value(metrics, "trimwire_requests_total", format="anthropic", outcome="bypassed") == 1


async def test_bypass_header_false_still_compresses(trimwire: Harness) -> None:
    """x-trimwire-bypass: false does not bypass."""
    stream = trimwire.stream()
    await stream.request_headers(headers={"x-trimwire-bypass": "false"})
    reply = await stream.body(COMPRESSIBLE)
    assert common(reply).HasField("body_mutation")
    assert set_headers(reply)["x-trimwire-outcome"] == "compressed"


async def test_bypass_header_is_ignored_when_bypass_is_disabled(start_trimwire) -> None:
    """With bypass_enabled false a client cannot opt out: x-trimwire-bypass: true is compressed anyway."""
    harness = await start_trimwire(bypass_enabled=False)
    stream = harness.stream()
    await stream.request_headers(headers={"x-trimwire-bypass": "true"})
    reply = await stream.body(COMPRESSIBLE)
    assert common(reply).HasField("body_mutation")
    assert set_headers(reply)["x-trimwire-outcome"] == "compressed"


@pytest.mark.parametrize(("user", "outcome"), [("alice", "bypassed"), ("mallory", "compressed"), (None, "compressed")])
async def test_bypass_header_is_honoured_only_for_listed_users(start_trimwire, user: str | None,
                                                               outcome: str) -> None:
    """With bypass_users set, x-trimwire-bypass: true skips compression for a listed user only;
    an unlisted user, or a request naming none, is compressed as if it had not asked."""
    harness = await start_trimwire(bypass_users=["alice", "ci-bot"])
    stream = harness.stream()
    await stream.request_headers(headers={"x-trimwire-bypass": "true", "x-maas-username": user})
    reply = await stream.body(COMPRESSIBLE)
    assert common(reply).HasField("body_mutation") is (outcome == "compressed")
    assert set_headers(await stream.response_headers())["x-trimwire-outcome"] == outcome
    assert await stream.finish() == grpc.StatusCode.OK
    metrics = await harness.metrics()
    assert sample_value(metrics, "trimwire_requests_total", format="anthropic", outcome=outcome) == 1
