"""trimwire's error hierarchy: what each kind of failure means for the request.

    TrimwireError
    ├── ConfigError          bad settings: start-up stops with the message
    ├── UsageError           a command-line mistake (a flag, a file, a port in use): one sentence
    ├── KompressUnavailable  no usable Kompress model: served without it (kompress.required: stop)
    ├── PassThrough          the body is not ours to touch: forwarded untouched, counted by reason
    │   ├── UnsupportedBody    unknown shape, not JSON, wrong content-type
    │   └── BodyTooLarge       over max_body_bytes or max_decoded_bytes
    └── CompressionFailed    a stage broke or ran out of time: the original body goes upstream
                             (fail open) and a counter is incremented

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
    "CompressionFailed",
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


class CompressionFailed(TrimwireError):
    """A compression stage failed; the request fails open with the original body."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
