"""FULL_DUPLEX_STREAMED: chunks in, nothing back until end of stream, then streamed replies."""

from __future__ import annotations

import grpc

from extproc.envoy_wire import STREAMED_CHUNK_BYTES

from .bodies import anthropic_body, assert_only_tool_output_shrank, encode, service_index
from .envoy_stream import EnvoyStream, removed_headers, set_headers
from .harness import Harness, sample_value

# Big enough that even the compressed body needs several streamed replies.
LARGE = anthropic_body(service_index(600))
LARGE_RAW = encode(LARGE)


def chunks(data: bytes, count: int) -> list[bytes]:
    size = -(-len(data) // count)
    return [data[i:i + size] for i in range(0, len(data), size)]


def small_chunks(data: bytes, size: int = 16 * 1024) -> list[bytes]:
    """Chunks below STREAMED_CHUNK_BYTES, as Envoy forwards them (one reply per chunk)."""
    return [data[i:i + size] for i in range(0, len(data), size)]


async def read_streamed(stream: EnvoyStream) -> list[tuple[bytes, bool]]:
    """Read streamed body replies up to the one that ends the stream."""
    pieces: list[tuple[bytes, bool]] = []
    while not pieces or not pieces[-1][1]:
        reply = await stream.reply()
        assert reply.WhichOneof("response") == "request_body"
        streamed = reply.request_body.response.body_mutation.streamed_response
        pieces.append((streamed.body, streamed.end_of_stream))
    return pieces


async def test_chunked_body_is_answered_once_with_compressed_stream(trimwire: Harness) -> None:
    """Chunks get no reply until end_of_stream; the replies then concatenate to the compressed body."""
    stream = trimwire.stream()
    await stream.request_headers(full_duplex=True)
    parts = chunks(LARGE_RAW, 5)
    for number, part in enumerate(parts, start=1):
        await stream.send_body(part, end_of_stream=number == len(parts))
    pieces = await read_streamed(stream)
    body = b"".join(piece for piece, _ in pieces)
    # Had any chunk been echoed before the end, the raw bytes would lead the concatenation.
    assert len(body) < len(LARGE_RAW)
    assert_only_tool_output_shrank(LARGE, body)
    assert [eos for _, eos in pieces] == [False] * (len(pieces) - 1) + [True]
    assert len(pieces) == -(-len(body) // STREAMED_CHUNK_BYTES) > 1
    assert all(len(piece) <= STREAMED_CHUNK_BYTES for piece, _ in pieces)
    client = set_headers(await stream.response_headers())
    assert client["x-trimwire-outcome"] == "compressed"
    assert int(client["x-trimwire-tokens-saved"]) > 0
    assert await stream.finish() == grpc.StatusCode.OK


async def test_content_length_is_removed_for_our_requests(trimwire: Harness) -> None:
    """In full-duplex mode the request headers reply removes content-length (the body may shrink)."""
    stream = trimwire.stream()
    reply = await stream.request_headers(full_duplex=True, headers={"content-length": str(len(LARGE_RAW))})
    assert "content-length" in removed_headers(reply)


async def test_passthrough_request_echoes_each_chunk(trimwire: Harness) -> None:
    """A request that is not ours gets every chunk back as it arrives, content-length kept."""
    stream = trimwire.stream()
    reply = await stream.request_headers("/v1/embeddings", full_duplex=True)
    assert "content-length" not in removed_headers(reply)
    parts = small_chunks(LARGE_RAW)
    for number, part in enumerate(parts, start=1):
        last = number == len(parts)
        await stream.send_body(part, end_of_stream=last)
        echoed = (await stream.reply()).request_body.response.body_mutation.streamed_response
        assert (echoed.body, echoed.end_of_stream) == (part, last)
    await stream.response_headers()
    assert await stream.finish() == grpc.StatusCode.OK


async def test_second_end_of_stream_is_not_processed_again(trimwire: Harness) -> None:
    """A duplicate end_of_stream gets no reply and the body is compressed exactly once."""
    stream = trimwire.stream()
    await stream.request_headers(full_duplex=True)
    await stream.send_body(LARGE_RAW, end_of_stream=True)
    first = b"".join(piece for piece, _ in await read_streamed(stream))
    await stream.send_body(b"", end_of_stream=True)
    await stream.send_body(LARGE_RAW[:100], end_of_stream=True)
    # The next reply must answer the response headers, not the duplicates.
    assert (await stream.response_headers()).WhichOneof("response") == "response_headers"
    assert await stream.finish() == grpc.StatusCode.OK
    assert len(first) < len(LARGE_RAW)
    metrics = await trimwire.metrics()
    assert sample_value(metrics, "trimwire_stage_seconds_count", stage="total") == 1
    assert sample_value(metrics, "trimwire_requests_total", format="anthropic", outcome="compressed") == 1


async def test_body_completed_by_trailers_is_compressed(trimwire: Harness) -> None:
    """A body whose end is signalled by request trailers is compressed, then trailers answered."""
    stream = trimwire.stream()
    await stream.request_headers(full_duplex=True)
    for part in chunks(LARGE_RAW, 3):
        await stream.send_body(part, end_of_stream=False)
    await stream.send_trailers()
    body = b"".join(piece for piece, _ in await read_streamed(stream))
    assert_only_tool_output_shrank(LARGE, body)
    assert (await stream.reply()).WhichOneof("response") == "request_trailers"
