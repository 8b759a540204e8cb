"""Listen addresses and upstream URLs given on the command line, checked before anything starts.

Used by ``trimwire up`` and ``serve`` (``cli.py``): a typo, a port already taken or an upstream
URL that would send API keys in clear is said in one sentence that names the flag or setting to
change, instead of a traceback or a silent fallback (a URL without a scheme would otherwise go
to localhost:80 in plaintext).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from .errors import UsageError

__all__ = ["parse_listen", "check_upstream", "check_free", "is_loopback"]


def parse_listen(value: str, flag: str) -> tuple[str, int]:
    """``HOST:PORT`` as a (host, port) pair; a UsageError naming ``flag`` when it does not read."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{flag} {value!r} must look like HOST:PORT with a port from 0 to 65535, "
                         "e.g. 127.0.0.1:10000")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_upstream(flag: str, url: str) -> tuple[str, str | None]:
    """The upstream URL (without a trailing slash) and a warning, or a UsageError.

    The scheme is required, and the URL names a host only: clients send the API path
    themselves and Envoy forwards it as sent, so a path here would be silently dropped.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{flag} {url!r} needs a scheme and a host, e.g. https://api.openai.com "
                         "(without one the request would go in plaintext to localhost)")
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise UsageError(f"{flag} {url!r} has a port that is not a number from 0 to 65535") from None
    if not host:
        raise UsageError(f"{flag} {url!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"{flag} {url!r} has a path; give the scheme, host and port only "
                         "(clients send the API path, e.g. /v1/messages, themselves)")
    warning = None
    if parts.scheme == "http" and not is_loopback(host):
        warning = (f"{flag} {url} is plaintext http to a host that is not loopback: API keys and "
                   "prompts would travel unencrypted; use https:// unless this network is trusted")
    return f"{parts.scheme}://{parts.netloc}", warning


def check_free(host: str, port: int, setting: str) -> None:
    """A UsageError naming ``setting`` when something already listens on host:port (port 0: any)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: only a socket still listening there is a conflict, not one in TIME_WAIT
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            raise UsageError(f"{host}:{port} {why}: change {setting}") from None
