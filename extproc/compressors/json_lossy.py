"""Large JSON tool output made smaller: uniform arrays as tables, very long arrays sampled.

Two compressors for JSON documents above ``DEFAULT_MIN_CHARS`` (smaller ones are left to the
lossless ``JsonCompactor``):

* ``JsonTable`` keeps every value and re-encodes each array of at least ``DEFAULT_MIN_TABLE_ROWS``
  objects that all have the same keys as one table, so key names are written once::

      {"__columns__": ["id", "name", "status"], "__rows__": [[1, "api", "ok"], [2, "db", "down"]]}

  A row holds the object's values in column order; nested values are kept (and tabulated too).
* ``JsonSampler`` does the same and first shortens arrays longer than ``DEFAULT_MAX_ITEMS``: it
  keeps the first ``DEFAULT_HEAD_ITEMS`` and last ``DEFAULT_TAIL_ITEMS`` items, up to
  ``DEFAULT_MAX_FLAGGED`` items that stand out (error-like status, rare status value, unexpected
  null, numeric outlier: see ``_json_signals``) and the first item of each distinct shape. Each run
  of dropped items becomes one marker string in its place, e.g.
  ``"[trimwire: 212 items omitted (212 objects with keys id, name, status)]"``; inside a table a
  marker is a row that is a string instead of a list. A listing the agent itself cut in the middle
  (``_json_cut``) is sampled the same way over the items on both sides of the agent's marker,
  which stays as written; that output is no more valid JSON than its input was.

Output is compact, valid JSON. Kept items keep every key, and every kept string and number keeps
its value (numbers keep their exact spelling: ``1.10`` stays ``1.10``). Object key order is the
document's, so the same text always gives the same bytes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from ..conversation import Block
from ._json_cut import split_cut
from ._json_signals import RawNumber, flagged_items
from .json_compact import json_documents

__all__ = [
    "JsonTable", "JsonSampler", "COLUMNS_KEY", "ROWS_KEY",
    "DEFAULT_MIN_CHARS", "DEFAULT_MIN_TABLE_ROWS", "DEFAULT_MAX_ITEMS", "DEFAULT_HEAD_ITEMS",
    "DEFAULT_TAIL_ITEMS", "DEFAULT_MAX_FLAGGED", "DEFAULT_MAX_SHAPES",
]

DEFAULT_MIN_CHARS = 4096        # below this the lossless JsonCompactor is enough
DEFAULT_MIN_TABLE_ROWS = 3      # fewer objects than this save too little as a table
DEFAULT_MAX_ITEMS = 20          # arrays longer than this are sampled
DEFAULT_HEAD_ITEMS = 5
DEFAULT_TAIL_ITEMS = 3
DEFAULT_MAX_FLAGGED = 20        # items that stand out, kept beyond head and tail
DEFAULT_MAX_SHAPES = 8          # first item of each distinct shape, up to this many shapes

COLUMNS_KEY = "__columns__"
ROWS_KEY = "__rows__"

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_KEYS_NAMED = 6


class _Marker(str):
    """A marker string this module inserted (never confused with a string from the document)."""


class JsonTable:
    """Lossless: uniform arrays of objects re-encoded as column tables, output compact."""

    name = "json_table"

    def __init__(self, *, min_chars: int = DEFAULT_MIN_CHARS, min_table_rows: int = DEFAULT_MIN_TABLE_ROWS) -> None:
        self.min_chars = min_chars
        self.min_table_rows = min_table_rows

    def applies(self, block: Block) -> bool:
        return len(block.text) >= self.min_chars and block.text[:64].lstrip()[:1] in ("{", "[")

    def compress(self, text: str) -> str | None:
        if len(text) < self.min_chars:
            return None
        return _rewrite(text, lambda value: _tabulate(value, self.min_table_rows))


class JsonSampler:
    """Lossy: very long arrays keep head, tail, standout and one-per-shape items, then tables."""

    name = "json_sampler"

    def __init__(self, *, min_chars: int = DEFAULT_MIN_CHARS, max_items: int = DEFAULT_MAX_ITEMS,
                 head_items: int = DEFAULT_HEAD_ITEMS, tail_items: int = DEFAULT_TAIL_ITEMS,
                 max_flagged: int = DEFAULT_MAX_FLAGGED, max_shapes: int = DEFAULT_MAX_SHAPES,
                 min_table_rows: int = DEFAULT_MIN_TABLE_ROWS, tables: bool = True) -> None:
        if head_items + tail_items > max_items:
            raise ValueError("head_items + tail_items must not exceed max_items")
        self.min_chars = min_chars
        self.max_items = max_items
        self.head_items = head_items
        self.tail_items = tail_items
        self.max_flagged = max_flagged
        self.max_shapes = max_shapes
        self.min_table_rows = min_table_rows
        self.tables = tables

    def applies(self, block: Block) -> bool:
        return len(block.text) >= self.min_chars and block.text[:64].lstrip()[:1] in ("{", "[")

    def compress(self, text: str) -> str | None:
        if len(text) < self.min_chars:
            return None

        def transform(value: Any) -> Any:
            sampled = self._sample(value)
            return _tabulate(sampled, self.min_table_rows) if self.tables else sampled

        out = _rewrite(text, transform)
        return out if out is not None else self._sample_cut(text)

    def _sample_cut(self, text: str) -> str | None:
        """A listing the agent cut with its own marker: its items on both sides sampled as one."""
        cut = split_cut(text)
        if cut is None or len(cut.head) + len(cut.tail) <= self.max_items:
            return None
        try:
            items = [json.loads(item, parse_float=RawNumber, parse_int=RawNumber, parse_constant=RawNumber)
                     for item in cut.head + cut.tail]
        except (ValueError, RecursionError):
            return None
        keep = set(self._keep_indices(items))
        sides = [self._kept(items, keep, 0, len(cut.head)), self._kept(items, keep, len(cut.head), len(items))]
        out = cut.prefix + ",".join(sides[0]) + cut.marker + ",".join(sides[1]) + cut.closing
        return out if len(out) < len(text) else None

    def _kept(self, items: list[Any], keep: set[int], start: int, end: int) -> list[str]:
        """Items ``start`` to ``end`` as compact JSON, each run of dropped ones as one marker."""
        out: list[str] = []
        dropped: list[Any] = []
        for index in range(start, end):
            if index not in keep:
                dropped.append(items[index])
                continue
            if dropped:
                out.append(json.dumps(_omission_marker(dropped), ensure_ascii=False))
                dropped = []
            parts: list[str] = []
            _dump(self._sample(items[index]), parts)
            out.append("".join(parts))
        if dropped:
            out.append(json.dumps(_omission_marker(dropped), ensure_ascii=False))
        return out

    def _sample(self, value: Any) -> Any:
        """``value`` with every array longer than ``max_items`` (at any depth) sampled."""
        if isinstance(value, dict):
            return {key: self._sample(child) for key, child in value.items()}
        if not isinstance(value, list):
            return value
        if len(value) <= self.max_items:
            return [self._sample(item) for item in value]
        keep = self._keep_indices(value)
        out: list[Any] = []
        previous = -1
        for index in keep:
            if index - previous > 1:
                out.append(_omission_marker(value[previous + 1:index]))
            out.append(self._sample(value[index]))
            previous = index
        if previous < len(value) - 1:
            out.append(_omission_marker(value[previous + 1:]))
        return out

    def _keep_indices(self, items: list[Any]) -> list[int]:
        keep = set(range(self.head_items))
        keep.update(range(len(items) - self.tail_items, len(items)))
        keep.update(flagged_items(items, self.max_flagged))
        first_of_shape: dict[Any, int] = {}
        for index, item in enumerate(items):
            first_of_shape.setdefault(_shape(item), index)
        keep.update(sorted(first_of_shape.values())[:self.max_shapes])
        return sorted(keep)


def _rewrite(text: str, transform: Any) -> str | None:
    """Parse with exact numbers, transform, dump compactly (a stream of documents one a line);
    None when invalid or not shorter."""
    documents = json_documents(text)
    if documents is None:
        return None
    parts: list[str] = []
    try:
        for position, document in enumerate(documents):
            value = json.loads(document, parse_float=RawNumber, parse_int=RawNumber, parse_constant=RawNumber)
            parts.append("\n" if position else "")
            _dump(transform(value), parts)
    except (ValueError, RecursionError):
        return None
    out = "".join(parts)
    return out if len(out) < len(text) else None


def _tabulate(value: Any, min_rows: int) -> Any:
    """``value`` with each array of uniform objects (at any depth) re-encoded as a table."""
    if isinstance(value, dict):
        return {key: _tabulate(child, min_rows) for key, child in value.items()}
    if not isinstance(value, list):
        return value
    items = [_tabulate(item, min_rows) for item in value]
    objects = [item for item in items if not isinstance(item, _Marker)]
    if len(objects) < min_rows or not all(isinstance(item, dict) for item in objects):
        return items
    columns = list(objects[0])
    if len(columns) < 2 or COLUMNS_KEY in columns or any(item.keys() != objects[0].keys() for item in objects):
        return items
    rows = [item if isinstance(item, _Marker) else [item[column] for column in columns] for item in items]
    return {COLUMNS_KEY: columns, ROWS_KEY: rows}


def _shape(item: Any) -> Any:
    """What kind of item this is: an object's key set, or a scalar's or array's type name."""
    if isinstance(item, dict):
        return ("object", tuple(sorted(item)))
    if isinstance(item, RawNumber):
        return "number"
    return type(item).__name__


def _omission_marker(dropped: list[Any]) -> _Marker:
    """One marker string saying how many items of which shapes were dropped here."""
    shapes = Counter(_shape(item) for item in dropped)
    parts = [f"{count} {_describe(shape, count)}" for shape, count in sorted(shapes.items(), key=_by_count)]
    noun = "item" if len(dropped) == 1 else "items"
    return _Marker(f"[trimwire: {len(dropped)} {noun} omitted ({'; '.join(parts)})]")


def _by_count(entry: tuple[Any, int]) -> tuple[int, str]:
    shape, count = entry
    return -count, repr(shape)


def _describe(shape: Any, count: int) -> str:
    plural = "" if count == 1 else "s"
    if isinstance(shape, tuple):
        keys = list(shape[1])
        more = len(keys) - _MAX_KEYS_NAMED
        named = ", ".join(keys[:_MAX_KEYS_NAMED]) + (f" and {more} more" if more > 0 else "")
        return f"object{plural} with keys {named}" if keys else f"empty object{plural}"
    names = {"str": "string", "list": "array", "bool": "boolean", "NoneType": "null", "number": "number"}
    return names.get(shape, shape) + plural


def _dump(value: Any, out: list[str]) -> None:
    """Compact JSON for ``value``; numbers as their original text, strings minimally escaped."""
    if isinstance(value, RawNumber):
        out.append(str.__str__(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=bool(_SURROGATE.search(value))))
    elif value is None or isinstance(value, bool):
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, dict):
        out.append("{")
        for position, (key, child) in enumerate(value.items()):
            out.append(("," if position else "") + json.dumps(key, ensure_ascii=bool(_SURROGATE.search(key))) + ":")
            _dump(child, out)
        out.append("}")
    else:
        out.append("[")
        for position, child in enumerate(value):
            if position:
                out.append(",")
            _dump(child, out)
        out.append("]")
