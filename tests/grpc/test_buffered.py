"""BUFFERED mode: the whole body in one message, one body reply, savings on both phases."""

from __future__ import annotations

import gzip
import json

import grpc
import pytest
import zstandard

from .bodies import (
    STALE_READ,
    anthropic_body,
    assert_only_tool_output_shrank,
    encode,
    openai_body,
    service_listing,
    stale_read_body,
)
from .envoy_stream import OPENAI_PATH, common, removed_headers, set_headers
from .harness import Harness

SAVINGS = ("x-trimwire-outcome", "x-trimwire-tokens-before", "x-trimwire-tokens-after",
           "x-trimwire-tokens-saved", "x-trimwire-ratio", "x-trimwire-ms")


class TestCompression:
    async def test_anthropic_body_is_compacted_with_matching_content_length(self, trimwire: Harness) -> None:
        """A pretty-JSON tool_result comes back compacted, with content-length equal to the new body."""
        sent = anthropic_body(service_listing())
        raw = encode(sent)
        stream = trimwire.stream()
        await stream.request_headers()
        reply = await stream.body(raw)
        mutated = common(reply).body_mutation.body
        assert_only_tool_output_shrank(sent, mutated)
        assert len(mutated) < len(raw)
        assert set_headers(reply)["content-length"] == str(len(mutated))

    async def test_body_reply_and_response_headers_carry_the_same_savings(self, trimwire: Harness) -> None:
        """Tokens before/after/saved, ratio, outcome and the milliseconds trimwire took are set
        upstream and returned to the client."""
        stream = trimwire.stream()
        await stream.request_headers()
        upstream = set_headers(await stream.body(encode(anthropic_body(service_listing()))))
        client = set_headers(await stream.response_headers())
        assert await stream.finish() == grpc.StatusCode.OK
        savings = {name: upstream[name] for name in SAVINGS}
        assert {name: client[name] for name in SAVINGS} == savings
        before, after = int(savings["x-trimwire-tokens-before"]), int(savings["x-trimwire-tokens-after"])
        assert savings["x-trimwire-outcome"] == "compressed"
        assert 0 < after < before
        assert int(savings["x-trimwire-tokens-saved"]) == before - after
        assert float(savings["x-trimwire-ratio"]) == round(after / before, 4)
        assert 0 < float(savings["x-trimwire-ms"]) < 30_000

    async def test_openai_tool_message_is_compacted(self, trimwire: Harness) -> None:
        """A role:tool message of pretty JSON on the chat completions path is compacted."""
        sent = openai_body(service_listing())
        stream = trimwire.stream()
        await stream.request_headers(OPENAI_PATH)
        reply = await stream.body(encode(sent))
        assert_only_tool_output_shrank(sent, common(reply).body_mutation.body)
        assert set_headers(reply)["x-trimwire-outcome"] == "compressed"

    async def test_gateway_prefix_path_is_compressed(self, trimwire: Harness) -> None:
        """A gateway route like /llm/ext-opus/v1/messages is recognised by its suffix."""
        sent = anthropic_body(service_listing())
        stream = trimwire.stream()
        await stream.request_headers("/llm/ext-opus/v1/messages")
        reply = await stream.body(encode(sent))
        assert_only_tool_output_shrank(sent, common(reply).body_mutation.body)

    async def test_body_without_compressible_content_is_left_alone(self, trimwire: Harness) -> None:
        """A body with nothing to shrink gets no body mutation and outcome unchanged."""
        stream = trimwire.stream()
        await stream.request_headers()
        reply = await stream.body(encode(anthropic_body('{"ok":true}')))
        assert not common(reply).HasField("body_mutation")
        assert "content-length" not in set_headers(reply)
        assert set_headers(reply)["x-trimwire-outcome"] == "unchanged"


class TestClientHeaders:
    async def test_client_sent_trimwire_headers_are_removed(self, trimwire: Harness) -> None:
        """x-trimwire-* headers from the client are removed; others are not touched."""
        stream = trimwire.stream()
        reply = await stream.request_headers(headers={
            "x-trimwire-tokens-saved": "999999", "x-trimwire-outcome": "compressed",
            "authorization": "Bearer sk-test"})
        removed = removed_headers(reply)
        assert {"x-trimwire-tokens-saved", "x-trimwire-outcome"} <= set(removed)
        assert all(name.startswith("x-trimwire-") for name in removed)
        assert "content-length" not in removed  # BUFFERED: Envoy needs it, we set it with the body


class TestModeHeader:
    @pytest.mark.parametrize(("value", "token"), [
        ("token", True), (" Token ", True), ("cache", False), (None, False), ("tokens", False), ("", False)])
    async def test_header_picks_the_mode(self, trimwire: Harness, value: str | None, token: bool) -> None:
        """x-trimwire-mode: token turns a stale file read into a marker; cache, no header or a bad value does not."""
        sent = stale_read_body()
        stream = trimwire.stream()
        await stream.request_headers(headers={} if value is None else {"x-trimwire-mode": value})
        reply = await stream.body(encode(sent))
        if token:
            expected = stale_read_body()
            expected["messages"][2]["content"][0]["content"] = STALE_READ
            assert json.loads(common(reply).body_mutation.body) == expected
        else:
            assert not common(reply).HasField("body_mutation")

    async def test_header_is_not_forwarded(self, trimwire: Harness) -> None:
        """The mode header is ours: it is removed before the request goes upstream."""
        stream = trimwire.stream()
        reply = await stream.request_headers(headers={"x-trimwire-mode": "token"})
        assert "x-trimwire-mode" in removed_headers(reply)


class TestContentEncoding:
    async def test_gzip_body_comes_back_gzip(self, trimwire: Harness) -> None:
        """A gzip request body is decoded, compressed and re-encoded as gzip."""
        sent = anthropic_body(service_listing())
        raw = gzip.compress(encode(sent))
        stream = trimwire.stream()
        await stream.request_headers(headers={"content-encoding": "gzip"})
        reply = await stream.body(raw)
        mutated = common(reply).body_mutation.body
        assert mutated[:2] == b"\x1f\x8b"
        assert_only_tool_output_shrank(sent, gzip.decompress(mutated))
        assert set_headers(reply)["content-length"] == str(len(mutated))
        assert "content-encoding" not in removed_headers(reply)

    async def test_zstd_body_comes_back_zstd(self, trimwire: Harness) -> None:
        """A zstd request body (as Codex sends) is decoded, compressed and re-encoded as zstd."""
        sent = openai_body(service_listing())
        raw = zstandard.ZstdCompressor().compress(encode(sent))
        stream = trimwire.stream()
        await stream.request_headers(OPENAI_PATH, headers={"content-encoding": "zstd"})
        reply = await stream.body(raw)
        mutated = common(reply).body_mutation.body
        assert mutated[:4] == b"\x28\xb5\x2f\xfd"
        plain = zstandard.ZstdDecompressor().decompressobj().decompress(mutated)
        assert_only_tool_output_shrank(sent, plain)
        assert set_headers(reply)["content-length"] == str(len(mutated))
