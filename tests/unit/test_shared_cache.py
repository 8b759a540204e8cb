"""The block cache shared through a real redis-server (the Debian package, started here): two
compressors (two workers or replicas) share results byte for byte, and a Redis that is down or
never answers costs the request nothing but the shared hits."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from extproc import BodyRequest, Settings, build_engine
from tests.redis_server import free_port, requires_redis, running_redis
from tests.shelf import SHELF

from .test_cache import FIXTURES, load, tool_body

pytestmark = requires_redis


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a loopback port, no persistence, stopped after the test."""
    with running_redis() as url:
        yield url


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a Redis that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


RAW = tool_body([load(name) for name in FIXTURES])


class TestSharedBlockCache:
    def test_a_second_replica_gets_the_first_ones_results(self, redis_url):
        """Replica B, with a cold local cache, answers every block from Redis with A's exact bytes."""
        first = build_engine(Settings(workers=0, redis_url=redis_url), shelf=SHELF)
        second = build_engine(Settings(workers=0, redis_url=redis_url), shelf=SHELF)
        a = first.run(RAW, BodyRequest("openai"))
        b = second.run(RAW, BodyRequest("openai"))
        assert b.body == a.body is not None
        assert a.cache.get("shared_miss", 0) > 0 and "shared_hit" not in a.cache
        assert b.cache["shared_hit"] == a.cache["shared_miss"] and "shared_miss" not in b.cache
        assert b.stage_seconds.keys() & {"logs", "json_sampler", "search", "diff", "html", "table"} == set()

    def test_without_a_local_cache_redis_alone_serves(self, redis_url):
        """block_cache_bytes 0 with a Redis: results still come from Redis, byte-identical."""
        warm = build_engine(Settings(workers=0, redis_url=redis_url), shelf=SHELF)
        only_shared = build_engine(Settings(workers=0, redis_url=redis_url, block_cache_bytes=0), shelf=SHELF)
        expected = warm.run(RAW, BodyRequest("openai")).body
        result = only_shared.run(RAW, BodyRequest("openai"))
        assert result.body == expected and result.cache.get("shared_hit", 0) > 0

    def test_redis_down_falls_back_to_the_local_cache(self):
        """With nothing listening, requests are compressed as usual and the failures are counted."""
        compressor = build_engine(Settings(workers=0, redis_url=f"redis://127.0.0.1:{free_port()}/0"), shelf=SHELF)
        local = build_engine(Settings(workers=0), shelf=SHELF)
        result = compressor.run(RAW, BodyRequest("openai"))
        assert result.outcome == "compressed" and result.body == local.run(RAW, BodyRequest("openai")).body
        assert result.cache.get("shared_error", 0) >= 1
        again = compressor.run(RAW, BodyRequest("openai"))
        assert again.body == result.body and again.cache.get("message_hit", 0) > 0  # this process's caches

    def test_redis_that_never_answers_is_given_up_on(self, silent_server):
        """A hanging Redis times out once, then is left alone for a while: one error, not one per block."""
        compressor = build_engine(Settings(workers=0, redis_url=silent_server, redis_timeout_ms=50), shelf=SHELF)
        result = compressor.run(RAW, BodyRequest("openai"))
        assert result.outcome == "compressed" and result.cache.get("shared_error") == 1

    def test_bad_url_is_a_config_error(self):
        """A redis_url that is not a Redis URL stops start-up with a message naming it."""
        from extproc.errors import ConfigError

        with pytest.raises(ConfigError, match="redis_url"):
            Settings(redis_url="http://cache:6379")
