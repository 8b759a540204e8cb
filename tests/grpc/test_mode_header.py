"""An ``x-trimwire-mode`` value that is not a mode is warned about, not silently taken for the default."""

from __future__ import annotations

import grpc
from structlog.testing import capture_logs

from .bodies import anthropic_body, encode, service_listing
from .harness import Harness


async def test_invalid_mode_header_is_warned(trimwire: Harness) -> None:
    """`x-trimwire-mode: tokn` logs invalid_mode_header with the value and the allowed modes."""
    with capture_logs() as logs:
        stream = trimwire.stream()
        await stream.request_headers(headers={"x-trimwire-mode": "tokn"})
        await stream.body(encode(anthropic_body(service_listing())))
        await stream.response_headers()
        assert await stream.finish() == grpc.StatusCode.OK
    [warning] = [entry for entry in logs if entry["event"] == "invalid_mode_header"]
    assert warning["value"] == "tokn" and warning["allowed"] == ["cache", "token"]
    assert warning["log_level"] == "warning"


async def test_valid_mode_header_is_not_warned(trimwire: Harness) -> None:
    """A valid mode (any case) raises no warning."""
    with capture_logs() as logs:
        stream = trimwire.stream()
        await stream.request_headers(headers={"x-trimwire-mode": "Token"})
        await stream.body(encode(anthropic_body(service_listing())))
        await stream.response_headers()
        await stream.finish()
    assert not [entry for entry in logs if entry["event"] == "invalid_mode_header"]
