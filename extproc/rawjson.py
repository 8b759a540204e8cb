"""A request body as JSON text: parsed once, with where its parts sit, so changes are spliced in.

trimwire never re-serialises a body. ``scan`` parses it (strict: no duplicate keys, no NaN or
Infinity) and notes the span of each top-level member and of each item of one array member
(``messages`` or ``input``); ``Document.span_of`` finds the span of the string at a path, and
``splice_bytes`` writes new strings over those spans in the body's UTF-8 bytes (``utf8_length``
turns a span in the text into one in the bytes). Every other byte reaches the provider as the
client wrote it: numbers keep their spelling, keys their order, strings their escapes.

Item spans also let a caller recognise an item it has seen before by its text alone
(``messages.py``: checkpoints and the message cache), and a member other than the array, or one
of its first two items, can be handed back by ``Known`` when the text at its place is one
parsed before (a system prompt, tool definitions, a task: resent every turn). Parsing is the
json module's C scanner throughout.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import PassThrough, UnsupportedBody

__all__ = ["Document", "Known", "Path", "Prefix", "Resume", "Span", "array_rest", "scan", "splice_bytes",
           "utf8_length"]

Path = tuple[str | int, ...]   # keys and indices from the body's root to a string
Span = tuple[int, int]         # [start, end) in the body's text
# The first items of the array, parsed, with their spans: known to be the body's own first items.
Prefix = tuple[list[Any], list[Span]]
# Called with the spans of the array's first and second items; may answer with a Prefix to skip scanning.
Resume = Callable[[Span, Span], Prefix | None]


class Known(Protocol):
    """Members parsed before, by the text they were parsed from."""

    def find(self, key: str, text: str, start: int) -> tuple[Any, int] | None:
        """(value, end) when ``text`` holds at ``start`` the text of a value of ``key`` parsed before."""

    def keep(self, key: str, text: str, span: Span, value: Any) -> None:
        """``value`` was just parsed from ``text[span[0]:span[1]]`` as the value of ``key``."""


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


# typeshed types the scanner's context as a scanner (a TODO there): CPython reads a JSONDecoder's hooks
_scan_once = json.scanner.make_scanner(json.JSONDecoder(object_pairs_hook=_unique_keys,  # type: ignore[arg-type]
                                                         parse_constant=_no_constant))
_scan_string = json.decoder.scanstring  # type: ignore[attr-defined]  # undocumented, left out of typeshed


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


def _array(text: str, index: int, resume: Resume | None, known: Known | None,
           name: str) -> tuple[list[Any], list[Span], int]:
    """The array at ``index`` (its ``[``), its items' spans, and the index after it. ``resume``
    may answer for the first items once two are read: scanning goes on after them. ``known`` is
    asked for the first two items (as ``name``: a system prompt, a task, resent every turn)."""
    items: list[Any] = []
    spans: list[Span] = []
    index = _skip_ws(text, index + 1)
    if text[index:index + 1] == "]":
        return items, spans, index + 1
    closed = False
    while not closed:
        asked = known if len(spans) < 2 else None
        found = asked.find(name, text, index) if asked is not None else None
        if found is not None:
            item, end = found
        else:
            item, end = _value(text, index)
            if asked is not None:
                asked.keep(name, text, (index, end), item)
        items.append(item)
        spans.append((index, end))
        if resume is not None and len(spans) == 2:
            prefix, resume = resume(spans[0], spans[1]), None
            if prefix is not None:
                items, spans = list(prefix[0]), list(prefix[1])
                end = spans[-1][1]
        index, closed = _after_item(text, end, "]")
    return items, spans, index


@dataclass(slots=True)
class Document:
    """A parsed body object with the spans of its members and of its ``items_key`` array's items."""

    text: str
    body: dict[str, Any]
    items_key: str
    members: dict[str, Span] = field(default_factory=dict)
    items: list[Span] = field(default_factory=list)

    def span_of(self, path: Path) -> Span:
        """The span of the string at ``path`` (a key of the body, then keys and indices)."""
        first, rest = path[0], path[1:]
        if first == self.items_key and rest and isinstance(rest[0], int) and self.items:
            return _string_span(self.text, self.items[rest[0]][0], rest[1:])
        return _string_span(self.text, self.members[str(first)][0], rest)


def scan(text: str, items_key: str, resume: Resume | None = None, known: Known | None = None) -> Document:
    """Parse ``text``, a JSON object; raises UnsupportedBody (``invalid_json``, ``duplicate_keys``).

    ``resume``, called once the ``items_key`` array's second item is read, may hand back the first
    items of that array (a Prefix), which the caller knows to be this text's own (an earlier body
    with the same bytes up to there): they are taken as they are and scanning goes on after them.
    ``known`` answers the other members, and the array's first two items, whose text it has parsed
    before (the same characters give the same value), and is told of each one parsed now.
    """
    try:
        return _scan(text, items_key, resume, known)
    except PassThrough:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError from scanstring, huge ints
        raise _invalid(type(exc).__name__) from None


def _scan(text: str, items_key: str, resume: Resume | None, known: Known | None) -> Document:
    index = _skip_ws(text, 0)
    if text[index:index + 1] != "{":
        value, end = _value(text, index)  # valid JSON that is not an object, or not JSON at all
        if _skip_ws(text, end) != len(text):
            raise _invalid("extra data")
        raise UnsupportedBody("body is not a JSON object")
    doc = Document(text=text, body={}, items_key=items_key)
    index = _skip_ws(text, index + 1)
    closed = text[index:index + 1] == "}"
    index += closed
    while not closed:
        key, start = _key(text, index)
        if key in doc.body:
            raise UnsupportedBody("duplicate object key", reason="duplicate_keys")
        if key == items_key and text[start:start + 1] == "[":
            value, doc.items, end = _array(text, start, resume, known, key + "[:2]")
        elif known is not None and (found := known.find(key, text, start)) is not None:
            value, end = found
        else:
            value, end = _value(text, start)
            if known is not None:
                known.keep(key, text, (start, end), value)
        doc.body[key], doc.members[key] = value, (start, end)
        index, closed = _after_item(text, end, "}")
    if _skip_ws(text, index) != len(text):
        raise _invalid("extra data")
    return doc


def array_rest(text: str, index: int) -> tuple[list[Any], list[Span], int]:
    """The items of an array after the item that ends at ``index``, their spans, and the index of
    the array's closing bracket; raises UnsupportedBody where that is not what follows."""
    items: list[Any] = []
    spans: list[Span] = []
    index, closed = _after_item(text, index, "]")
    while not closed:
        item, end = _value(text, index)
        items.append(item)
        spans.append((index, end))
        index, closed = _after_item(text, end, "]")
    return items, spans, index - 1


def _string_span(text: str, index: int, path: Path) -> Span:
    """Walk ``path`` from the value at ``index``; the span of the string found there."""
    for step in path:
        index = _nth_item(text, index, step) if isinstance(step, int) else _member(text, index, step)
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


def utf8_length(text: str, start: int, end: int) -> int:
    """How many UTF-8 bytes ``text[start:end]`` takes (``str.isascii`` is a flag lookup): turns a
    span in the text into one in its bytes."""
    return end - start if text.isascii() else len(text[start:end].encode())


def splice_bytes(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` with each ``(start, end, new)`` written over its byte span (spans never overlap):
    the body's own bytes are copied once, never decoded or encoded again."""
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    at = 0
    for start, end, new in sorted(edits):
        pieces += (view[at:start], new)
        at = end
    pieces.append(view[at:])
    return b"".join(pieces)

