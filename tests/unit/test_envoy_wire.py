"""Our decisions as ext_proc protobufs: header reads, body replies, streamed chunks."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from extproc import envoy_wire


def headers(*pairs: tuple[str, str, bytes]) -> pb.HttpHeaders:
    """HttpHeaders from (key, value, raw_value) triples, as Envoy sends them."""
    return pb.HttpHeaders(headers=base_pb2.HeaderMap(headers=[
        base_pb2.HeaderValue(key=key, value=value, raw_value=raw) for key, value, raw in pairs]))


def set_headers(mutation: pb.HeaderMutation) -> dict[str, bytes]:
    return {option.header.key: option.header.raw_value for option in mutation.set_headers}


class TestEnvoy:
    def test_read_headers_prefers_raw_value(self):
        """raw_value wins over value; value is used when raw_value is empty; keys are lower-cased."""
        read = envoy_wire.read_headers(headers(
            (":path", "", b"/v1/messages"),
            ("X-MaaS-Username", "from-value", b"from-raw"),
            ("content-type", "application/json", b""),
            ("x-bad-bytes", "", b"caf\xe9")))
        assert read == {":path": "/v1/messages", "x-maas-username": "from-raw",
                        "content-type": "application/json", "x-bad-bytes": "caf\ufffd"}

    def test_read_headers_reports_repeated_names_in_the_same_pass(self):
        """Names that arrive more than once (any case) go into ``repeats``; the last value is kept."""
        repeats: set[str] = set()
        read = envoy_wire.read_headers(headers(
            ("x-maas-username", "", b"bob"), ("accept", "", b"*/*"), ("X-MaaS-Username", "", b"alice")), repeats)
        assert read == {"x-maas-username": "alice", "accept": "*/*"}
        assert repeats == {"x-maas-username"}

    def test_empty_replies_still_answer_their_phase(self):
        """A reply with nothing to change still names its phase (Envoy needs the oneof set)."""
        assert envoy_wire.request_headers_reply().WhichOneof("response") == "request_headers"
        assert envoy_wire.request_headers_reply().request_headers.HasField("response")
        assert envoy_wire.request_body_reply().request_body.HasField("response")
        assert envoy_wire.response_headers_reply().response_headers.HasField("response")
        (last,) = envoy_wire.streamed_body_replies(b"", end_of_stream=False)
        assert last.request_body.response.body_mutation.HasField("streamed_response")

    def test_body_reply_sets_matching_content_length(self):
        """A replaced body carries a content-length equal to its byte length, written as raw_value."""
        body = '{"messages":[{"role":"user","content":"héllo"}]}'.encode()
        reply = envoy_wire.request_body_reply(body, {"x-trimwire-tokens-saved": "120"}, remove=["content-encoding"])
        common = reply.request_body.response
        assert common.body_mutation.body == body
        assert set_headers(common.header_mutation) == {
            "x-trimwire-tokens-saved": b"120", "content-length": str(len(body)).encode()}
        assert list(common.header_mutation.remove_headers) == ["content-encoding"]

    def test_body_reply_content_length_overrides_caller(self):
        """A stale content-length passed in is replaced by the real one."""
        reply = envoy_wire.request_body_reply(b"{}", {"content-length": "999"})
        assert set_headers(reply.request_body.response.header_mutation) == {"content-length": b"2"}

    def test_empty_replacement_body_is_still_a_mutation(self):
        """An empty new body is set explicitly, with content-length 0."""
        common = envoy_wire.request_body_reply(b"").request_body.response
        assert common.HasField("body_mutation") and common.body_mutation.WhichOneof("mutation") == "body"
        assert set_headers(common.header_mutation) == {"content-length": b"0"}

    def test_body_reply_without_body_keeps_the_original(self):
        """No new body means no body mutation and no content-length."""
        common = envoy_wire.request_body_reply(None, {"x-trimwire-outcome": "unchanged"}).request_body.response
        assert not common.HasField("body_mutation")
        assert set_headers(common.header_mutation) == {"x-trimwire-outcome": b"unchanged"}

    def test_header_mutations_use_raw_value_and_overwrite(self):
        """Set headers are written as UTF-8 raw_value with value empty, overwriting any existing one."""
        reply = envoy_wire.request_headers_reply({"x-trimwire-user": "zoë"}, remove=["x-trimwire-bypass"])
        (option,) = reply.request_headers.response.header_mutation.set_headers
        assert (option.header.key, option.header.value, option.header.raw_value) == (
            "x-trimwire-user", "", "zoë".encode())
        assert option.append_action == base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
        assert list(reply.request_headers.response.header_mutation.remove_headers) == ["x-trimwire-bypass"]

    def test_response_headers_reply(self):
        """Savings headers go back to the client on the response-headers phase."""
        reply = envoy_wire.response_headers_reply({"x-trimwire-tokens-before": "900"})
        assert reply.WhichOneof("response") == "response_headers"
        assert set_headers(reply.response_headers.response.header_mutation) == {"x-trimwire-tokens-before": b"900"}

    @pytest.mark.parametrize("size", [1, envoy_wire.STREAMED_CHUNK_BYTES, 2 * envoy_wire.STREAMED_CHUNK_BYTES + 17])
    def test_streamed_replies_split_the_body(self, size):
        """Pieces are at most STREAMED_CHUNK_BYTES, in order, and only the last ends the stream."""
        body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        replies = list(envoy_wire.streamed_body_replies(body, end_of_stream=True))
        pieces = [r.request_body.response.body_mutation.streamed_response for r in replies]
        assert len(pieces) == -(-size // envoy_wire.STREAMED_CHUNK_BYTES)
        assert all(len(p.body) <= envoy_wire.STREAMED_CHUNK_BYTES for p in pieces)
        assert b"".join(p.body for p in pieces) == body
        assert [p.end_of_stream for p in pieces] == [False] * (len(pieces) - 1) + [True]

    def test_streamed_replies_mid_stream_never_end_it(self):
        """A chunk that is not the end of the request body never sets end_of_stream."""
        body = b"a" * (envoy_wire.STREAMED_CHUNK_BYTES + 1)
        replies = list(envoy_wire.streamed_body_replies(body, end_of_stream=False))
        assert len(replies) == 2
        assert not any(r.request_body.response.body_mutation.streamed_response.end_of_stream for r in replies)

    def test_streamed_empty_end_is_one_empty_piece(self):
        """An empty final chunk is still sent, so Envoy sees the end of the stream."""
        (reply,) = envoy_wire.streamed_body_replies(b"", end_of_stream=True)
        streamed = reply.request_body.response.body_mutation.streamed_response
        assert (streamed.body, streamed.end_of_stream) == (b"", True)

    def test_full_duplex_is_read_from_protocol_config(self):
        """Only FULL_DUPLEX_STREAMED request bodies count as full duplex."""
        mode = processing_mode_pb2.ProcessingMode
        duplex = pb.ProcessingRequest(protocol_config=pb.ProtocolConfiguration(
            request_body_mode=mode.FULL_DUPLEX_STREAMED))
        buffered = pb.ProcessingRequest(protocol_config=pb.ProtocolConfiguration(request_body_mode=mode.BUFFERED))
        assert envoy_wire.is_full_duplex(duplex) and not envoy_wire.is_full_duplex(buffered)
        assert not envoy_wire.is_full_duplex(pb.ProcessingRequest())

    @pytest.mark.parametrize("kind", ["request_headers", "request_body", "request_trailers",
                                      "response_headers", "response_body", "response_trailers"])
    def test_empty_reply_answers_the_same_phase(self, kind):
        """A do-nothing reply answers the phase it was asked about, with no mutation."""
        reply = envoy_wire.empty_reply(kind)
        assert reply.WhichOneof("response") == kind
        assert not getattr(reply, kind).HasField("header_mutation" if kind.endswith("trailers") else "response")
