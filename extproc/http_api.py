"""``POST /v1/compress`` over HTTP: compression for gateways that call a service instead of
hosting an ext_proc filter, a drop-in for Headroom's compression service contract.

Request ``{"messages": [...], "model": "...", "config": {...}, "format": "openai|anthropic"}``
(``format`` optional: detected from the messages). Response ``{"messages": [...],
"tokens_before", "tokens_after", "tokens_saved", "compression_ratio", "transforms_applied"}``
with ``compression_ratio = tokens_after / tokens_before``. ``x-maas-username`` (the configured
``user_header``) attributes the savings; ``x-headroom-bypass: true`` or trimwire's bypass header
returns the messages unchanged where the ext_proc path would bypass too (``bypass_enabled``,
``bypass_users``). Errors: 400 with ``{"error": {"type", "message"}}`` for a missing
or malformed field, 413 above ``max_body_bytes``, 503 until the server is ready. A compression
failure is never an error: the original messages come back with ``tokens_saved: 0``.

``config`` keys with a trimwire equivalent (``CONFIG_KEYS``) are honoured; Headroom's keys that
have none, and unknown keys, are ignored and counted (``trimwire_api_config_ignored_total``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import tls
from .config import MODES, Settings
from .metrics import Metrics, sanitise
from .service import FORMAT_ALIASES, CompressCall, MessageCompressor

__all__ = ["start_api_http", "api_app", "call_from_json", "BadCall", "CONFIG_KEYS", "IGNORED_CONFIG_KEYS"]

HEADROOM_BYPASS_HEADER = "x-headroom-bypass"
# config keys honoured, and Headroom's keys trimwire knows but has no equivalent for.
CONFIG_KEYS = ("mode", "protect_recent", "frozen_message_count")
IGNORED_CONFIG_KEYS = ("compress_user_messages", "target_ratio", "protect_analysis_context", "session_id")
# Headroom's pipeline modes: trimwire has one pipeline, so these ask for nothing it can change.
_HEADROOM_MODES = ("ccr", "lossy_inline", "lossless_then_lossy")
_TRUE = ("1", "true", "yes", "on")


class BadCall(ValueError):
    """A request the API answers with 400 and this message."""


def call_from_json(body: Any, *, user: str = "", request_id: str = "", bypass: bool = False,
                   ignored: Callable[[str], None] = lambda key: None) -> CompressCall:
    """Validate a /v1/compress body into a CompressCall; ``ignored`` hears each unused config key."""
    if not isinstance(body, dict):
        raise BadCall("Request body must be a JSON object.")
    messages, model, config = body.get("messages"), body.get("model"), body.get("config", {})
    if messages is None:
        raise BadCall("Missing required field: messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadCall("Field messages must be an array of message objects.")
    if model is None:
        raise BadCall("Missing required field: model")
    if not isinstance(model, str):
        raise BadCall("Field model must be a string.")
    format_name = body.get("format")
    if format_name is not None and format_name not in FORMAT_ALIASES:
        raise BadCall(f"Field format must be one of {sorted(FORMAT_ALIASES)}.")
    if not isinstance(config, dict):
        raise BadCall("Field config must be an object.")
    options = _config_options(config, ignored)
    return CompressCall(messages=messages, model=model, format=format_name, user=user,
                        request_id=request_id, bypass=bypass, **options)


def _config_options(config: dict[str, Any], ignored: Callable[[str], None]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in config.items():
        if key == "mode":
            if value in MODES:
                options["mode"] = value
            elif value in _HEADROOM_MODES:
                ignored("mode")
            else:
                raise BadCall(f"Invalid config.mode: {value!r}. Use one of {list(MODES)}.")
        elif key in ("protect_recent", "frozen_message_count"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadCall(f"Invalid config.{key}: {value!r}. Must be a non-negative integer.")
            options["protect_recent" if key == "protect_recent" else "frozen_messages"] = value
        else:
            ignored(key if key in IGNORED_CONFIG_KEYS else "other")
    return options


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
            is_ready: Callable[[], bool]) -> web.Application:
    async def compress(request: web.Request) -> web.Response:
        response = await _answer(request)
        metrics.api_calls.labels("http", str(response.status)).inc()
        return response

    async def _answer(request: web.Request) -> web.Response:
        if not is_ready():
            return _error(503, "trimwire is not ready yet.", "not_ready")
        if (request.content_length or 0) > settings.max_body_bytes:
            return _error(413, f"Request body larger than {settings.max_body_bytes} bytes.", "too_large")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"Request body larger than {settings.max_body_bytes} bytes.", "too_large")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _error(400, "Invalid JSON in request body.")
        headers = request.headers
        # Asked for; whether it is granted (bypass_enabled, bypass_users) is MessageCompressor's rule.
        bypass = (headers.get(HEADROOM_BYPASS_HEADER, "").strip().lower() == "true"
                  or headers.get(settings.bypass_header, "").strip().lower() in _TRUE)
        try:
            call = call_from_json(body, user=headers.get(settings.user_header, ""),
                                  request_id=sanitise(headers.get("x-request-id")), bypass=bypass,
                                  ignored=lambda key: metrics.api_config_ignored.labels(key).inc())
        except BadCall as exc:
            return _error(400, str(exc))
        answer = await service.compress(call)
        return web.json_response({
            "messages": answer.messages, "tokens_before": answer.tokens_before,
            "tokens_after": answer.tokens_after, "tokens_saved": answer.tokens_saved,
            "compression_ratio": round(answer.ratio, 4), "transforms_applied": list(answer.transforms),
        }, dumps=_json_text)

    # The body limit is ours to answer (413 with a JSON error): aiohttp's own cap sits just above.
    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    app.router.add_post("/v1/compress", compress)
    return app


async def start_api_http(settings: Settings, service: MessageCompressor, metrics: Metrics,
                         is_ready: Callable[[], bool]) -> tuple[web.AppRunner, int]:
    """Serve /v1/compress on ``api_address`` (over TLS when configured, as the gRPC port);
    returns the runner and the bound port."""
    host, _, port = settings.api_address.rpartition(":")
    runner = web.AppRunner(api_app(settings, service, metrics, is_ready), access_log=None)
    await runner.setup()
    context = tls.http_context(settings) if tls.enabled(settings) else None
    site = web.TCPSite(runner, host, int(port), reuse_port=False, ssl_context=context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
