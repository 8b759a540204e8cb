"""Prometheus metrics, created once per server on their own registry and passed in.

Label values that come from clients (user, model) go through ``LabelGuard``: sanitised, and
bounded in number so a client cannot explode the series count.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .status import KompressStatus

__all__ = ["Metrics", "LabelGuard", "AMBIGUOUS_LABEL", "OVERFLOW_LABEL", "UNKNOWN_LABEL"]

OVERFLOW_LABEL = "__overflow__"
UNKNOWN_LABEL = "__unknown__"
# The user of a request that names several (two user headers): none of them is believed, no
# bypass is granted, and the request is counted (trimwire_ambiguous_user_total).
AMBIGUOUS_LABEL = "__ambiguous__"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@:/+-]")
_MAX_LABEL_CHARS = 64
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def sanitise(value: str | None) -> str:
    """A safe label/header value: restricted charset, bounded length, never empty."""
    if not value:
        return UNKNOWN_LABEL
    cleaned = _UNSAFE.sub("_", value.strip())[:_MAX_LABEL_CHARS]
    return cleaned or UNKNOWN_LABEL


# dedup's events (``pipeline/dedup.py``) -> trimwire_dedup_tokens_total's kind label
_DEDUP_EVENTS = {"dedup_saved_tokens": "saved", "dedup_protected_tokens": "protected_repeats"}

class _Remembered:
    """A metric whose children are remembered by the label values asked for: prometheus_client's
    ``labels`` checks its arguments, turns each value into a string and takes a lock on every call
    (about 5 µs; accounting one request called it nineteen times, on the gRPC thread)."""

    def labels(self, *values: object, **named: object) -> Any:
        if named:
            return super().labels(*values, **named)  # type: ignore[misc]
        children = self.__dict__.setdefault("_children", {})
        child = children.get(values)
        if child is None:  # two threads may both ask: prometheus_client hands both the same child
            child = children[values] = super().labels(*values)  # type: ignore[misc]
        return child

    def remove(self, *values: object) -> None:
        self.__dict__.get("_children", {}).clear()
        super().remove(*values)  # type: ignore[misc]

    def clear(self) -> None:
        self.__dict__.get("_children", {}).clear()
        super().clear()  # type: ignore[misc]


class _Counter(_Remembered, Counter):
    pass


class _Gauge(_Remembered, Gauge):
    pass


class _Histogram(_Remembered, Histogram):
    pass


class LabelGuard:
    """Maps client-supplied values to label values: raw (bounded), hashed, or dropped."""

    def __init__(self, mode: str = "raw", limit: int = 1000) -> None:
        self.mode = mode
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def display(self, value: str | None) -> str:
        """The value as logs may show it: sanitised, hashed in hash mode, empty in drop mode."""
        if self.mode == "drop":
            return ""
        cleaned = sanitise(value)
        if self.mode == "hash" and cleaned != UNKNOWN_LABEL:
            return hashlib.sha256(cleaned.encode()).hexdigest()[:16]
        return cleaned

    def label(self, value: str | None) -> str:
        """The value as a metric label: like ``display``, but bounded in distinct values."""
        cleaned = self.display(value)
        if self.mode == "drop":
            return cleaned
        with self._lock:
            if cleaned in self._seen:
                return cleaned
            if len(self._seen) >= self.limit:
                return OVERFLOW_LABEL
            self._seen.add(cleaned)
        return cleaned


class Metrics:
    """Every metric trimwire exports. One instance per server process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = _Counter("trimwire_requests", "Requests by format and outcome "
                                "(compressed, unchanged, bypassed, passthrough, failed_open).",
                                ["format", "outcome"], registry=r)
        self.passthrough = _Counter("trimwire_passthrough", "Requests forwarded untouched, by reason.",
                                   ["reason"], registry=r)
        self.failed_open = _Counter("trimwire_failed_open", "Requests whose compression failed and "
                                   "went upstream unchanged, by reason.", ["reason"], registry=r)
        self.tokens_before = _Counter("trimwire_tokens_before", "Message tokens before compression.",
                                     ["model", "user"], registry=r)
        self.tokens_after = _Counter("trimwire_tokens_after", "Message tokens after compression.",
                                    ["model", "user"], registry=r)
        self.tokens_saved = _Counter("trimwire_tokens_saved", "Message tokens removed.",
                                    ["model", "user"], registry=r)
        self.body_bytes = _Counter("trimwire_body_bytes", "Request body bytes, before and after.",
                                  ["direction"], registry=r)
        self.stage_seconds = _Histogram("trimwire_stage_seconds", "Time spent per stage of a request.",
                                       ["stage"], buckets=_LATENCY_BUCKETS, registry=r)
        self.request_seconds = _Histogram("trimwire_request_seconds", "Time from body received to reply.",
                                         ["format"], buckets=_LATENCY_BUCKETS, registry=r)
        self.inflight = _Gauge("trimwire_inflight_streams", "ext_proc streams open now.", registry=r)
        self.ambiguous_user = _Counter("trimwire_ambiguous_user", "Requests that carried the user header "
                                      "more than once (no user believed, no bypass).", registry=r)
        self.stream_errors = _Counter("trimwire_stream_errors", "ext_proc streams ended by a protocol "
                                     "fault or a client cancel.", ["kind"], registry=r)
        self.workers = _Gauge("trimwire_compression_workers", "Compression worker processes "
                             "(0 = in-process thread).", registry=r)
        self.ready = _Gauge("trimwire_ready", "1 when the server is ready to serve.", registry=r)
        self.block_cache = _Counter("trimwire_block_cache", "Block cache lookups in the compression "
                                   "workers (hit, miss), entries evicted (eviction), and messages answered "
                                   "whole (message_hit) or read into blocks (message_miss).", ["result"],
                                   registry=r)
        self.api_calls = _Counter("trimwire_api_calls", "Calls of the compression APIs (/v1/compress, "
                                 "gRPC Compress) by API and answer (HTTP status or gRPC code).",
                                 ["api", "status"], registry=r)
        self.api_config_ignored = _Counter("trimwire_api_config_ignored", "Keys of a /v1/compress "
                                          "config that trimwire has no equivalent for.", ["key"], registry=r)
        self.kompress_model = _Gauge("trimwire_kompress_model", "1 for the Kompress model the compression "
                                    "workers loaded and the execution provider it really runs on.",
                                    ["model", "provider"], registry=r)
        self.kompress_unavailable = _Gauge("trimwire_kompress_unavailable", "1 when no Kompress model "
                                          "could be loaded, by reason; prose then goes uncompressed.",
                                          ["reason"], registry=r)
        self.compressor_unavailable = _Gauge("trimwire_compressor_unavailable", "1 for a compressor that "
                                            "is off because its library failed to load, by reason; its "
                                            "content type then goes uncompressed.", ["compressor", "reason"],
                                            registry=r)
        self.guard_rejected = _Counter("trimwire_error_guard_rejected", "Compressor outputs rejected for "
                                      "dropping a protected error or traceback line (pipeline/guard.py).",
                                      registry=r)
        self.kompress_blocks = _Counter("trimwire_kompress_blocks", "Prose blocks Kompress took, by result "
                                       "(compressed, unchanged, deadline, overloaded, error).", ["result"], registry=r)
        self.dedup_tokens = _Counter("trimwire_dedup_tokens", "Tokens of runs of lines already in the "
                                    "conversation: replaced by a pointer (saved), or left in a file read "
                                    "with dedup_reads off (protected_repeats).", ["kind"], registry=r)
        self.kompress_chunks = _Counter("trimwire_kompress_chunks", "Chunks of up to 512 tokens sent to the "
                                       "Kompress model.", registry=r)

        self.tracing_enabled = _Gauge("trimwire_tracing_enabled", "1 when request spans are exported over "
                                     "OTLP (the tracing setting).", registry=r)
        self.tracing_unavailable = _Gauge("trimwire_tracing_unavailable", "1 when tracing was asked for "
                                         "but cannot run, by reason (not_installed, unsupported_protocol).",
                                         ["reason"], registry=r)

    def kompress_status(self, status: KompressStatus) -> None:
        """Record what the workers made of Kompress at start-up."""
        if status.available:
            self.kompress_model.labels(status.model, status.provider).set(1)
        else:
            self.kompress_unavailable.labels(status.reason).set(1)

    def count_events(self, events: dict[str, int]) -> None:
        """Counts a request's timed compressors reported (``BodyResult.events``)."""
        for name, count in events.items():
            if name in _DEDUP_EVENTS:
                self.dedup_tokens.labels(_DEDUP_EVENTS[name]).inc(count)
            elif name == "guard_rejected":
                self.guard_rejected.inc(count)
            elif name == "kompress_chunks":
                self.kompress_chunks.inc(count)
            elif name.startswith("kompress_"):
                self.kompress_blocks.labels(name.removeprefix("kompress_")).inc(count)
