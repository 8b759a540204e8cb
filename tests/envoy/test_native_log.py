"""gRPC's own transport errors reach the JSON log as JSON, rate-limited (issue 20, defect 10)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from extproc.native_log import BURST, NativeLines
from tests.grpc.certs import make_certs

from .stack import start_trimwire


def test_junk_tls_connections_leave_only_json_lines(tmp_path: Path) -> None:
    """400 connections that send junk to a TLS gRPC port: every line trimwire writes is JSON, the
    handshake errors among them as native_log lines, no more than BURST of them."""
    (tmp_path / "certs").mkdir()
    certs = make_certs(tmp_path / "certs")
    running = start_trimwire(tmp_path, workers=1, TRIMWIRE_TLS_CERT_FILE=str(certs.server_cert),
                             TRIMWIRE_TLS_KEY_FILE=str(certs.server_key))
    try:
        for _ in range(400):
            with socket.create_connection(("127.0.0.1", running.grpc_port), timeout=5) as conn:
                conn.sendall(b"\x16\x03\x01\x00\x05junk!" + b"\x00" * 64)
                try:
                    conn.recv(1024)
                except OSError:
                    pass
        time.sleep(1.0)
    finally:
        running.stop()
    lines = [line for line in running.log.read_text(errors="replace").splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a line outside the JSON log: {line[:120]!r}")
    native = [entry for entry in parsed if entry.get("event") == "native_log"]
    assert 0 < len(native) <= BURST


class _Log:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def warning(self, event: str, **fields: object) -> None:
        self.calls.append((event, fields))


def test_core_lines_keep_their_message_and_other_lines_only_their_length():
    """A C-core line is logged with severity, source and message; a traceback line that may quote
    a value is logged by its length only."""
    log = _Log()
    lines = NativeLines(log)
    lines.line(b"E0000 00:00:1733520000.123456   12345 ssl_transport_security.cc:1659] Handshake failed")
    lines.line(b"KeyError: 'SECRET-PROMPT-TEXT'")
    assert log.calls[0] == ("native_log", {"source": "ssl_transport_security.cc:1659", "severity": "error",
                                           "message": "Handshake failed"})
    assert log.calls[1] == ("native_log", {"source": "stderr", "chars": 30})


def test_past_the_burst_lines_are_counted_not_logged():
    log = _Log()
    lines = NativeLines(log, burst=3, window=0.05)
    for _ in range(10):
        lines.line(b"noise")
    time.sleep(0.06)
    lines.line(b"noise")
    assert [event for event, _ in log.calls] == ["native_log"] * 3 + ["native_log_suppressed", "native_log"]
    assert log.calls[3][1]["lines"] == 7
