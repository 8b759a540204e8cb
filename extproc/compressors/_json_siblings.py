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

from typing import Any

__all__ = ["LOOK_BACK", "MAX_SHARE", "MIN_ITEM_CHARS", "write_once", "SAME_AS", "WITHOUT"]

MIN_ITEM_CHARS = 600  # smaller items save too little beside the marker's own cost
MAX_SHARE = 0.4       # the differences must take at most this share of the item's text
LOOK_BACK = 4         # how many earlier whole items an item is compared with
SAME_AS = "[trimwire: same as [{}] of this array, except at these JSON Pointers]"
WITHOUT = "[trimwire: and without]"


def write_once(value: Any, dump: Any) -> Any:
    """``value`` with every array's near-duplicate items (at any depth) written as differences.
    ``dump(value) -> str`` is the caller's compact encoding, used to size items and compare leaves."""
    if isinstance(value, dict):
        return {key: write_once(child, dump) for key, child in value.items()}
    if not isinstance(value, list):
        return value
    items = [write_once(item, dump) for item in value]
    if sum(isinstance(item, (dict, list)) for item in items) < 2:
        return items
    out: list[Any] = []
    whole: list[int] = []  # indices of the items kept whole, newest last
    for index, item in enumerate(items):
        text = dump(item) if isinstance(item, (dict, list)) else ""
        best = _best_difference(items, whole, item, text, dump) if len(text) >= MIN_ITEM_CHARS else None
        if best is None:
            out.append(item)
            if text:
                whole.append(index)
        else:
            out.append(best)
    return out


def _best_difference(items: list[Any], whole: list[int], item: Any, text: str, dump: Any) -> dict | None:
    """The smallest difference object naming one of the recent whole items, if small enough."""
    best, best_size = None, MAX_SHARE * len(text)
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
        size = len(dump(marker))
        if size <= best_size:
            best, best_size = marker, size
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
    elif type(base) is not type(item) or dump(base) != dump(item):
        changes[path] = item


def _escape(key: str) -> str:
    """A key as one JSON Pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
