"""What the agent sent, before trimwire: a loopback forwarder between the agent CLI and Envoy that
keeps each request body and passes request and reply through unchanged.

The scripted model sends each reply whole, so the forwarder relays it whole too (no streaming).
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.upstream import LoopbackServer

__all__ = ["Forwarder", "Sent"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
        "content-length", "host"}


@dataclass
class Sent:
    method: str
    path: str
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        owner: Forwarder = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length) if length else b""
        owner.record(Sent(self.command, self.path, body))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection("127.0.0.1", owner.target_port, timeout=300)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            reply = conn.getresponse()
            payload = reply.read()
        finally:
            conn.close()
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = _relay  # noqa: N815


@dataclass
class Forwarder(LoopbackServer):
    """Listens on a free loopback port (``url``) and relays everything to ``target_port``."""

    target_port: int
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._serve(_Handler)

    def record(self, item: Sent) -> None:
        with self._lock:
            self.sent.append(item)

