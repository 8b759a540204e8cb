"""The /stats aggregate (``stats.py``) and how ``trimwire stats`` and ``trimwire up`` print it."""

from __future__ import annotations

import io

import pytest

from extproc.stats import RequestRecord, SavingsStats, cache_hits, parse_prices
from extproc.stats_cli import print_stats, request_line


def record(user: str = "alice", model: str = "claude-sonnet-4-5", outcome: str = "compressed",
           before: int = 1000, after: int = 400, **extra: object) -> RequestRecord:
    return RequestRecord(request_id=extra.pop("request_id", "r1"), user=user, model=model,  # type: ignore[arg-type]
                         path="/v1/messages", outcome=outcome, tokens_before=before, tokens_after=after,
                         ms=12.5, at=1_700_000_000.0, **extra)  # type: ignore[arg-type]


class TestSavingsStats:
    def test_totals_per_user_and_model(self) -> None:
        """Requests, outcomes, tokens, ratio, transforms and cache hits add up three ways."""
        stats = SavingsStats(clock=lambda: 1_700_000_100.0)
        stats.record(record(transforms=("logs",), cache_hits=2))
        stats.record(record(user="bob", model="gpt-4o", before=500, after=500, outcome="unchanged"))
        stats.record(record(user="bob", model="gpt-4o", before=0, after=0, outcome="passthrough"))
        doc = stats.snapshot()
        assert doc["totals"] == {"requests": 3, "outcomes": {"compressed": 1, "unchanged": 1, "passthrough": 1},
                                 "tokens_before": 1500, "tokens_after": 900, "tokens_saved": 600,
                                 "ratio": 0.6, "transforms": {"logs": 1}, "cache_hits": 2}
        assert doc["users"]["bob"]["requests"] == 2 and doc["users"]["alice"]["tokens_saved"] == 600
        assert doc["models"]["gpt-4o"]["ratio"] == 1.0
        assert "usd_saved" not in doc["totals"] and "Prometheus" in doc["note"]

    def test_recent_is_bounded_newest_first(self) -> None:
        """Only the last N requests are kept, newest first, with ids and counts only."""
        stats = SavingsStats(recent=2)
        for number in range(3):
            stats.record(record(request_id=f"r{number}"))
        recent = stats.snapshot()["recent"]
        assert [r["id"] for r in recent] == ["r2", "r1"]
        assert set(recent[0]) == {"id", "user", "model", "path", "outcome", "tokens_before", "tokens_after",
                                  "tokens_saved", "ms", "at"}

    def test_prices_first_match_wins(self) -> None:
        """Dollars saved use the first pattern matching the model; unpriced models save $0."""
        stats = SavingsStats(parse_prices(["claude-sonnet-*=3", "claude-*=15"]))
        stats.record(record(before=2_000_000, after=1_000_000))
        stats.record(record(model="llama-3", before=2_000_000, after=0))
        doc = stats.snapshot()
        assert doc["models"]["claude-sonnet-4-5"]["usd_saved"] == 3.0
        assert doc["models"]["llama-3"]["usd_saved"] == 0.0 and doc["totals"]["usd_saved"] == 3.0

    def test_listener_hears_each_request_and_cannot_break_it(self) -> None:
        """Listeners get each record and the totals; one that raises changes nothing."""
        heard = []
        stats = SavingsStats()
        stats.subscribe(lambda rec, totals: heard.append((rec.user, totals["requests"])))
        stats.subscribe(lambda rec, totals: 1 / 0)
        stats.record(record())
        assert heard == [("alice", 1)]

    @pytest.mark.parametrize("entry", ["claude", "=3", "gpt-4o=cheap", "gpt-4o=-1"])
    def test_bad_price_entries(self, entry: str) -> None:
        """A price entry that does not read is a ValueError naming it."""
        with pytest.raises(ValueError, match="prices: .* must read MODEL_PATTERN=DOLLARS"):
            parse_prices([entry])

    def test_cache_hits(self) -> None:
        """Block, message and shared-cache hits count; misses and evictions do not."""
        assert cache_hits({"hit": 2, "message_hit": 3, "shared_hit": 1, "miss": 9, "eviction": 4}) == 6


class TestPrinting:
    def test_table(self) -> None:
        """`trimwire stats` prints totals, per-user and per-model rows with dollars when priced."""
        stats = SavingsStats(parse_prices(["claude-*=3"]))
        stats.record(record(before=1_000_000, after=250_000, transforms=("logs",)))
        out = io.StringIO()
        print_stats(stats.snapshot(), out)
        text = out.getvalue()
        assert "all requests" in text and "1,000,000" in text and "750,000" in text and "75.0%" in text
        assert "alice" in text and "claude-sonnet-4-5" in text and "2.2500" in text
        assert "transforms: logs 1" in text and "last requests" in text

    def test_request_line(self) -> None:
        """`trimwire up`'s line: user, model, tokens before -> after, outcome, and the running total."""
        stats = SavingsStats()
        lines: list[str] = []
        stats.subscribe(lambda rec, totals: lines.append(request_line(rec, totals)))
        stats.record(record(before=41210, after=6034))
        assert lines == ["alice  claude-sonnet-4-5  41,210 -> 6,034 tokens (saved 35,176)  compressed  12 ms  "
                         "| total: 1 requests, 35,176 tokens saved (85.4%)"]
