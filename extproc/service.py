"""Compression as a service: one call's messages in, compressed messages and savings out.

Shared by the HTTP ``POST /v1/compress`` API (``http_api.py``) and the gRPC
``trimwire.v1.Compressor`` service (``grpc_api.py``). It runs the very pipeline the ext_proc path
runs (the same worker processes, settings and deadline) on the caller's own bytes of the
messages (``CompressCall.messages_json``), so the three entry points give byte-identical messages
for the same input; a failure takes the ext_proc path's own fail-open function
(``StreamProcessor.compress_or_fail_open``), and each call is accounted with the same metrics and
log line (``StreamProcessor.account``). Never raises for a compression problem: the original messages
come back with nothing saved.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from .compress import BodyRequest, dump_body, inference_deadline
from .formats import anthropic_messages, detect_format, openai_chat, openai_responses, parse_body
from .metrics import AMBIGUOUS_LABEL
from .outcomes import RequestOutcome
from .processor import RequestContext, StreamProcessor
from .tokens import TokenCounter

__all__ = ["CompressCall", "CompressAnswer", "ApiService", "FORMAT_ALIASES"]

# What callers may name in ``format``: the ext_proc path's format names and short aliases.
FORMAT_ALIASES = {
    "openai": openai_chat.FORMAT, openai_chat.FORMAT: openai_chat.FORMAT,
    "anthropic": anthropic_messages.FORMAT, anthropic_messages.FORMAT: anthropic_messages.FORMAT,
    "responses": openai_responses.FORMAT, openai_responses.FORMAT: openai_responses.FORMAT,
}
# What a fail-open answer says in ``skip_reason`` (Headroom's word for the deadline).
SKIP_REASONS = {"deadline": "compression_timeout"}


@dataclass(frozen=True, slots=True)
class CompressCall:
    """One validated call: the caller's messages and what it asked for."""

    messages: list[Any]
    # The items array's JSON as the caller sent it (api_guard.read_messages): compression writes
    # over its strings and keeps every other byte. Empty: written from ``messages``.
    messages_json: bytes = b""
    model: str | None = None
    format: str | None = None        # a FORMAT_ALIASES key, or None: detected from the messages
    items_key: str = "messages"      # or "input": a Responses-API body's items
    user: str = ""
    mode: str | None = None
    protect_recent: int | None = None
    frozen_messages: int = 0
    bypass: bool = False             # asked for; granted only by Settings.bypass_allowed
    request_id: str = ""
    entry: str = "/v1/compress"      # the path the log line and metrics name


@dataclass(frozen=True, slots=True)
class CompressAnswer:
    messages_json: bytes             # the items array's JSON: the caller's bytes, strings compressed
    outcome: RequestOutcome
    tokens_before: int = 0
    tokens_after: int = 0
    transforms: tuple[str, ...] = ()
    transform_blocks: dict[str, int] | None = None   # blocks each transform changed
    skip_reason: str = ""            # failed_open: why nothing was compressed

    @property
    def messages(self) -> list[Any]:
        return json.loads(self.messages_json)

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def ratio(self) -> float:
        return self.tokens_after / self.tokens_before if self.tokens_before else 1.0


class ApiService:
    """Built once per server around its StreamProcessor (workers, settings, metrics)."""

    def __init__(self, processor: StreamProcessor) -> None:
        self.processor = processor
        self.settings = processor.settings
        self._tokens: TokenCounter | None = None   # built on the first fail-open that needs counts

    async def compress(self, call: CompressCall) -> CompressAnswer:
        """``compress_blocking`` off the event loop (the HTTP API)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.compress_blocking, call)

    def compress_blocking(self, call: CompressCall) -> CompressAnswer:
        """One call, on the calling thread (the gRPC server's), accounted like an ext_proc request."""
        ctx = RequestContext(request_id=call.request_id, user=call.user, path=call.entry, mode=call.mode)
        try:
            if call.bypass and call.user != AMBIGUOUS_LABEL and self.settings.bypass_allowed(call.user):
                ctx.outcome, ctx.reason = RequestOutcome.BYPASSED, "header"
                return CompressAnswer(_messages_json(call), RequestOutcome.BYPASSED)
            return self._compress(ctx, call)
        finally:
            self.processor.account(ctx)

    def _compress(self, ctx: RequestContext, call: CompressCall) -> CompressAnswer:
        responses = call.items_key == "input" or FORMAT_ALIASES.get(call.format or "") == openai_responses.FORMAT
        key = "input" if responses else "messages"   # where the format's adapter reads the items
        body: dict[str, Any] = {key: call.messages}
        if call.model is not None:
            body["model"] = call.model
        messages_json = _messages_json(call)
        try:
            ctx.format = FORMAT_ALIASES[call.format] if call.format else detect_format(body)
        except Exception:  # messages no adapter recognises: passed back as they came
            ctx.outcome, ctx.reason = RequestOutcome.PASSTHROUGH, "unknown_format"
            return CompressAnswer(messages_json, RequestOutcome.PASSTHROUGH)
        # the model first, then the caller's bytes: the body's own items end one byte from its end
        head = (b'{"model":' + dump_body(call.model) + b"," if call.model is not None else b"{") + \
            b'"' + key.encode() + b'":'
        raw = head + messages_json + b"}"
        request = BodyRequest(format=ctx.format, mode=call.mode, protect_recent=call.protect_recent,
                              frozen_messages=call.frozen_messages, deadline=inference_deadline(self.settings))
        ctx.started = time.perf_counter()
        result = self.processor.compress_or_fail_open(ctx, raw, request)
        if result is None:  # failed open: the caller's messages go back unchanged
            before = self._count(ctx.format, body)
            return CompressAnswer(messages_json, RequestOutcome.FAILED_OPEN, before, before,
                                  skip_reason=SKIP_REASONS.get(ctx.reason, "compression_error"))
        if result.outcome == RequestOutcome.PASSTHROUGH:
            return CompressAnswer(messages_json, RequestOutcome.PASSTHROUGH, skip_reason=result.reason)
        out = messages_json if result.body is None else result.body[len(head):-1]
        return CompressAnswer(out, result.outcome, result.tokens_before, result.tokens_after,
                              result.transforms, dict(result.transform_blocks))

    def _count(self, format_name: str, body: dict[str, Any]) -> int:
        """The tokens the pipeline would have counted (a fail-open answer reports them too)."""
        try:
            if self._tokens is None:
                self._tokens = TokenCounter()
            return sum(self._tokens.count(block.text) for block in parse_body(format_name, body).blocks)
        except Exception:  # counting is a courtesy: the answer goes back either way
            return 0


def _messages_json(call: CompressCall) -> bytes:
    return call.messages_json or dump_body(call.messages)
