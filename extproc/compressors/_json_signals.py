"""Which items of a long JSON array stand out, so sampling keeps them (used by ``json_lossy``).

An item stands out when it carries an error-like status ("Failed", "CrashLoopBackOff",
"error", "deprecated"), a status value few other items have, a flag (true or false) that few
other items share (``"yanked": true`` on 3 releases of 200), a null where nearly every other item
has a value (or a value where nearly every other is null or absent), or a number far from the rest
(median and median absolute deviation). Items are flattened to leaf paths ("status.phase",
"containerStatuses[].restartCount") so nested fields count too. An item holding a traceback or
stack trace in a string at any depth (``traced_items``) is one a failure's output must keep whole.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from statistics import median
from typing import Any

from ..pipeline.guard import holds_trace

__all__ = ["RawNumber", "flagged_items", "traced_items"]

_RARE = 0.1          # a value or a null seen in at most this share of items is rare
_MIN_ITEMS = 10      # below this, "rare" means nothing
_OUTLIER_Z = 5.0     # robust z-score (0.6745 * |x - median| / MAD) beyond which a number is an outlier
_MAX_DEPTH = 4
_MAX_LEAVES = 200

_STATUS_KEY = re.compile(
    r"(?:^|[._\]])(?:status|state|level|severity|phase|result|conclusion|outcome|health|healthy|reason|"
    r"condition|ready|exit_?code|code|ok|success|succeeded|error|errors|err|exception|failure|failed|"
    r"deprecated|deprecation|disabled|enabled|active|archived|yanked|deleted|blocked|suspended|flags?)$",
    re.IGNORECASE)
_BAD_VALUE = re.compile(
    r"err|fail|fatal|crash|backoff|denied|forbidden|timeout|timed.?out|invalid|unhealthy|critical|warn|"
    r"panic|killed|oom|exception|abort|reject|evicted|unavailable|degraded|cancel|notready|unschedulable|"
    r"deprecat|disabled|yanked|archived|blocked|suspended|revoked|vulnerab",
    re.IGNORECASE)


class RawNumber(str):
    """A JSON number kept as the exact text it was written with ("1.10" stays "1.10")."""


_Leaves = dict[str, list[Any]]


def flagged_items(items: list[Any], limit: int) -> list[int]:
    """Indices of at most ``limit`` items that stand out, strongest signals first, then by position."""
    if len(items) < _MIN_ITEMS or limit <= 0:
        return []
    rows = [_leaf_map(item) for item in items]
    scores = [0] * len(items)
    for path in sorted({path for row in rows for path in row}):
        for index, points in _path_signals(path, rows):
            scores[index] += points
    ranked = sorted((-score, index) for index, score in enumerate(scores) if score)
    return sorted(index for _, index in ranked[:limit])


def _leaf_map(item: Any) -> _Leaves:
    leaves: _Leaves = {}
    for path, value in _leaves(item, "", 0):
        if len(leaves) >= _MAX_LEAVES and path not in leaves:
            break
        leaves.setdefault(path, []).append(value)
    return leaves


def _leaves(value: Any, path: str, depth: int) -> Iterator[tuple[str, Any]]:
    """(path, scalar) pairs; list elements share the path "name[]"; empty containers read as None."""
    if isinstance(value, dict) and value and depth < _MAX_DEPTH:
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list) and value and depth < _MAX_DEPTH:
        for child in value:
            yield from _leaves(child, f"{path}[]", depth + 1)
    elif isinstance(value, (dict, list)) and not value:
        yield path, None
    else:
        yield path, value


def _path_signals(path: str, rows: list[_Leaves]) -> Iterator[tuple[int, int]]:
    """(item index, points) for every item whose values at ``path`` stand out."""
    n = len(rows)
    filled = [i for i, row in enumerate(rows) if any(_filled(v) for v in row.get(path, ()))]
    if 0 < len(filled) <= _RARE * n:
        yield from ((i, 1) for i in filled)  # a value where nearly all others have none
    elif n - len(filled) <= _RARE * n:
        yield from ((i, 1) for i, row in enumerate(rows) if path in row and not any(_filled(v) for v in row[path]))
    if _STATUS_KEY.search(path):
        yield from _status_signals(path, rows)
    yield from _flag_signals(path, rows)
    yield from _outlier_signals(path, rows)


def _filled(value: Any) -> bool:
    return value is not None and value != ""


def _status_signals(path: str, rows: list[_Leaves]) -> Iterator[tuple[int, int]]:
    """Error-like status words (2 points) and status values that few items share (1 point)."""
    labels = {i: [str(v) for v in row[path] if isinstance(v, (str, bool))] for i, row in enumerate(rows) if path in row}
    counts = Counter(label for values in labels.values() for label in set(values))
    if not counts:
        return
    common = counts.most_common(1)[0][1] >= 0.5 * len(rows)
    for index, values in labels.items():
        if any(_BAD_VALUE.search(v) and not isinstance(v, bool) for v in values):
            yield index, 2
        elif common and any(counts[v] <= _RARE * len(rows) for v in values):
            yield index, 1


def _flag_signals(path: str, rows: list[_Leaves]) -> Iterator[tuple[int, int]]:
    """Items whose true/false at ``path`` few items share, when most items hold the other one."""
    sides: dict[bool, list[int]] = {True: [], False: []}
    for index, row in enumerate(rows):
        for flag in {v for v in row.get(path, ()) if isinstance(v, bool)}:
            sides[flag].append(index)
    for flag, holders in sides.items():
        if 0 < len(holders) <= _RARE * len(rows) and len(sides[not flag]) >= 0.5 * len(rows):
            yield from ((index, 1) for index in holders)


def _outlier_signals(path: str, rows: list[_Leaves]) -> Iterator[tuple[int, int]]:
    """Items holding a number far from the median of the numbers at ``path``."""
    numbers = {i: [x for x in map(_as_float, row[path]) if x is not None] for i, row in enumerate(rows) if path in row}
    values = [x for xs in numbers.values() for x in xs]
    if len(values) < _MIN_ITEMS:
        return
    mid = median(values)
    spread = median(abs(x - mid) for x in values)
    if spread == 0:
        odd = [i for i, xs in numbers.items() if any(x != mid for x in xs)]
        if len(odd) <= _RARE * len(rows):
            yield from ((i, 1) for i in odd)
        return
    for index, xs in numbers.items():
        if any(0.6745 * abs(x - mid) / spread > _OUTLIER_Z for x in xs):
            yield index, 1


def _as_float(value: Any) -> float | None:
    if not isinstance(value, RawNumber):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def traced_items(items: list[Any]) -> list[int]:
    """Indexes of the items holding a traceback or stack trace in a string, at any depth."""
    return [index for index, item in enumerate(items) if _holds_trace(item)]


def _holds_trace(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\n" in node and not isinstance(node, RawNumber) and holds_trace(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
