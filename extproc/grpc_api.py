"""``trimwire.v1.Compressor/Compress`` (``proto/trimwire/v1/compressor.proto``): the compression
API over gRPC, served on the ext_proc server's port beside the ExternalProcessor.

Messages travel as JSON bytes so any caller (Go, Rust, Python) passes its request's ``messages``
array through untouched. INVALID_ARGUMENT for bytes that are not a strict JSON array of objects
(duplicate keys, NaN and Infinity refused: ``api_guard.py``) or an unknown format or mode,
RESOURCE_EXHAUSTED above ``max_body_bytes``, UNAVAILABLE until ready;
compression problems are never errors (the original messages come back, ``tokens_saved`` 0).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from ._proto import compressor_pb2 as pb
from ._proto import compressor_pb2_grpc as pb_grpc
from .api_guard import BadJson, read_messages_array
from .config import MODES, Settings
from .metrics import Metrics, sanitise
from .service import FORMAT_ALIASES, ApiService, CompressCall

__all__ = ["GrpcApiServicer", "SERVICE_NAME"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Compressor"].full_name


class GrpcApiServicer(pb_grpc.CompressorServicer):
    def __init__(self, settings: Settings, service: ApiService, metrics: Metrics,
                 is_ready: Callable[[], bool]) -> None:
        self.settings = settings
        self.service = service
        self.metrics = metrics
        self.is_ready = is_ready

    def Compress(self, request: pb.CompressRequest, context: grpc.ServicerContext) -> pb.CompressResponse:
        try:
            messages = self._messages(request)
        except _Refused as refused:
            self.metrics.api_calls.labels("grpc", refused.code.name).inc()
            context.abort(refused.code, refused.detail)
        self.metrics.api_calls.labels("grpc", grpc.StatusCode.OK.name).inc()
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        answer = self.service.compress_blocking(CompressCall(
            messages=messages, messages_json=request.messages_json, model=request.model or None,
            format=request.format or None,
            user=request.user, mode=request.mode or None, frozen_messages=request.frozen_message_count,
            bypass=request.bypass, request_id=sanitise(metadata.get("x-request-id")),
            entry="/trimwire.v1.Compressor/Compress"))
        # The caller's own bytes, compressed strings written over theirs (api_guard.py).
        return pb.CompressResponse(
            messages_json=answer.messages_json, tokens_before=answer.tokens_before, tokens_after=answer.tokens_after,
            tokens_saved=answer.tokens_saved, compression_ratio=round(answer.ratio, 4),
            transforms_applied=list(answer.transforms), outcome=answer.outcome)

    def _messages(self, request: pb.CompressRequest) -> list:
        """The request's messages, or _Refused with the status code that says why not."""
        if not self.is_ready():
            raise _Refused(grpc.StatusCode.UNAVAILABLE, "trimwire is not ready yet")
        if len(request.messages_json) > self.settings.max_body_bytes:
            raise _Refused(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"messages_json over {self.settings.max_body_bytes} bytes")
        if request.format and request.format not in FORMAT_ALIASES:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, f"format must be one of {sorted(FORMAT_ALIASES)}")
        if request.mode and request.mode not in MODES:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, f"mode must be one of {list(MODES)}")
        try:
            messages = read_messages_array(request.messages_json)
        except BadJson as exc:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, f"messages_json: {exc}") from None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "messages_json must be a JSON array of message objects")
        return messages


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail

