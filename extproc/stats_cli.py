"""Savings as a person reads them: ``trimwire stats [URL]`` (a table of ``GET /stats``) and the line
``trimwire up`` prints per request with a running total.

Only formatting lives here; the numbers come from ``stats.py`` through the server's ``/stats``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, TextIO

from .errors import UsageError
from .outcomes import RequestOutcome
from .stats import RequestRecord

__all__ = ["fetch_stats", "print_stats", "request_line", "DEFAULT_STATS_URL"]

DEFAULT_STATS_URL = "http://127.0.0.1:9090"


def fetch_stats(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """``url``'s /stats document (``url`` may name the server or the /stats path itself)."""
    target = url.rstrip("/")
    if "://" not in target:
        target = "http://" + target
    if not target.endswith("/stats"):
        target += "/stats"
    # No proxy: /stats is usually on loopback, and a proxy from the environment would answer instead
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(target, timeout=timeout) as reply:
            document = json.loads(reply.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{target} answered HTTP {exc.code}; is it trimwire's ops or API port?") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"cannot reach {target} ({reason}); is trimwire running there?") from None
    except ValueError:
        raise UsageError(f"{target} did not answer JSON; is it trimwire's ops or API port?") from None
    if not isinstance(document, dict) or "totals" not in document:
        raise UsageError(f"{target} did not answer trimwire's /stats document")
    return document


def _n(value: Any) -> str:
    return f"{int(value):,}"


def _pct_saved(row: dict[str, Any]) -> str:
    before = row.get("tokens_before", 0)
    return f"{100 * row.get('tokens_saved', 0) / before:.1f}%" if before else "-"


def _table(title: str, rows: dict[str, dict[str, Any]], priced: bool, out: TextIO) -> None:
    headers = [title, "requests", "compressed", "tokens before", "tokens after", "saved", "saved %"]
    if priced:
        headers.append("$ saved")
    lines = []
    for name, row in rows.items():
        cells = [name or "-", _n(row["requests"]), _n(row["outcomes"].get(RequestOutcome.COMPRESSED, 0)),
                 _n(row["tokens_before"]), _n(row["tokens_after"]), _n(row["tokens_saved"]), _pct_saved(row)]
        if priced:
            cells.append(f"{row.get('usd_saved', 0.0):.4f}")
        lines.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *lines)]
    for cells in [headers, ["-" * w for w in widths], *lines]:
        first, *rest = cells
        out.write("  ".join([first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:])]) + "\n")


def print_stats(document: dict[str, Any], out: TextIO) -> None:
    """The /stats document as tables: totals, per user, per model, the last requests."""
    priced = "usd_saved" in document["totals"]
    out.write(f"trimwire savings since {document.get('since', '?')} ({document.get('uptime_s', 0):.0f} s)\n\n")
    _table("total", {"all requests": document["totals"]}, priced, out)
    for title, key in (("user", "users"), ("model", "models")):
        if document.get(key):
            out.write("\n")
            _table(title, document[key], priced, out)
    transforms = document["totals"].get("transforms") or {}
    if transforms:
        out.write("\ntransforms: " + ", ".join(f"{k} {v:,}" for k, v in transforms.items()) + "\n")
    out.write(f"cache hits: {document['totals'].get('cache_hits', 0):,}\n")
    recent = document.get("recent") or []
    if recent:
        out.write("\nlast requests (newest first):\n")
        for row in recent[:10]:
            out.write(f"  {row['at']}  {row['user']}  {row['model']}  {_n(row['tokens_before'])} -> "
                      f"{_n(row['tokens_after'])} tokens  {row['outcome']}  {row['ms']:.0f} ms\n")
    out.write(f"\n{document.get('note', '')}\n")


def request_line(record: RequestRecord, totals: dict[str, Any]) -> str:
    """One request for ``trimwire up``'s terminal, and the running total."""
    saved = f"saved {_n(record.tokens_saved)}" if record.tokens_before else "nothing counted"
    usd = f", ${totals['usd_saved']:.4f}" if "usd_saved" in totals else ""
    return (f"{record.user}  {record.model}  {_n(record.tokens_before)} -> {_n(record.tokens_after)} tokens "
            f"({saved})  {record.outcome}  {record.ms:.0f} ms  | total: {totals['requests']:,} requests, "
            f"{_n(totals['tokens_saved'])} tokens saved ({_pct_saved(totals)}{usd})")
