"""The HTTP API port: compression for gateways that call a service instead of hosting an ext_proc
filter, a drop-in for Headroom's compression service.

Routes: ``POST /v1/compress`` and ``POST /v1/compress-raw`` (shapes in ``headroom_compat.py``),
``GET /stats`` (savings since start, ``stats.py``), and ``/health``, ``/livez`` (liveness) and
``/readyz`` (readiness), as on the ops port. ``x-maas-username`` (the configured ``user_header``,
else ``x-headroom-user-id``) attributes the savings; ``x-headroom-bypass: true`` or trimwire's
bypass header returns the messages unchanged where the ext_proc path would bypass too
(``bypass_enabled``, ``bypass_users``). Errors: 400 with ``{"error": {"type", "message"}}`` for a
body that is not strict JSON or has no messages, 413 above ``max_body_bytes``, 503 until the
server is ready and, with ``Retry-After``, past the calls or bytes in flight the API takes
(``api_guard.Admission``). Parsing, compression and writing the answer run on the admission's
threads, never on the event loop; the messages come back as the caller's own bytes with the
compressed strings written over theirs. A compression failure is never an error (fail open), and
neither is config: values trimwire cannot honour are ignored, counted
(``trimwire_api_config_ignored_total``), logged and listed in ``warnings``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import headroom_compat as compat
from . import tls
from .api_guard import RETRY_AFTER_S, Admission, BadJson, read_messages, response_body
from .config import Settings
from .logging_setup import get_logger
from .metrics import AMBIGUOUS_LABEL, Metrics, sanitise
from .ops_http import health_routes
from .service import ApiService
from .stats import SavingsStats
from .tokens import TokenCounter

__all__ = ["ADMISSION", "start_api_http", "api_app", "api_inflight"]

_TRUE = ("1", "true", "yes", "on")
ADMISSION = web.AppKey("admission", Admission)
Handled = tuple[int, bytes]   # a status and its body: the answer, or a 400's message
log = get_logger("trimwire.api")


def _json_text(value: Any) -> str:
    """JSON as UTF-8-safe text: non-ASCII raw, unless a lone surrogate forces escapes."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True)
    return text


def _error(status: int, message: str, kind: str = "invalid_request",
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status, headers=headers)


def api_inflight(settings: Settings, workers: int) -> int:
    """Calls the API runs at once: ``api_max_inflight``, or half the workers (at least one)."""
    return settings.api_max_inflight or max(1, workers // 2)


def api_app(settings: Settings, service: ApiService, metrics: Metrics, is_ready: Callable[[], bool],
            stats: SavingsStats | None = None, admission: Admission | None = None) -> web.Application:
    admission = admission or Admission(api_inflight(settings, 2), settings.api_max_inflight_bytes)
    tokens: list[TokenCounter] = []  # built on the first /v1/compress-raw call

    def counted(handle: Callable[[bytes, dict[str, str]], Handled]) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.Response:
            response = await _admitted(request, handle)
            metrics.api_calls.labels("http", str(response.status)).inc()
            return response
        return run

    async def _admitted(request: web.Request, handle: Callable[[bytes, dict[str, str]], Handled]) -> web.Response:
        """Ready, within the size and the admission's bounds, body read: ``handle`` runs on an
        admission thread."""
        if not is_ready():
            return _error(503, "trimwire is not ready yet.", "not_ready")
        if (request.content_length or 0) > settings.max_body_bytes:
            return _error(413, f"Request body larger than {settings.max_body_bytes} bytes.", "too_large")
        size = request.content_length or settings.max_body_bytes  # unknown: the most it may be
        if not admission.enter(size):
            return _error(503, "trimwire's compression API is at capacity; retry shortly.", "overloaded",
                          headers={"Retry-After": str(RETRY_AFTER_S)})
        try:
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return _error(413, f"Request body larger than {settings.max_body_bytes} bytes.", "too_large")
            status, body = await asyncio.get_running_loop().run_in_executor(
                admission.threads, handle, raw, _who(request))
        finally:
            admission.leave(size)
        if status != 200:
            return _error(status, body.decode())
        return web.Response(body=body, content_type="application/json")

    def _who(request: web.Request) -> dict[str, str]:
        headers = request.headers
        bypass = (headers.get(compat.HEADROOM_BYPASS_HEADER, "").strip().lower() == "true"
                  or headers.get(settings.bypass_header, "").strip().lower() in _TRUE)
        user = headers.get(settings.user_header) or headers.get(compat.HEADROOM_USER_HEADER) or ""
        if len(headers.getall(settings.user_header, [])) > 1:  # bob then alice: neither is believed
            user = AMBIGUOUS_LABEL
            metrics.ambiguous_user.inc()
        return {"user": user, "request_id": sanitise(headers.get("x-request-id")), "bypass": "1" if bypass else ""}

    def compress(raw: bytes, who: dict[str, str]) -> Handled:
        try:
            body, items = read_messages(raw)
            # Asked for; whether it is granted (bypass_enabled, bypass_users) is ApiService's rule.
            shaped = compat.parse_compress(body, user=who["user"], request_id=who["request_id"],
                                           bypass=bool(who["bypass"]),
                                           ignored=lambda key: metrics.api_config_ignored.labels(key).inc())
        except (BadJson, compat.BadCall) as exc:
            return 400, str(exc).encode()
        if shaped.warnings:  # what was asked, never the messages
            log.info("api_config_ignored", request_id=shaped.call.request_id, warnings=shaped.warnings)
        call = dataclasses.replace(shaped.call, messages_json=items.get(shaped.call.items_key, b""))
        answer = service.compress_blocking(call)
        return 200, response_body(call.items_key, answer.messages_json,
                                  compat.compress_reply(answer, call, shaped.warnings))

    def compress_raw(raw: bytes, who: dict[str, str]) -> Handled:
        try:
            body, _ = read_messages(raw)
            call, texts = compat.parse_raw(body, user=who["user"], request_id=who["request_id"])
        except (BadJson, compat.BadCall) as exc:
            return 400, str(exc).encode()
        answer = service.compress_blocking(call)
        if not tokens:
            tokens.append(TokenCounter())
        return 200, _json_text(compat.raw_reply(answer, texts, tokens[0])).encode("utf-8")

    # The body limit is ours to answer (413 with a JSON error): aiohttp's own cap sits just above.
    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    app.router.add_post("/v1/compress", counted(compress))
    app.router.add_post("/v1/compress-raw", counted(compress_raw))
    health_routes(app, is_ready, stats)
    app[ADMISSION] = admission
    app.on_cleanup.append(lambda _: _close(admission))
    return app


async def _close(admission: Admission) -> None:
    admission.close()


async def start_api_http(settings: Settings, service: ApiService, metrics: Metrics,
                         is_ready: Callable[[], bool], stats: SavingsStats | None = None) -> tuple[web.AppRunner, int]:
    """Serve the API on ``api_address`` (over TLS when configured, as the gRPC port);
    returns the runner and the bound port."""
    host, _, port = settings.api_address.rpartition(":")
    admission = Admission(api_inflight(settings, service.processor.workers.processes), settings.api_max_inflight_bytes)
    runner = web.AppRunner(api_app(settings, service, metrics, is_ready, stats, admission), access_log=None)
    await runner.setup()
    context = tls.http_context(settings) if tls.enabled(settings) else None
    site = web.TCPSite(runner, host, int(port), reuse_port=False, ssl_context=context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
