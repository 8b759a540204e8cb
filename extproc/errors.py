"""trimwire's error hierarchy: what each kind of failure means for the request.

    TrimwireError
    ├── ConfigError          bad settings: start-up stops with the message
    ├── UsageError           a command-line mistake (a flag, a file, a port in use): one sentence
    ├── KompressUnavailable  no usable Kompress model: served without it (kompress.required: stop)
    └── PassThrough          the body is not ours to touch: forwarded untouched, counted by reason
        ├── UnsupportedBody    unknown shape, not JSON, wrong content-type
        └── BodyTooLarge       over max_body_bytes or max_decoded_bytes

A compression failure has no class of its own: whatever a stage raises (or ``TimeoutError`` at
``request_deadline_ms``, ``BrokenProcessPool`` for a worker that died) is caught in one place,
``StreamProcessor.compress_or_fail_open``, which sends the original body upstream (fail open) and
counts ``trimwire_failed_open_total`` with the exception's type as the reason (``deadline`` for
the timeout). A model that fails on one block fails that block open inside Kompress instead.

Protocol faults on one ext_proc stream end that stream only; Envoy's failure_mode_allow then
forwards the request unchanged.
"""

from __future__ import annotations

__all__ = [
    "TrimwireError",
    "ConfigError",
    "UsageError",
    "KompressUnavailable",
    "PassThrough",
    "UnsupportedBody",
    "BodyTooLarge",
]


class TrimwireError(Exception):
    """Base of every error trimwire raises on purpose."""


class ConfigError(TrimwireError):
    """A setting is missing or invalid; raised at start-up only."""


class UsageError(TrimwireError):
    """A mistake in how a command was run; the command line prints it as one sentence."""


class KompressUnavailable(TrimwireError):
    """The Kompress model cannot load: ``reason`` is a metric label, ``detail`` the log line's text."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class PassThrough(TrimwireError):
    """The request body must go upstream untouched; ``reason`` becomes a metric label."""

    reason = "unsupported"

    def __init__(self, detail: str = "", *, reason: str | None = None) -> None:
        super().__init__(detail or self.reason)
        if reason is not None:
            self.reason = reason


class UnsupportedBody(PassThrough):
    """Not a body trimwire understands (invalid JSON, unknown shape, bad encoding)."""

    reason = "unsupported_body"


class BodyTooLarge(PassThrough):
    """Body above the configured size limits, compressed or decoded."""

    reason = "too_large"
