"""Large JSON tool output made smaller: uniform arrays as tables, very long arrays sampled.

``JsonSampler`` takes JSON documents above ``DEFAULT_MIN_CHARS`` (smaller ones are left to the
lossless ``JsonCompactor``). It re-encodes each array of at least ``DEFAULT_MIN_TABLE_ROWS``
objects that all have the same keys as one table, so key names are written once::

    {"__columns__": ["id", "name", "status"], "__rows__": [[1, "api", "ok"], [2, "db", "down"]]}

A row holds the object's values in column order; nested values are kept (and tabulated too). A
column that holds one value in every row is said once, beside the table, and left out of the rows::

    {"__every_row__": {"kind": "Pod"}, "__columns__": ["name", "phase"], "__rows__": [["api", "Running"]]}

Before that it shortens arrays longer than ``DEFAULT_MAX_ITEMS``: it keeps the first
``DEFAULT_HEAD_ITEMS`` and last ``DEFAULT_TAIL_ITEMS`` items, up to ``DEFAULT_MAX_RELEVANT`` items
holding a term of the context the block answers (the user's question, the call's arguments:
``pipeline.focus``), up to ``DEFAULT_MAX_FLAGGED`` items that stand out (error-like status, rare
status value or flag, unexpected null, numeric outlier: see ``_json_signals``), every item holding
a traceback or stack trace in a string (a log record's ``"stack"``: ``pipeline.guard.holds_trace``;
never capped, so a failure's trace is never sampled away) and the first item of each distinct
shape. Each run of dropped items becomes one marker string in its place, e.g.
``"[trimwire: 212 items omitted (212 objects with keys id, name, status)]"``; inside a table a
marker is a row that is a string instead of a list. A listing the agent itself cut in the middle
(``_json_cut``) is sampled the same way over the items on both sides of the agent's marker, which
stays as written; that output is no more valid JSON than its input was. A large map used as a list
(more than ``DEFAULT_MIN_MAP_KEYS`` keys, values all of one type: a package registry's ``releases``
keyed by version, npm's ``versions`` and ``time``) is sampled the same way; each run of dropped
keys becomes one marker key whose value names them, e.g.
``"[trimwire: 140 keys omitted (140 arrays)]": ["0.1.0", "0.2.0", ...]`` (every name when names are
cheap beside what they held, else the first and last few and a count). Last, an item that differs
little from an earlier one of its array (a replica's pod, a pool's node) goes out as those
differences, naming the earlier one (``_json_siblings``): nothing is lost by that.

Output is compact, valid JSON. Kept items keep every key, and every kept string and number keeps
its value (numbers keep their exact spelling: ``1.10`` stays ``1.10``). Object key order is the
document's, so the same text always gives the same bytes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..pipeline.contract import BlockInputs, FocusedCompressor
from ..pipeline.focus import relevant
from ._json_cut import split_cut
from ._json_siblings import write_once
from ._json_signals import RawNumber, flagged_items, traced_items
from .json_compact import json_documents

__all__ = [
    "JsonSampler", "COLUMNS_KEY", "ROWS_KEY", "EVERY_ROW_KEY",
    "DEFAULT_MIN_CHARS", "DEFAULT_MIN_TABLE_ROWS", "DEFAULT_MAX_ITEMS", "DEFAULT_HEAD_ITEMS",
    "DEFAULT_TAIL_ITEMS", "DEFAULT_MAX_FLAGGED", "DEFAULT_MAX_SHAPES", "DEFAULT_MAX_RELEVANT",
    "DEFAULT_MIN_MAP_KEYS",
]

DEFAULT_MIN_CHARS = 4096        # below this the lossless JsonCompactor is enough
DEFAULT_MIN_TABLE_ROWS = 3      # fewer objects than this save too little as a table
DEFAULT_MAX_ITEMS = 20          # arrays longer than this are sampled
DEFAULT_HEAD_ITEMS = 5
DEFAULT_TAIL_ITEMS = 3
DEFAULT_MAX_FLAGGED = 20        # items that stand out, kept beyond head and tail
DEFAULT_MAX_SHAPES = 8          # first item of each distinct shape, up to this many shapes
DEFAULT_MAX_RELEVANT = 20       # items holding a term of the block's context, kept beyond the rest
DEFAULT_MIN_MAP_KEYS = 50       # maps with more keys whose values are all objects (or all arrays)
                                # are sampled like arrays; twice as many for scalar values

COLUMNS_KEY = "__columns__"
ROWS_KEY = "__rows__"
EVERY_ROW_KEY = "__every_row__"   # a table's columns that hold one value in every row, said once

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_KEYS_NAMED = 6
_CHEAP_NAMES = 4        # dropped keys are all named when their names take a quarter of what they held
_NAMES_AT_ENDS = 5      # else the first and last this many


class _Marker(str):
    """A marker string this module inserted (never confused with a string from the document)."""


class JsonSampler(FocusedCompressor):
    """Lossy: very long arrays and large maps keep head, tail, asked-about, standout and
    one-per-shape items, then tables."""

    name = "json_sampler"
    then = None  # its output is not offered on

    def __init__(self, *, min_chars: int = DEFAULT_MIN_CHARS, max_items: int = DEFAULT_MAX_ITEMS,
                 head_items: int = DEFAULT_HEAD_ITEMS, tail_items: int = DEFAULT_TAIL_ITEMS,
                 max_flagged: int = DEFAULT_MAX_FLAGGED, max_shapes: int = DEFAULT_MAX_SHAPES,
                 max_relevant: int = DEFAULT_MAX_RELEVANT, min_map_keys: int = DEFAULT_MIN_MAP_KEYS,
                 min_table_rows: int = DEFAULT_MIN_TABLE_ROWS, tables: bool = True, siblings: bool = True) -> None:
        if head_items + tail_items > max_items:
            raise ValueError("head_items + tail_items must not exceed max_items")
        self.min_chars = min_chars
        self.max_items = max_items
        self.head_items = head_items
        self.tail_items = tail_items
        self.max_flagged = max_flagged
        self.max_shapes = max_shapes
        self.max_relevant = max_relevant
        self.min_map_keys = min_map_keys
        self.min_table_rows = min_table_rows
        self.tables = tables
        self.siblings = siblings

    def applies(self, block: BlockInputs) -> bool:
        return len(block.text) >= self.min_chars


    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """As ``compress``, keeping first the items that hold one of the context ``terms``."""
        if len(text) < self.min_chars:
            return None

        def transform(value: Any) -> Any:
            sampled = self._sample(value, tuple(terms))
            tabled = _tabulate(sampled, self.min_table_rows) if self.tables else sampled
            return write_once(tabled, _text) if self.siblings else tabled

        out = _rewrite(text, transform)
        return out if out is not None else self._sample_cut(text, tuple(terms))

    def _sample_cut(self, text: str, terms: tuple[str, ...]) -> str | None:
        """A listing the agent cut with its own marker: its items on both sides sampled as one."""
        cut = split_cut(text)
        if cut is None or len(cut.head) + len(cut.tail) <= self.max_items:
            return None
        try:
            items = [json.loads(item, parse_float=RawNumber, parse_int=RawNumber, parse_constant=RawNumber)
                     for item in cut.head + cut.tail]
        except (ValueError, RecursionError):
            return None
        keep = set(self._keep_indices(items, "\n".join(map(_lowered, items)) if terms else "", terms))
        sides = [self._kept(items, keep, 0, len(cut.head), terms),
                 self._kept(items, keep, len(cut.head), len(items), terms)]
        out = cut.prefix + ",".join(sides[0]) + cut.marker + ",".join(sides[1]) + cut.closing
        return out if len(out) < len(text) else None

    def _kept(self, items: list[Any], keep: set[int], start: int, end: int, terms: tuple[str, ...]) -> list[str]:
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
            _dump(self._sample(items[index], terms), parts)
            out.append("".join(parts))
        if dropped:
            out.append(json.dumps(_omission_marker(dropped), ensure_ascii=False))
        return out

    def _sample(self, value: Any, terms: tuple[str, ...]) -> Any:
        """``value`` with every array longer than ``max_items`` and every large map (at any
        depth) sampled."""
        if isinstance(value, dict):
            if self._is_listing(value):
                return self._sample_map(value, terms)
            return {key: self._sample(child, terms) for key, child in value.items()}
        if not isinstance(value, list):
            return value
        if len(value) <= self.max_items:
            return [self._sample(item, terms) for item in value]
        keep = self._keep_indices(value, "\n".join(map(_lowered, value)) if terms else "", terms)
        out: list[Any] = []
        previous = -1
        for index in keep:
            if index - previous > 1:
                out.append(_omission_marker(value[previous + 1:index]))
            out.append(self._sample(value[index], terms))
            previous = index
        if previous < len(value) - 1:
            out.append(_omission_marker(value[previous + 1:]))
        return out

    def _is_listing(self, value: dict[str, Any]) -> bool:
        """A map used as a list: many keys (twice as many for scalar values), values of one type."""
        if len(value) <= self.min_map_keys:
            return False
        kinds = {type(child) for child in value.values()}
        if len(kinds) != 1:
            return False
        return kinds <= {dict, list} or len(value) > 2 * self.min_map_keys

    def _sample_map(self, value: dict[str, Any], terms: tuple[str, ...]) -> dict[str, Any]:
        """A large map sampled as its values would be, each run of dropped keys one marker key."""
        keys, children = list(value), list(value.values())
        texts = ("\n".join(f"{json.dumps(key)}:{_lowered(child)}" for key, child in value.items()).lower()
                 if terms else "")
        keep = set(self._keep_indices(children, texts, terms))
        out: dict[str, Any] = {}
        dropped: list[int] = []
        for index in range(len(keys) + 1):
            if index < len(keys) and index not in keep:
                dropped.append(index)
                continue
            if dropped:
                label, names = _map_marker([keys[i] for i in dropped], [children[i] for i in dropped])
                while label in value or label in out:
                    label += "*"  # never over a key of the document's own, nor another marker
                out[label] = names
                dropped = []
            if index < len(keys):
                out[keys[index]] = self._sample(children[index], terms)
        return out

    def _keep_indices(self, items: list[Any], texts: str, terms: tuple[str, ...]) -> list[int]:
        """What to keep of ``items``; ``texts``: them lower-cased as JSON, one a line (``relevant``)."""
        keep = set(range(self.head_items))
        keep.update(range(len(items) - self.tail_items, len(items)))
        keep.update(relevant(texts, terms, self.max_relevant))
        keep.update(flagged_items(items, self.max_flagged))
        keep.update(traced_items(items))
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
    shared = _shared_columns(columns, objects)
    columns = [column for column in columns if column not in shared]
    rows = [item if isinstance(item, _Marker) else [item[column] for column in columns] for item in items]
    table = {COLUMNS_KEY: columns, ROWS_KEY: rows}
    return {EVERY_ROW_KEY: shared, **table} if shared else table


def _shared_columns(columns: list[str], objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns that hold one value in every object, with that value (none when no other
    column would be left). Values compare by type and value: 1, 1.0 and true differ."""
    first = objects[0]
    # == first: it rejects a differing value at C speed; _same then rules out 1 == 1.0 == true
    shared = {column: first[column] for column in columns
              if all(item[column] == first[column] for item in objects)
              and all(_same(item[column], first[column]) for item in objects)}
    return shared if len(shared) < len(columns) else {}


def _same(one: Any, other: Any) -> bool:
    """Equal values of the same JSON types all the way down."""
    if type(one) is not type(other):
        return False
    if isinstance(one, dict):
        return one.keys() == other.keys() and all(_same(child, other[key]) for key, child in one.items())
    if isinstance(one, list):
        return len(one) == len(other) and all(map(_same, one, other))
    return bool(one == other)


def _lowered(value: Any) -> str:
    """An item as lower-cased JSON text, for matching context terms (numbers as written)."""
    return json.dumps(value, ensure_ascii=False).lower()


def _map_marker(names: list[str], dropped: list[Any]) -> tuple[str, Any]:
    """A marker key for keys dropped from a map, and its value: every name when the names are
    cheap beside what they held, else the first and last few."""
    noun = "key" if len(names) == 1 else "keys"
    label = f"[trimwire: {len(names)} {noun} omitted ({'; '.join(_describe_all(dropped))})]"
    if sum(len(name) + 4 for name in names) * _CHEAP_NAMES <= sum(len(_lowered(child)) for child in dropped):
        return label, names
    if len(names) <= 2 * _NAMES_AT_ENDS:
        return label, names
    middle = len(names) - 2 * _NAMES_AT_ENDS
    return label, [*names[:_NAMES_AT_ENDS], f"... {middle} more ...", *names[-_NAMES_AT_ENDS:]]


def _describe_all(dropped: list[Any]) -> list[str]:
    shapes = Counter(_shape(item) for item in dropped)
    return [f"{count} {_describe(shape, count)}" for shape, count in sorted(shapes.items(), key=_by_count)]


def _shape(item: Any) -> Any:
    """What kind of item this is: an object's key set, or a scalar's or array's type name."""
    if isinstance(item, dict):
        return ("object", tuple(sorted(item)))
    if isinstance(item, RawNumber):
        return "number"
    return type(item).__name__


def _omission_marker(dropped: list[Any]) -> _Marker:
    """One marker string saying how many items of which shapes were dropped here."""
    parts = _describe_all(dropped)
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
    name: str = names.get(shape, shape)  # a non-object shape is its type's name
    return name + plural


def _text(value: Any) -> str:
    parts: list[str] = []
    _dump(value, parts)
    return "".join(parts)


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
