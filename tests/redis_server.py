"""A throwaway redis-server (the Debian package) for the tests of the shared block cache, and a way
to make it slow without taking it down.

Tests that need one mark themselves ``requires_redis``: where redis-server is not installed
(``make system-deps`` installs it) they skip instead of failing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

__all__ = ["REDIS", "requires_redis", "running_redis", "pause", "free_port"]

REDIS = shutil.which("redis-server")
requires_redis = pytest.mark.skipif(REDIS is None,
                                    reason="redis-server is not installed (apt-get install redis-server)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_redis() -> Iterator[str]:
    """A redis-server on a loopback port, no persistence, stopped on exit; yields its URL."""
    assert REDIS is not None, "mark the test requires_redis"
    port = free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("redis-server exited at start")
                threading.Event().wait(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def pause(url: str, seconds: float = 60.0) -> None:
    """Make Redis slow, not down: ``CLIENT PAUSE ... ALL`` from a connection of its own. Redis still
    accepts connections and queues every command, answering none, for ``seconds`` or until
    redis-server stops; nothing ends it sooner (a paused Redis queues ``CLIENT UNPAUSE`` too)."""
    import redis

    with redis.Redis.from_url(url, socket_timeout=5) as admin:
        admin.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
