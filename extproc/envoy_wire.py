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


def read_headers(headers: pb.HttpHeaders) -> dict[str, str]:
    """Header map with lower-case names; values decoded leniently (they are only compared)."""
    out: dict[str, str] = {}
    for header in headers.headers.headers:
        value = header.raw_value.decode("utf-8", "replace") if header.raw_value else header.value
        out[header.key.lower()] = value
    return out


def repeated(headers: pb.HttpHeaders) -> set[str]:
    """Lower-case names of the headers that arrived more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for header in headers.headers.headers:
        name = header.key.lower()
        (twice if name in seen else seen).add(name)
    return twice


def is_full_duplex(request: pb.ProcessingRequest) -> bool:
    mode = request.protocol_config.request_body_mode
    return mode == processing_mode_pb2.ProcessingMode.FULL_DUPLEX_STREAMED


def _mutation(set_headers: Mapping[str, str], remove: Iterable[str]) -> pb.HeaderMutation:
    return pb.HeaderMutation(
        set_headers=[
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=key, raw_value=value.encode("utf-8")),
                append_action=_OVERWRITE,
            )
            for key, value in set_headers.items()
        ],
        remove_headers=list(remove),
    )


def _common(set_headers: Mapping[str, str], remove: Iterable[str], body: bytes | None = None) -> pb.CommonResponse:
    remove = list(remove)
    # nothing to change: no mutation at all, rather than an empty one for Envoy to walk
    common = pb.CommonResponse(header_mutation=_mutation(set_headers, remove)) if set_headers or remove \
        else pb.CommonResponse()
    if body is not None:
        common.body_mutation.body = body
    return common


def request_headers_reply(set_headers: Mapping[str, str] = {}, remove: Iterable[str] = ()) -> pb.ProcessingResponse:
    return pb.ProcessingResponse(request_headers=pb.HeadersResponse(response=_common(set_headers, remove)))


def request_body_reply(body: bytes | None = None, set_headers: Mapping[str, str] = {},
                       remove: Iterable[str] = ()) -> pb.ProcessingResponse:
    """Buffered body reply: ``body`` None keeps the original, else replaces it (length set here)."""
    headers = dict(set_headers)
    if body is not None:
        headers["content-length"] = str(len(body))
    return pb.ProcessingResponse(request_body=pb.BodyResponse(response=_common(headers, remove, body)))


def streamed_body_replies(body: bytes, end_of_stream: bool) -> Iterator[pb.ProcessingResponse]:
    """FULL_DUPLEX_STREAMED: Envoy forwards only what we send back, so send all of ``body``."""
    pieces = [body[i:i + STREAMED_CHUNK_BYTES] for i in range(0, len(body), STREAMED_CHUNK_BYTES)] or [b""]
    for number, piece in enumerate(pieces, start=1):
        last = end_of_stream and number == len(pieces)
        common = pb.CommonResponse(body_mutation=pb.BodyMutation(
            streamed_response=pb.StreamedBodyResponse(body=piece, end_of_stream=last)))
        yield pb.ProcessingResponse(request_body=pb.BodyResponse(response=common))


def response_headers_reply(set_headers: Mapping[str, str] = {}) -> pb.ProcessingResponse:
    return pb.ProcessingResponse(response_headers=pb.HeadersResponse(response=_common(set_headers, ())))


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
