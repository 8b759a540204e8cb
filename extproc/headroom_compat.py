"""Headroom's compression-service contract, read into trimwire calls and written back.

Gateways in the field call a Headroom service (the MaaS payload-processing plugin, Headroom's
TypeScript SDK, headroom-gateway); ``http_api.py`` serves them with these shapes:

- ``POST /v1/compress``: ``{messages | input, model?, config?, format?}`` in; out the messages
  (or ``input``) with ``tokens_before``, ``tokens_after``, ``tokens_saved``, ``compression_ratio``,
  ``transforms_applied``, ``transforms_summary`` (blocks per transform), ``ccr_hashes`` (always
  ``[]``: trimwire keeps no retrieval store), and ``warnings`` when a config value was coerced
  or ignored. A fail-open answer keeps the counts and says ``compression_skipped``/``skip_reason``.
- ``POST /v1/compress-raw``: ``{"texts": [...]}`` in; ``results[]`` of ``{compressed,
  original_tokens, compressed_tokens}`` out. Each text goes through the pipeline as one tool
  result of a synthetic chat, so it gets exactly the treatment tool output gets on the wire.

Config never refuses a request: values are coerced where they can be (``"2"`` -> 2) and ignored
with a warning where trimwire cannot honour them; only a body without messages is a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import MODES
from .formats import openai_chat
from .outcomes import RequestOutcome
from .service import FORMAT_ALIASES, CompressAnswer, CompressCall
from .tokens import TokenCounter

__all__ = ["BadCall", "Shaped", "parse_compress", "compress_reply", "parse_raw", "raw_reply",
           "DEFAULT_MODEL", "IGNORED_CONFIG_KEYS", "HEADROOM_USER_HEADER", "HEADROOM_BYPASS_HEADER"]

HEADROOM_BYPASS_HEADER = "x-headroom-bypass"
HEADROOM_USER_HEADER = "x-headroom-user-id"   # a fallback for the configured user_header
DEFAULT_MODEL = "unknown"                      # a call without a model: it only labels metrics
# Headroom's config keys trimwire knows but has no equivalent for (it honours mode, protect_recent
# and frozen_message_count: _config_options).
IGNORED_CONFIG_KEYS = ("compress_user_messages", "target_ratio", "protect_analysis_context", "session_id",
                       "token_budget")
_HEADROOM_MODES = ("ccr", "lossy_inline", "lossless_then_lossy")
_RAW_TOOL = "compress_raw"


class BadCall(ValueError):
    """A request the API answers with 400 and this message."""


@dataclass
class Shaped:
    """A validated call and what was said about its config."""

    call: CompressCall
    warnings: list[str] = field(default_factory=list)


def parse_compress(body: Any, *, user: str = "", request_id: str = "", bypass: bool = False,
                   ignored: Callable[[str], None] = lambda key: None) -> Shaped:
    """A /v1/compress body as a CompressCall; ``ignored`` hears each config key not honoured."""
    if not isinstance(body, dict):
        raise BadCall("Request body must be a JSON object.")
    warnings: list[str] = []
    items_key = "messages"
    if body.get("messages") is None and isinstance(body.get("input"), list):
        items_key = "input"  # a Responses-API body
    messages = body.get(items_key)
    if messages is None:
        raise BadCall("Missing required field: messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadCall(f"Field {items_key} must be an array of message objects.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if model is not None:
            warnings.append(f"model {type(model).__name__} is not a string; using {DEFAULT_MODEL!r}")
        model = DEFAULT_MODEL
    format_name = body.get("format")
    if format_name is not None and format_name not in FORMAT_ALIASES:
        warnings.append("format is unknown; detected from the messages instead")
        format_name = None
    config = body.get("config") or {}
    if not isinstance(config, dict):
        warnings.append("config must be an object; ignored")
        ignored("other")
        config = {}
    options = _config_options(config, warnings, ignored)
    call = CompressCall(messages=messages, model=model, format=format_name, items_key=items_key, user=user,
                        request_id=request_id, bypass=bypass, **options)
    return Shaped(call, warnings)


def _config_options(config: dict[str, Any], warnings: list[str],
                    ignored: Callable[[str], None]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in config.items():
        if key == "mode":
            mode = value.strip().lower() if isinstance(value, str) else value
            if mode in MODES:
                options["mode"] = mode
            else:
                why = "names a Headroom mode with no trimwire equivalent" if mode in _HEADROOM_MODES \
                    else f"is not one of {list(MODES)}"
                warnings.append(f"config.mode {why}; the configured mode is used")
                ignored("mode")
        elif key in ("protect_recent", "frozen_message_count"):
            number = _count(value)
            if number is None:
                warnings.append(f"config.{key} is not a non-negative integer; ignored")
                ignored(key)
            else:
                options["protect_recent" if key == "protect_recent" else "frozen_messages"] = number
        else:
            known = key in IGNORED_CONFIG_KEYS
            warnings.append(f"config.{key} {'has no trimwire equivalent' if known else 'is unknown'}; ignored")
            ignored(key if known else "other")
    return options


def _count(value: Any) -> int | None:
    """``value`` as a count: ints, integral floats and digit strings; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value >= 0 else None


def compress_reply(answer: CompressAnswer, call: CompressCall, warnings: list[str]) -> dict[str, Any]:
    """The /v1/compress response document after its messages (or ``input``), which the API writes
    first as the caller's own bytes (``api_guard.response_body``)."""
    out: dict[str, Any] = {
        "tokens_before": answer.tokens_before,
        "tokens_after": answer.tokens_after, "tokens_saved": answer.tokens_saved,
        "compression_ratio": round(answer.ratio, 4), "transforms_applied": list(answer.transforms),
        "transforms_summary": dict(answer.transform_blocks or {}), "ccr_hashes": [],
    }
    if answer.outcome == RequestOutcome.FAILED_OPEN:
        out.update(compression_skipped=True, skip_reason=answer.skip_reason)
    if warnings:
        out["warnings"] = warnings
    return out


def parse_raw(body: Any, *, user: str = "", request_id: str = "") -> tuple[CompressCall, list[str]]:
    """A /v1/compress-raw body as a call compressing each text as one tool result."""
    texts = body.get("texts") if isinstance(body, dict) else None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise BadCall("Field texts must be an array of strings.")
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": f"raw_{n}", "type": "function", "function": {"name": _RAW_TOOL, "arguments": "{}"}}
        for n in range(len(texts))]}] if texts else []
    messages += [{"role": "tool", "tool_call_id": f"raw_{n}", "content": text} for n, text in enumerate(texts)]
    model = body.get("model") if isinstance(body.get("model"), str) and body.get("model") else DEFAULT_MODEL
    call = CompressCall(messages=messages, model=model, format=openai_chat.FORMAT, user=user,
                        request_id=request_id, entry="/v1/compress-raw")
    return call, texts


def raw_reply(answer: CompressAnswer, texts: list[str], tokens: TokenCounter) -> dict[str, Any]:
    """The /v1/compress-raw response: each text's compressed form and both counts (blocking)."""
    tools = [m for m in answer.messages if isinstance(m, dict) and m.get("role") == "tool"]
    results = []
    for text, message in zip(texts, tools):
        content = message.get("content")
        compressed = content if isinstance(content, str) else text
        results.append({"compressed": compressed, "original_tokens": tokens.count(text),
                        "compressed_tokens": tokens.count(compressed)})
    return {"results": results, "transforms_applied": list(answer.transforms)}
