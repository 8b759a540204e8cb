"""Near-identical items of a JSON array written once: a later item as its differences from an
earlier one (``json_lossy.JsonSampler``, after sampling and tables).

The pods of one ReplicaSet or StatefulSet, the nodes of a pool, the runs of one job: listings
hold items that differ in a name, an id, an address and a timestamp, and repeat kilobytes of
spec. An item at least ``MIN_ITEM_CHARS`` long whose differences from one of the
``LOOK_BACK`` earlier items kept whole take at most ``MAX_SHARE`` of its own text goes out as::

    {"[trimwire: same as [1] of this array, except at these JSON Pointers]":
        {"/metadata/name": "prometheus-k8s-1", "/status/podIP": "10.128.2.9"},
     "[trimwire: and without]": ["/metadata/labels/canary"]}

Nothing is lost: the item is the earlier one (``[1]``: its index in the array as sent, counting
from 0) with each pointer (RFC 6901, into that item as sent) set to its value, then the listed
pointers removed. A pointer names a key added or a value changed; a whole subtree where the two
differ in kind; an index past the earlier array's end where this one is longer. Removed array
indices are all at the end of their array, listed from the last.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["LOOK_BACK", "MAX_SHARE", "MIN_ITEM_CHARS", "write_once", "SAME_AS", "WITHOUT"]

MIN_ITEM_CHARS = 600  # smaller items save too little beside the marker's own cost
MAX_SHARE = 0.4       # the differences must take at most this share of the item's text
LOOK_BACK = 4         # how many earlier whole items an item is compared with
SAME_AS = "[trimwire: same as [{}] of this array, except at these JSON Pointers]"
WITHOUT = "[trimwire: and without]"
# A string JSON writes as itself between quotes (no quote, backslash, control or surrogate).
_PLAIN = re.compile(r'[^"\\\x00-\x1f\ud800-\udfff]*')


def write_once(value: Any, dump: Any) -> Any:
    """``value`` with every array's near-duplicate items (at any depth) written as differences.
    ``dump(value) -> str`` is the caller's compact encoding, used to size items and compare leaves."""
    return _sized(value, dump, _measure(dump))[0]


def _measure(dump: Any) -> Any:
    """A function giving a scalar's (or key's) encoded length, remembering repeated strings."""
    lengths: dict[str, int] = {}  # keys and strings repeat across items: each is encoded once

    def length(scalar: Any) -> int:
        if type(scalar) is not str:
            return len(dump(scalar))
        if _PLAIN.fullmatch(scalar):
            return len(scalar) + 2  # nothing to escape: the string and its quotes
        known = lengths.get(scalar)
        if known is None:
            known = lengths[scalar] = len(dump(scalar))
        return known

    return length


def _sized(value: Any, dump: Any, length: Any) -> tuple[Any, int]:
    """``write_once`` of ``value``, and the length of its compact encoding: summed from its parts,
    so every value is encoded once however deep it sits."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        size = 2 + max(len(value) - 1, 0)  # braces, and a comma between members
        for key, child in value.items():
            out[key], child_size = _sized(child, dump, length)
            size += length(key) + 1 + child_size  # the key, its colon, its value
        return out, size
    if not isinstance(value, list):
        return value, length(value)
    sized = [_sized(item, dump, length) for item in value]
    items = [item for item, _ in sized]
    if sum(isinstance(item, (dict, list)) for item in items) < 2:
        return items, 1 + max(len(items) - 1, 0) + 1 + sum(size for _, size in sized)
    out_items: list[Any] = []
    total = 1 + max(len(items) - 1, 0) + 1
    whole: list[int] = []  # indices of the items kept whole, newest last
    for index, (item, size) in enumerate(sized):
        container = isinstance(item, (dict, list))
        best = _best_difference(items, whole, item, size, dump) if container and size >= MIN_ITEM_CHARS else None
        if best is None:
            out_items.append(item)
            total += size
            if container:
                whole.append(index)
        else:
            marker, marker_size = best
            out_items.append(marker)
            total += marker_size
    return out_items, total


def _best_difference(items: list[Any], whole: list[int], item: Any, size: int,
                     dump: Any) -> tuple[dict[str, Any], int] | None:
    """The smallest difference object naming one of the recent whole items, if small enough, and
    its encoded length."""
    best: tuple[dict[str, Any], int] | None = None
    best_size = MAX_SHARE * size
    for earlier in reversed(whole[-LOOK_BACK:]):
        base = items[earlier]
        if type(base) is not type(item):
            continue
        changes: dict[str, Any] = {}
        removed: list[str] = []
        _differences(base, item, "", changes, removed, dump)
        if not changes and not removed:
            continue  # the same item twice is left to the sampler's and dedup's own rules
        marker: dict[str, Any] = {SAME_AS.format(earlier): changes}
        if removed:
            marker[WITHOUT] = removed
        marker_size = len(dump(marker))
        if marker_size <= best_size:
            best, best_size = (marker, marker_size), marker_size
    return best


def _differences(base: Any, item: Any, path: str, changes: dict[str, Any], removed: list[str], dump: Any) -> None:
    """Add to ``changes`` (pointer: new value) and ``removed`` what turns ``base`` into ``item``."""
    if isinstance(base, dict) and isinstance(item, dict) and base and item:
        for key, child in item.items():
            pointer = f"{path}/{_escape(key)}"
            if key in base:
                _differences(base[key], child, pointer, changes, removed, dump)
            else:
                changes[pointer] = child
        removed += [f"{path}/{_escape(key)}" for key in base if key not in item]
    elif isinstance(base, list) and isinstance(item, list) and base and item:
        for position, child in enumerate(item):
            pointer = f"{path}/{position}"
            if position < len(base):
                _differences(base[position], child, pointer, changes, removed, dump)
            else:
                changes[pointer] = child
        removed += [f"{path}/{position}" for position in range(len(base) - 1, len(item) - 1, -1)]
    elif type(base) is not type(item) or base != item:  # same type: equal values, equal text
        changes[path] = item


def _escape(key: str) -> str:
    """A key as one JSON Pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
