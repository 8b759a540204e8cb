"""A JSON listing an agent cut in the middle with its own truncation marker, read as far as it goes
(used by ``json_lossy.JsonSampler``).

Claude Code keeps the start and end of a long output around ``... [N characters truncated] ...``
(or only the start, then ``... [N lines truncated] ...``); Codex cuts ``…N tokens truncated…`` or
``…N chars truncated…`` into a line. The text no longer parses, but it is still a listing:
``split_cut`` finds the array the cut went through and the complete items on each side of it,
so the sampler can sample what is there. The marker is part of the output and is kept as written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["Cut", "split_cut", "CUT_MARKER"]

CUT_MARKER = re.compile(r"\n*\.\.\. \[\d+ (?:characters|lines) truncated\] \.\.\.\n*|…\d+ (?:tokens|chars) truncated…")
_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_MAX_TAIL_TRIES = 32


@dataclass(frozen=True, slots=True)
class Cut:
    """A cut listing: ``prefix`` up to and including its ``[``, the complete items before the
    marker (``head``) and after it (``tail``), and everything from the listing's ``]`` on
    (``closing``; the text after the marker as it is when no tail items were found)."""

    prefix: str
    head: list[str]
    marker: str
    tail: list[str]
    closing: str


def split_cut(text: str) -> Cut | None:
    """The listing ``text`` holds around one agent truncation marker, or None."""
    markers = list(CUT_MARKER.finditer(text))
    if len(markers) != 1:
        return None
    before, after = text[:markers[0].start()], text[markers[0].end():]
    frames: list[tuple[str, int, list[tuple[int, int]]]] = []
    try:
        if _walk(before, _skip_ws(before, 0), frames) is not None:
            return None  # the head is whole: the marker is not inside this document
    except RecursionError:  # nested deeper than Python recurses: not a listing worth sampling
        return None
    listings = [(len(spans), depth, start, spans) for depth, (kind, start, spans) in enumerate(frames)
                if kind == "[" and spans]
    if not listings:
        return None
    _, _, start, spans = max(listings)
    prefix = before[:start + 1]
    head = [before[a:b] for a, b in spans]
    found = _tail(after, prefix, head[0][:1])
    tail, closing = found if found is not None else ([], after)
    return Cut(prefix, head, markers[0][0], tail, closing)


def _skip_ws(text: str, at: int) -> int:
    """The index of the first character at or after ``at`` that is not JSON whitespace."""
    match = _WS.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _walk(text: str, at: int, frames: list[tuple[str, int, list[tuple[int, int]]]]) -> int | None:
    """The end of the JSON value starting at ``at``; None when the text ends inside it, after
    adding a frame (kind, start, spans of complete children) for each container left open."""
    try:
        return _DECODER.raw_decode(text, at)[1]
    except (ValueError, RecursionError):
        pass
    if at >= len(text) or text[at] not in "[{":
        return None
    spans: list[tuple[int, int]] = []
    frames.append((text[at], at, spans))
    position = _skip_ws(text, at + 1)
    while position < len(text):
        start = position
        if text[at] == "{":  # a member: its key, a colon, then the value
            try:
                position = _DECODER.raw_decode(text, position)[1]
            except (ValueError, RecursionError):
                return None
            position = _skip_ws(text, position)
            if not text.startswith(":", position):
                return None
            position = _skip_ws(text, position + 1)
        end = _walk(text, position, frames)
        if end is None:
            return None
        spans.append((start, end))
        position = _skip_ws(text, end)
        if not text.startswith(",", position):
            return None
        position = _skip_ws(text, position + 1)
    return None


def _tail(text: str, prefix: str, opener: str) -> tuple[list[str], str] | None:
    """The listing's complete items after the marker and what follows its ``]``: the first run of
    items, each starting like the head's items, that closes so the document parses again."""
    if opener not in "[{":
        return None
    for tries, candidate in enumerate(re.finditer(r",[ \t\n\r]*(?=" + re.escape(opener) + ")", text)):
        if tries >= _MAX_TAIL_TRIES:
            return None
        items = _items_from(text, candidate.end())
        if items is None:
            continue
        spans, close = items
        try:
            json.loads(prefix + text[close:])
        except (ValueError, RecursionError):
            continue
        return [text[a:b] for a, b in spans], text[close:]
    return None


def _items_from(text: str, position: int) -> tuple[list[tuple[int, int]], int] | None:
    """Comma-separated complete values from ``position`` up to a ``]`` (spans, the ``]``'s index)."""
    spans: list[tuple[int, int]] = []
    while True:
        try:
            end = _DECODER.raw_decode(text, position)[1]
        except (ValueError, RecursionError):
            return None
        spans.append((position, end))
        position = _skip_ws(text, end)
        if text.startswith("]", position):
            return spans, position
        if not text.startswith(",", position):
            return None
        position = _skip_ws(text, position + 1)
