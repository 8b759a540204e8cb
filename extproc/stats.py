"""Savings since start, for a person: the ``GET /stats`` aggregate and the listeners of ``trimwire up``.

Fed by ``StreamProcessor.account``, the one place every request is accounted (ext_proc streams and
both compression APIs, all in the server process; the workers only compress). Totals, per user and
per model: requests by outcome, tokens before, after and saved, the ratio, the transforms that
worked, block-cache hits, and with a price table the money saved; plus the last requests (ids,
names and counts only, never prompt text). In memory and since start: durable history is
Prometheus's job (``/metrics``).
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

__all__ = ["RequestRecord", "SavingsStats", "parse_prices", "cache_hits", "DEFAULT_RECENT"]

DEFAULT_RECENT = 50
# Cache results that mean "answered without compressing again" (block and message caches, Redis).
_HITS = ("hit", "message_hit", "shared_hit")


def cache_hits(counts: dict[str, int]) -> int:
    """Of a request's block-cache counts (``BodyResult.cache``), the blocks and messages answered
    from a cache instead of compressed again."""
    return sum(counts.get(name, 0) for name in _HITS)


def parse_prices(items: Iterable[str]) -> tuple[tuple[str, float], ...]:
    """``pattern=dollars`` entries (dollars per million input tokens) as pairs, in order.

    Raises ValueError with a sentence naming the entry that does not read.
    """
    prices = []
    for item in items:
        pattern, sep, price = str(item).rpartition("=")
        try:
            value = float(price)
        except ValueError:
            value = -1.0
        if not sep or not pattern.strip() or value < 0:
            raise ValueError(f"prices: {item!r} must read MODEL_PATTERN=DOLLARS_PER_MILLION_TOKENS, "
                             "e.g. claude-sonnet-*=3")
        prices.append((pattern.strip(), value))
    return tuple(prices)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One accounted request, as /stats shows it."""

    request_id: str
    user: str
    model: str
    path: str
    outcome: str
    tokens_before: int = 0
    tokens_after: int = 0
    ms: float = 0.0
    transforms: tuple[str, ...] = ()
    cache_hits: int = 0
    at: float = 0.0

    @property
    def tokens_saved(self) -> int:
        return max(0, self.tokens_before - self.tokens_after)


@dataclass
class _Tally:
    requests: int = 0
    outcomes: Counter = field(default_factory=Counter)
    tokens_before: int = 0
    tokens_after: int = 0
    transforms: Counter = field(default_factory=Counter)
    cache_hits: int = 0
    usd_saved: float = 0.0

    def add(self, record: RequestRecord, usd: float) -> None:
        self.requests += 1
        self.outcomes[record.outcome] += 1
        self.tokens_before += record.tokens_before
        self.tokens_after += record.tokens_after
        self.transforms.update(record.transforms)
        self.cache_hits += record.cache_hits
        self.usd_saved += usd

    def view(self, priced: bool) -> dict[str, Any]:
        saved = self.tokens_before - self.tokens_after
        out: dict[str, Any] = {
            "requests": self.requests, "outcomes": dict(self.outcomes),
            "tokens_before": self.tokens_before, "tokens_after": self.tokens_after, "tokens_saved": saved,
            "ratio": round(self.tokens_after / self.tokens_before, 4) if self.tokens_before else 1.0,
            "transforms": dict(self.transforms), "cache_hits": self.cache_hits,
        }
        if priced:
            out["usd_saved"] = round(self.usd_saved, 6)
        return out


Listener = Callable[[RequestRecord, dict[str, Any]], None]


class SavingsStats:
    """Thread-safe totals since start; ``record`` is called once per request, from any thread."""

    def __init__(self, prices: Iterable[tuple[str, float]] = (), recent: int = DEFAULT_RECENT,
                 clock: Callable[[], float] = time.time) -> None:
        self.prices = tuple(prices)
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._total = _Tally()
        self._users: dict[str, _Tally] = {}
        self._models: dict[str, _Tally] = {}
        self._recent: deque[RequestRecord] = deque(maxlen=recent)
        self._listeners: list[Listener] = []

    def price(self, model: str) -> float | None:
        """Dollars per million input tokens of ``model``: the first pattern that matches it."""
        for pattern, dollars in self.prices:
            if fnmatch.fnmatchcase(model, pattern):
                return dollars
        return None

    def subscribe(self, listener: Listener) -> None:
        """``listener(record, totals)`` after each request (``trimwire up`` prints a line)."""
        self._listeners.append(listener)

    def record(self, record: RequestRecord) -> None:
        if not record.at:
            record = replace(record, at=self._clock())
        dollars = self.price(record.model)
        usd = record.tokens_saved * dollars / 1_000_000 if dollars is not None else 0.0
        with self._lock:
            self._total.add(record, usd)
            self._users.setdefault(record.user, _Tally()).add(record, usd)
            self._models.setdefault(record.model, _Tally()).add(record, usd)
            self._recent.append(record)
            # the totals are only for listeners: building them costs more than the rest of a record
            totals = self._total.view(bool(self.prices)) if self._listeners else {}
        for listener in self._listeners:
            try:
                listener(record, totals)
            except Exception:  # a printer that fails never fails the request
                pass

    def snapshot(self) -> dict[str, Any]:
        """The /stats document."""
        priced = bool(self.prices)
        with self._lock:
            recent = [_recent_view(r) for r in reversed(self._recent)]
            out = {
                "since": datetime.fromtimestamp(self._started, UTC).isoformat(timespec="seconds"),
                "uptime_s": round(self._clock() - self._started, 1),
                "totals": self._total.view(priced),
                "users": {name: t.view(priced) for name, t in sorted(self._users.items())},
                "models": {name: t.view(priced) for name, t in sorted(self._models.items())},
                "recent": recent,
            }
        if priced:
            out["prices_usd_per_million_input_tokens"] = dict(self.prices)
        out["note"] = ("in memory since start; durable history is in Prometheus (/metrics: "
                       "trimwire_tokens_saved_total and friends)")
        return out


def _recent_view(record: RequestRecord) -> dict[str, Any]:
    return {
        "id": record.request_id, "user": record.user, "model": record.model, "path": record.path,
        "outcome": record.outcome, "tokens_before": record.tokens_before, "tokens_after": record.tokens_after,
        "tokens_saved": record.tokens_saved, "ms": round(record.ms, 2),
        "at": datetime.fromtimestamp(record.at, UTC).isoformat(timespec="seconds"),
    }
