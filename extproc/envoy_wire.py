"""Our decisions <-> Envoy ext_proc protobufs. The only module besides the server that builds them.

Envoy sends header values in ``raw_value`` (bytes) with ``value`` empty; we read both and always
write ``raw_value``. A changed buffered body always carries a matching ``content-length``, or
Envoy fails the request (``mismatch_between_content_length_and_the_length_of_the_mutated_body``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

__all__ = [
    "STREAMED_CHUNK_BYTES",
    "read_headers",
    "is_full_duplex",
    "request_headers_reply",
    "request_body_reply",
    "streamed_body_replies",
    "response_headers_reply",
    "trailers_reply",
    "empty_reply",
]

# Replies in FULL_DUPLEX_STREAMED mode are cut to this size, as other processors do.
STREAMED_CHUNK_BYTES = 60 * 1024
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def read_headers(headers: pb.HttpHeaders, repeats: set[str] | None = None) -> dict[str, str]:
    """Header map with lower-case names; values decoded leniently (they are only compared).
    ``repeats``, if given, gets the names that arrived more than once (the last value is kept):
    one pass over the headers, each a protobuf read."""
    out: dict[str, str] = {}
    for header in headers.headers.headers:
        raw = header.raw_value
        name = header.key.lower()
        if repeats is not None and name in out:
            repeats.add(name)
        out[name] = raw.decode("utf-8", "replace") if raw else header.value
    return out


def is_full_duplex(request: pb.ProcessingRequest) -> bool:
    mode = request.protocol_config.request_body_mode
    return mode == processing_mode_pb2.ProcessingMode.FULL_DUPLEX_STREAMED


def _fill(common: pb.CommonResponse, set_headers: Mapping[str, str], remove: Iterable[str],
          body: bytes | None = None) -> None:
    """Write the mutations into ``common`` where it lies in its reply: a message built apart and
    passed to its parent's constructor is copied, body and all (three copies of a body cost more
    than the rest of a reply)."""
    common.SetInParent()  # an empty response is still the answer to its phase
    remove = list(remove)
    if set_headers or remove:  # nothing to change: no mutation at all, rather than an empty one for Envoy to walk
        mutation = common.header_mutation
        for key, value in set_headers.items():
            option = mutation.set_headers.add()
            option.header.key = key
            option.header.raw_value = value.encode("utf-8")
            option.append_action = _OVERWRITE
        mutation.remove_headers.extend(remove)
    if body is not None:
        common.body_mutation.body = body


def request_headers_reply(set_headers: Mapping[str, str] = {}, remove: Iterable[str] = ()) -> pb.ProcessingResponse:
    reply = pb.ProcessingResponse()
    _fill(reply.request_headers.response, set_headers, remove)
    return reply


def request_body_reply(body: bytes | None = None, set_headers: Mapping[str, str] = {},
                       remove: Iterable[str] = ()) -> pb.ProcessingResponse:
    """Buffered body reply: ``body`` None keeps the original, else replaces it (length set here)."""
    headers = dict(set_headers)
    if body is not None:
        headers["content-length"] = str(len(body))
    reply = pb.ProcessingResponse()
    _fill(reply.request_body.response, headers, remove, body)
    return reply


def streamed_body_replies(body: bytes, end_of_stream: bool) -> Iterator[pb.ProcessingResponse]:
    """FULL_DUPLEX_STREAMED: Envoy forwards only what we send back, so send all of ``body``."""
    pieces = [body[i:i + STREAMED_CHUNK_BYTES] for i in range(0, len(body), STREAMED_CHUNK_BYTES)] or [b""]
    for number, piece in enumerate(pieces, start=1):
        reply = pb.ProcessingResponse()
        streamed = reply.request_body.response.body_mutation.streamed_response
        streamed.body = piece
        streamed.end_of_stream = end_of_stream and number == len(pieces)
        streamed.SetInParent()
        yield reply


def response_headers_reply(set_headers: Mapping[str, str] = {}) -> pb.ProcessingResponse:
    reply = pb.ProcessingResponse()
    _fill(reply.response_headers.response, set_headers, ())
    return reply


def trailers_reply(response_side: bool) -> pb.ProcessingResponse:
    if response_side:
        return pb.ProcessingResponse(response_trailers=pb.TrailersResponse())
    return pb.ProcessingResponse(request_trailers=pb.TrailersResponse())


def empty_reply(kind: str) -> pb.ProcessingResponse:
    """A do-nothing reply to a message of ``kind`` (the ProcessingRequest oneof name)."""
    if kind in ("request_trailers", "response_trailers"):
        return trailers_reply(kind == "response_trailers")
    if kind in ("request_headers", "response_headers"):
        return pb.ProcessingResponse(**{kind: pb.HeadersResponse()})
    return pb.ProcessingResponse(**{kind: pb.BodyResponse()})
