"""The block cache shared by every worker process and replica, in Redis (optional).

With ``redis_url`` set, a block missing from a worker's own cache (``cache.py``) is looked up in
Redis before any compressor runs, and every result computed is written there too. A
conversation whose turns land on different workers or replicas (some on GPU, some on CPU) then
gets the very bytes it got before, and pays for each block once.

Redis is never in the way: every call has a short timeout (``redis_timeout_ms``), and after a
failure the store stays off for ``DEFAULT_RETRY_AFTER_S`` before it tries again, so a Redis that
is down or slow costs one timeout per worker per interval, not one per block. Failures are
counted (``shared_error``), never raised: the request goes on with the local cache.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from .cache import CacheStats, Outcome

__all__ = ["SharedBlockStore", "DEFAULT_RETRY_AFTER_S", "DEFAULT_TTL_S", "KEY_PREFIX"]

DEFAULT_RETRY_AFTER_S = 5.0
DEFAULT_TTL_S = 24 * 3600      # a conversation rarely lasts longer; Redis's own eviction does the rest
KEY_PREFIX = b"trimwire:block:"


class SharedBlockStore:
    """Outcomes by block key in Redis; ``stats`` counts hits and misses, ``errors`` the calls Redis
    could not answer."""

    def __init__(self, url: str, *, timeout_ms: int, ttl_s: int = DEFAULT_TTL_S,
                 retry_after_s: float = DEFAULT_RETRY_AFTER_S, clock: Callable[[], float] = time.monotonic) -> None:
        import redis  # imported here: only a deployment that names a Redis needs the client

        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_ms / 1000,
                                           socket_connect_timeout=timeout_ms / 1000)
        self._errors = (redis.RedisError, OSError)
        self.ttl_s = ttl_s
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._off_until = 0.0
        self.stats = CacheStats()
        self.errors = 0

    def get(self, key: bytes) -> tuple[Outcome] | None:
        """``(outcome,)`` when Redis has the block, None when it has not or cannot answer."""
        if not self._usable():
            return None
        try:
            raw = self._redis.get(KEY_PREFIX + key)
        except self._errors:
            self._failed()
            return None
        if raw is None:
            self.stats.misses += 1
            return None
        try:
            value = json.loads(raw)
            outcome = None if value is None else (str(value[0]), str(value[1]))
        except (ValueError, TypeError, IndexError):
            self.stats.misses += 1  # not ours, or from a version that wrote another shape
            return None
        self.stats.hits += 1
        return (outcome,)

    def put(self, key: bytes, outcome: Outcome) -> None:
        if not self._usable():
            return
        value = json.dumps(None if outcome is None else list(outcome))  # ASCII: lone surrogates too
        try:
            self._redis.set(KEY_PREFIX + key, value, ex=self.ttl_s)
        except self._errors:
            self._failed()

    def _usable(self) -> bool:
        return self._clock() >= self._off_until

    def _failed(self) -> None:
        self.errors += 1
        self._off_until = self._clock() + self.retry_after_s
