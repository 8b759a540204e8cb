"""``ls -l`` listings (``ls -la``, ``ls -lh``, ``ls -lR``) with the columns their rows share said once.

The content type ``listing`` (declared in ``content_types.py``) is text most of whose lines are
``ls -l`` rows (``is_listing``): mode, links, owner, group, size, date and name. In a directory an
agent lists, the owner, group and date mostly hold one value on nearly every row
(``root root``, the day the image was built). Each such column is said once, in one marker line
above the first row that drops it, and dropped from every row that holds that value::

    [trimwire: in the ls -l rows below, owner "root", group "root", date "May  6  2025" left out; ...]
    -rw-r--r-- 1  4806 __init__.py

(the marker goes on: ``rows that differ shown whole]``).

A column is dropped only when that removes more than it costs (the rows that hold another value
in a dropped column are shown whole, as ls printed them). Lossless: every dropped value is in the
marker exactly as printed, and every other byte stays: each row's mode, size and name (spaces and
``-> target`` included), its alignment, ``total`` lines, directory headings and error lines.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..pipeline.contract import BlockInputs, FocusedCompressor
from ..pipeline.router import Sample

__all__ = ["ListingCompressor", "is_listing", "DEFAULT_MIN_ROWS"]

DEFAULT_MIN_ROWS = 6        # rows that must drop a column before a marker is worth it
_MIN_SAVED_CHARS = 120      # characters the dropped columns must add up to (the marker's are more than 60)
_LISTING_SHARE = 0.6        # share of sampled non-blank lines that must be ls -l rows
_MIN_SAMPLED_ROWS = 3

# One ls -l row: "drwxr-xr-x  2 root root  4096 May  6  2025 name" ("Apr 13 09:50" for recent files,
# "2025-05-06 10:12" under --time-style=long-iso, "4.0K" under -h, "8, 1" for a device).
_ROW = re.compile(
    r"[-bcdlpsD][-rwxsStTlL]{9}[.+@]? +\d+ (?P<owner>\S+) +(?P<group>\S+) +"
    r"(?:\d+(?:[.,]\d+)?[KMGTPE]?|\d+, +\d+) "
    r"(?P<date>[A-Za-z]{3} [ \d]\d (?: \d{4}|\d\d:\d\d)"
    r"|\d{4}-\d\d-\d\d(?: \d\d:\d\d(?::\d\d(?:\.\d+)?)?(?: [+-]\d{4})?)?) \S")
# The columns that may be said once, in the order they stand in a row. Not the link count: it
# differs on every directory, which would then be shown whole.
_COLUMNS = ("owner", "group", "date")


def is_listing(sample: Sample) -> bool:
    """At least ``_LISTING_SHARE`` of the sampled non-blank lines (and three) are ls -l rows."""
    lines = sample.lines
    rows = sum(1 for line in lines if _ROW.match(line))
    return rows >= max(_MIN_SAMPLED_ROWS, _LISTING_SHARE * len(lines))


class ListingCompressor(FocusedCompressor):
    name = "listing"
    then = None  # its output is not offered on

    def __init__(self, *, min_rows: int = DEFAULT_MIN_ROWS) -> None:
        self.min_rows = min_rows

    def applies(self, block: BlockInputs) -> bool:
        return True  # the router decided the type

    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """The listing with its shared columns said once; None when no column is worth it.
        Lossless, so the context terms change nothing."""
        lines = text.split("\n")
        rows = {index: match for index, line in enumerate(lines) if (match := _ROW.match(line))}
        shared = _shared_columns(list(rows.values()))
        short = [index for index, match in rows.items() if all(match[name] == value for name, value in shared)]
        if len(short) < self.min_rows or sum(len(value) + 1 for _, value in shared) * len(short) < _MIN_SAVED_CHARS:
            return None
        names = {name for name, _ in shared}
        out = lines[:short[0]] + [_marker(shared)]
        cut = set(short)
        for index in range(short[0], len(lines)):
            out.append(_without(lines[index], rows[index], names) if index in cut else lines[index])
        return "\n".join(out)


def _shared_columns(rows: list[re.Match[str]]) -> list[tuple[str, str]]:
    """(column, value) for the columns worth saying once: each column's most common value, taken
    in row order while it removes more characters from the rows that hold every value taken."""
    shared: list[tuple[str, str]] = []
    matching = rows
    saved = 0
    for name in _COLUMNS:
        value, _ = Counter(match[name] for match in rows).most_common(1)[0] if rows else ("", 0)
        holding = [match for match in matching if match[name] == value]
        width = sum(len(each) + 1 for _, each in shared) + len(value) + 1
        if width * len(holding) > saved:
            shared.append((name, value))
            matching, saved = holding, width * len(holding)
    return shared


def _without(line: str, match: re.Match[str], names: set[str]) -> str:
    """The row without the named columns, each with the one space after it (alignment kept)."""
    out = []
    at = 0
    for name in _COLUMNS:
        if name in names:
            out.append(line[at:match.start(name)])
            at = match.end(name) + 1
    return "".join(out) + line[at:]


def _marker(shared: list[tuple[str, str]]) -> str:
    said = ", ".join(f'{name} "{value}"' for name, value in shared)
    return f"[trimwire: in the ls -l rows below, {said} left out; rows that differ shown whole]"
