"""The HTTP API port: compression for gateways that call a service instead of hosting an ext_proc
filter, a drop-in for Headroom's compression service.

Routes: ``POST /v1/compress`` and ``POST /v1/compress-raw`` (shapes in ``headroom_compat.py``),
``GET /stats`` (savings since start, ``stats.py``), and ``/health``, ``/livez`` (liveness) and
``/readyz`` (readiness), as on the ops port. ``x-maas-username`` (the configured ``user_header``,
else ``x-headroom-user-id``) attributes the savings; ``x-headroom-bypass: true`` or trimwire's
bypass header returns the messages unchanged where the ext_proc path would bypass too
(``bypass_enabled``, ``bypass_users``). Errors: 400 with ``{"error": {"type", "message"}}`` for a
body without messages, 413 above ``max_body_bytes``, 503 until the server is ready. A compression
failure is never an error (fail open), and neither is config: values trimwire cannot honour are
ignored, counted (``trimwire_api_config_ignored_total``), logged and listed in ``warnings``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import headroom_compat as compat
from . import tls
from .config import Settings
from .logs import get_logger
from .metrics import Metrics, sanitise
from .ops_http import health_routes
from .service import MessageCompressor
from .stats import SavingsStats
from .tokens import TokenCounter

__all__ = ["start_api_http", "api_app"]

_TRUE = ("1", "true", "yes", "on")
log = get_logger("trimwire.api")


def _json_text(value: Any) -> str:
    """JSON as UTF-8-safe text: non-ASCII raw, unless a lone surrogate forces escapes."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True)
    return text


def _error(status: int, message: str, kind: str = "invalid_request") -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)


def api_app(settings: Settings, service: MessageCompressor, metrics: Metrics,
            is_ready: Callable[[], bool], stats: SavingsStats | None = None) -> web.Application:
    tokens: list[TokenCounter] = []  # built on the first /v1/compress-raw call

    def counted(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.Response:
            response = await handler(request)
            metrics.api_calls.labels("http", str(response.status)).inc()
            return response
        return run

    async def _read(request: web.Request) -> Any:
        """The JSON body, or the error response to send instead."""
        if not is_ready():
            return _error(503, "trimwire is not ready yet.", "not_ready")
        if (request.content_length or 0) > settings.max_body_bytes:
            return _error(413, f"Request body larger than {settings.max_body_bytes} bytes.", "too_large")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"Request body larger than {settings.max_body_bytes} bytes.", "too_large")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _error(400, "Invalid JSON in request body.")

    def _who(request: web.Request) -> dict[str, str]:
        headers = request.headers
        return {"user": headers.get(settings.user_header) or headers.get(compat.HEADROOM_USER_HEADER, ""),
                "request_id": sanitise(headers.get("x-request-id"))}

    async def compress(request: web.Request) -> web.Response:
        body = await _read(request)
        if isinstance(body, web.Response):
            return body
        headers = request.headers
        # Asked for; whether it is granted (bypass_enabled, bypass_users) is MessageCompressor's rule.
        bypass = (headers.get(compat.HEADROOM_BYPASS_HEADER, "").strip().lower() == "true"
                  or headers.get(settings.bypass_header, "").strip().lower() in _TRUE)
        try:
            shaped = compat.parse_compress(body, bypass=bypass, **_who(request),
                                           ignored=lambda key: metrics.api_config_ignored.labels(key).inc())
        except compat.BadCall as exc:
            return _error(400, str(exc))
        if shaped.warnings:  # what was asked, never the messages
            log.info("api_config_ignored", request_id=shaped.call.request_id, warnings=shaped.warnings)
        answer = await service.compress(shaped.call)
        return web.json_response(compat.compress_reply(answer, shaped.call, shaped.warnings), dumps=_json_text)

    async def compress_raw(request: web.Request) -> web.Response:
        body = await _read(request)
        if isinstance(body, web.Response):
            return body
        try:
            call, texts = compat.parse_raw(body, **_who(request))
        except compat.BadCall as exc:
            return _error(400, str(exc))
        answer = await service.compress(call)
        if not tokens:
            tokens.append(TokenCounter())
        reply = await asyncio.get_running_loop().run_in_executor(None, compat.raw_reply, answer, texts, tokens[0])
        return web.json_response(reply, dumps=_json_text)

    # The body limit is ours to answer (413 with a JSON error): aiohttp's own cap sits just above.
    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    app.router.add_post("/v1/compress", counted(compress))
    app.router.add_post("/v1/compress-raw", counted(compress_raw))
    health_routes(app, is_ready, stats)
    return app


async def start_api_http(settings: Settings, service: MessageCompressor, metrics: Metrics,
                         is_ready: Callable[[], bool], stats: SavingsStats | None = None) -> tuple[web.AppRunner, int]:
    """Serve the API on ``api_address`` (over TLS when configured, as the gRPC port);
    returns the runner and the bound port."""
    host, _, port = settings.api_address.rpartition(":")
    runner = web.AppRunner(api_app(settings, service, metrics, is_ready, stats), access_log=None)
    await runner.setup()
    context = tls.http_context(settings) if tls.enabled(settings) else None
    site = web.TCPSite(runner, host, int(port), reuse_port=False, ssl_context=context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
