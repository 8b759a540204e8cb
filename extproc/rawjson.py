"""A request body as JSON text: parsed once, with where its parts sit, so changes are spliced in.

trimwire never re-serialises a body. ``scan`` parses it (strict: no duplicate keys, no NaN or
Infinity) and notes the span of each top-level member and of each item of one array member
(``messages`` or ``input``); ``Document.span_of`` finds the span of the string at a path, and
``splice`` writes new strings over those spans. Every other byte reaches the provider as the
client wrote it: numbers keep their spelling, keys their order, strings their escapes.

Item spans also let a caller recognise an item it has seen before by its text alone
(``messages.py``: checkpoints and the message cache), and the members before and after the array
(a system prompt, tool definitions) can be handed back as ``Members`` parsed from the same text
before. Parsing is the json module's C scanner throughout.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import PassThrough, UnsupportedBody

__all__ = ["Document", "Members", "Path", "Prefix", "Resume", "Span", "scan", "splice"]

Path = tuple[str | int, ...]   # keys and indices from the body's root to a string
Span = tuple[int, int]         # [start, end) in the body's text
# The first items of the array, parsed, with their spans: known to be the body's own first items.
Prefix = tuple[list[Any], list[Span]]
# Called with the span of the array's second item and where the array's member starts in the
# text (after it, only the array); may answer with a Prefix to skip scanning.
Resume = Callable[[Span, int], Prefix | None]

_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins; a body that has them goes upstream as sent.
    value = dict(pairs)
    if len(value) != len(pairs):
        raise UnsupportedBody("duplicate object key", reason="duplicate_keys")
    return value


def _no_constant(name: str) -> Any:
    # NaN/Infinity are not JSON: a body carrying them goes upstream as sent.
    raise UnsupportedBody(f"non-standard constant {name}", reason="invalid_json")


_scan_once = json.scanner.make_scanner(json.JSONDecoder(object_pairs_hook=_unique_keys,
                                                         parse_constant=_no_constant))
_scan_string = json.decoder.scanstring


def _invalid(detail: str) -> UnsupportedBody:
    return UnsupportedBody(detail, reason="invalid_json")


def _skip_ws(text: str, index: int) -> int:
    return _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]


def _value(text: str, index: int) -> tuple[Any, int]:
    """The JSON value starting at ``index`` and the index after it."""
    try:
        return _scan_once(text, index)
    except StopIteration:
        raise _invalid(f"no JSON value at {index}") from None


def _key(text: str, index: int) -> tuple[str, int]:
    """An object key at ``index`` and the index after its colon and whitespace."""
    if text[index:index + 1] != '"':
        raise _invalid(f"expected a key at {index}")
    key, index = _scan_string(text, index + 1, True)
    index = _skip_ws(text, index)
    if text[index:index + 1] != ":":
        raise _invalid(f"expected ':' at {index}")
    return key, _skip_ws(text, index + 1)


def _after_item(text: str, index: int, close: str) -> tuple[int, bool]:
    """Past the ``,`` or the closing bracket after an item: (next index, whether it closed)."""
    index = _skip_ws(text, index)
    mark = text[index:index + 1]
    if mark == ",":
        return _skip_ws(text, index + 1), False
    if mark == close:
        return index + 1, True
    raise _invalid(f"expected ',' or {close!r} at {index}")


def _array(text: str, index: int, resume: Resume | None, head_end: int) -> tuple[list[Any], list[Span], int]:
    """The array at ``index`` (its ``[``), its items' spans, and the index after it. ``resume``
    may answer for the first items once two are read: scanning goes on after them."""
    items: list[Any] = []
    spans: list[Span] = []
    index = _skip_ws(text, index + 1)
    if text[index:index + 1] == "]":
        return items, spans, index + 1
    closed = False
    while not closed:
        item, end = _value(text, index)
        items.append(item)
        spans.append((index, end))
        if resume is not None and len(spans) == 2:
            prefix, resume = resume(spans[1], head_end), None
            if prefix is not None:
                items, spans = list(prefix[0]), list(prefix[1])
                end = spans[-1][1]
        index, closed = _after_item(text, end, "]")
    return items, spans, index


@dataclass(frozen=True, slots=True)
class Members:
    """Top-level members parsed before from ``text``, with their spans counted from its start.

    A head is a body's text up to its ``items_key`` member (it ends where a key is due); a tail
    is its text after that array's closing bracket. A body that starts with the head's text, or
    ends with the tail's right after its own array, has those members, byte for byte and so
    value for value: ``scan`` takes them without parsing them again.
    """

    text: str
    values: dict[str, Any]
    spans: dict[str, Span]


@dataclass(slots=True)
class Document:
    """A parsed body object with the spans of its members and of its ``items_key`` array's items."""

    text: str
    body: dict[str, Any]
    items_key: str
    members: dict[str, Span] = field(default_factory=dict)
    items: list[Span] = field(default_factory=list)
    head_end: int = -1    # where the ``items_key`` member starts (-1: no such array)
    items_end: int = -1   # just past the array's closing bracket

    def head(self) -> Members | None:
        """The members before the array, as ``Members`` of ``text[:head_end]``."""
        if self.head_end < 0:
            return None
        names = [name for name, (start, _) in self.members.items() if start < self.head_end]
        return Members(self.text[:self.head_end], {name: self.body[name] for name in names},
                       {name: self.members[name] for name in names})

    def tail(self) -> Members | None:
        """The members after the array, as ``Members`` of ``text[items_end:]``."""
        if self.items_end < 0:
            return None
        at = self.items_end
        names = [name for name, (start, _) in self.members.items() if start > at]
        return Members(self.text[at:], {name: self.body[name] for name in names},
                       {name: (start - at, end - at) for name, (start, end) in
                        ((name, self.members[name]) for name in names)})

    def span_of(self, path: Path) -> Span:
        """The span of the string at ``path`` (a key of the body, then keys and indices)."""
        first, rest = path[0], path[1:]
        if first == self.items_key and rest and isinstance(rest[0], int) and self.items:
            return _string_span(self.text, self.items[rest[0]][0], rest[1:])
        return _string_span(self.text, self.members[str(first)][0], rest)


def scan(text: str, items_key: str, resume: Resume | None = None, head: Members | None = None,
         tail: Members | None = None) -> Document:
    """Parse ``text``, a JSON object; raises UnsupportedBody (``invalid_json``, ``duplicate_keys``).

    ``resume``, called once the ``items_key`` array's second item is read, may hand back the first
    items of that array (a Prefix), which the caller knows to be this text's own (an earlier body
    with the same bytes up to there): they are taken as they are and scanning goes on after them.
    ``head`` (``text`` starts with its text) and ``tail`` (``text`` ends with its text) are
    members parsed before: the head's are taken as they are, and the tail's when the array ends
    just where the tail's text begins.
    """
    try:
        return _scan(text, items_key, resume, head, tail)
    except PassThrough:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError from scanstring, huge ints
        raise _invalid(type(exc).__name__) from None


def _scan(text: str, items_key: str, resume: Resume | None, head: Members | None,
          tail: Members | None) -> Document:
    index = _skip_ws(text, 0)
    if text[index:index + 1] != "{":
        value, end = _value(text, index)  # valid JSON that is not an object, or not JSON at all
        if _skip_ws(text, end) != len(text):
            raise _invalid("extra data")
        raise UnsupportedBody("body is not a JSON object")
    doc = Document(text=text, body={}, items_key=items_key)
    if head is not None:  # the same text up to where a key is due: the same members
        doc.body.update(head.values)
        doc.members.update(head.spans)
        index, closed = len(head.text), False
    else:
        index = _skip_ws(text, index + 1)
        closed = text[index:index + 1] == "}"
        index += closed
    while not closed:
        key, start = _key(text, index)
        if key in doc.body:
            raise UnsupportedBody("duplicate object key", reason="duplicate_keys")
        if key == items_key and text[start:start + 1] == "[":
            doc.head_end = index
            value, doc.items, end = _array(text, start, resume, index)
            doc.items_end = end
            if tail is not None and end == len(text) - len(tail.text):
                # the rest of the text is the tail's, which parsed to these members and the end
                doc.body[key], doc.members[key] = value, (start, end)
                if not doc.body.keys().isdisjoint(tail.values):
                    raise UnsupportedBody("duplicate object key", reason="duplicate_keys")
                doc.body.update(tail.values)
                doc.members.update((name, (first + end, last + end)) for name, (first, last) in tail.spans.items())
                return doc
        else:
            value, end = _value(text, start)
        doc.body[key], doc.members[key] = value, (start, end)
        index, closed = _after_item(text, end, "}")
    if _skip_ws(text, index) != len(text):
        raise _invalid("extra data")
    return doc


def _string_span(text: str, index: int, path: Path) -> Span:
    """Walk ``path`` from the value at ``index``; the span of the string found there."""
    for step in path:
        if isinstance(step, int):
            index = _nth_item(text, index, step)
        else:
            index = _member(text, index, step)
    if text[index:index + 1] != '"':
        raise ValueError(f"no string at {index}")
    _, end = _scan_string(text, index + 1, True)
    return index, end


def _nth_item(text: str, index: int, n: int) -> int:
    index = _skip_ws(text, index + 1)  # past the '['
    for _ in range(n):
        _, end = _value(text, index)
        index, _ = _after_item(text, end, "]")
    return index


def _member(text: str, index: int, name: str) -> int:
    index = _skip_ws(text, index + 1)  # past the '{'
    while True:
        key, start = _key(text, index)
        if key == name:
            return start
        _, end = _value(text, start)
        index, closed = _after_item(text, end, "}")
        if closed:
            raise KeyError(name)


def splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, new_json)`` written over its span (spans never overlap)."""
    pieces: list[str] = []
    at = 0
    for start, end, new in sorted(edits):
        pieces += (text[at:start], new)
        at = end
    pieces.append(text[at:])
    return "".join(pieces)
