"""A small stand-in for Envoy's side of one ext_proc stream, driven over a real grpc.aio channel.

It sends what Envoy sends (request headers with pseudo-headers and ``raw_value`` bytes, the body,
trailers, response headers) and hands back the raw ``ProcessingResponse``s; tests judge them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc

__all__ = ["EnvoyStream", "ANTHROPIC_PATH", "OPENAI_PATH", "common", "set_headers", "removed_headers"]

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"
FULL_DUPLEX = processing_mode_pb2.ProcessingMode.FULL_DUPLEX_STREAMED
_request_ids = itertools.count(1)


def _header_map(headers: Mapping[str, str | None]) -> base_pb2.HeaderMap:
    return base_pb2.HeaderMap(headers=[
        base_pb2.HeaderValue(key=key, raw_value=value.encode("utf-8"))
        for key, value in headers.items() if value is not None
    ])


class EnvoyStream:
    """One ``Process`` call: each method sends one message and (mostly) reads the reply."""

    def __init__(self, stub: pb_grpc.ExternalProcessorStub) -> None:
        self.call = stub.Process()
        self.request_id = f"req-{next(_request_ids):04d}"

    async def reply(self) -> pb.ProcessingResponse:
        message = await self.call.read()
        assert message is not grpc.aio.EOF, "stream ended where a reply was due"
        return message

    async def request_headers(self, path: str = ANTHROPIC_PATH, *, method: str = "POST",
                              headers: Mapping[str, str | None] | None = None,
                              end_of_stream: bool = False, full_duplex: bool = False) -> pb.ProcessingResponse:
        """Envoy's first message; ``headers`` adds to or (with None) drops the defaults."""
        values: dict[str, str | None] = {
            ":path": path, ":method": method, ":authority": "gateway.local", ":scheme": "http",
            "content-type": "application/json", "x-request-id": self.request_id,
            "x-maas-username": "alice",
        }
        values.update(headers or {})
        request = pb.ProcessingRequest(request_headers=pb.HttpHeaders(
            headers=_header_map(values), end_of_stream=end_of_stream))
        if full_duplex:  # Envoy announces the mode on the first message only
            request.protocol_config.request_body_mode = FULL_DUPLEX
        await self.call.write(request)
        return await self.reply()

    async def send_body(self, chunk: bytes, *, end_of_stream: bool = True) -> None:
        await self.call.write(pb.ProcessingRequest(
            request_body=pb.HttpBody(body=chunk, end_of_stream=end_of_stream)))

    async def body(self, body: bytes) -> pb.ProcessingResponse:
        """A BUFFERED body: the whole body in one message, exactly one reply."""
        await self.send_body(body, end_of_stream=True)
        return await self.reply()

    async def send_trailers(self) -> None:
        await self.call.write(pb.ProcessingRequest(request_trailers=pb.HttpTrailers()))

    async def response_headers(self, status: str = "200") -> pb.ProcessingResponse:
        await self.call.write(pb.ProcessingRequest(response_headers=pb.HttpHeaders(
            headers=_header_map({":status": status, "content-type": "application/json"}))))
        return await self.reply()

    async def finish(self) -> grpc.StatusCode:
        """Half-close as Envoy does when the request is over; no further reply may come."""
        await self.call.done_writing()
        extra = await self.call.read()
        assert extra is grpc.aio.EOF, f"unexpected reply after the last message: {extra}"
        return await self.call.code()


def common(reply: pb.ProcessingResponse) -> pb.CommonResponse:
    """The CommonResponse of a headers or body reply, whichever phase it answers."""
    phase = reply.WhichOneof("response")
    assert phase in ("request_headers", "request_body", "response_headers"), phase
    return getattr(reply, phase).response


def set_headers(reply: pb.ProcessingResponse) -> dict[str, str]:
    return {option.header.key: option.header.raw_value.decode("utf-8")
            for option in common(reply).header_mutation.set_headers}


def removed_headers(reply: pb.ProcessingResponse) -> list[str]:
    return list(common(reply).header_mutation.remove_headers)
