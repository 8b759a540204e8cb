"""The line index behind dedup (``dedup.py``): every text the model has seen, as line hashes.

A ``Source`` is one text of the conversation as it went out (a tool's output after compression,
or a multi-line argument of a tool call), kept only as hashes: per line a hash of what follows
its line-number prefix (``cat -n``, ``nl``, ``grep -n``, Claude Code's ``Read``), a hash of the
whole line where the two differ, and the prefix's number. ``LineIndex`` maps each hash to where
it stands, so a new output finds its repeats by looking up its own lines only: the index is
kept with the conversation's checkpoint and a turn adds only what is new in it.

Hashes are Python's ``hash`` of a str (64 bits, fast, cached on the string). They are never
sent anywhere. They only find runs: a run about to become a pointer is compared line by line
with the lines it points at, as text (``runs.py``), and a pair of lines whose hashes collide
ends it there, so a pointer never names a line other than the one it replaces. Each source
keeps its lines' text for that (the lines it went out as, shared with its ``Lines``).

A text's ``Lines`` are remembered by a digest of the text, or a short one by the text itself
(``LinesCache``, a bounded LRU and a bounded ``cache.TextMemo`` owned by
the process's ``Dedup`` and emptied with the rest of ``history.History``, like the token
counter's counts): a request that holds history read before (every turn of a conversation whose
checkpoint is gone, or a worker that never saw it) hashes only the texts new to this process.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .cache import ByteLRU, TextMemo, digest

__all__ = ["GAP", "Lines", "LinesCache", "LineIndex", "Places", "Source", "after_number", "line_hashes", "places_of"]

# cat -n, nl, Read ("    12\t" or "    12→"); grep -n / rg -n ("12:", "path:12:", "path-12-" for context),
# but not a date or a time ("2025-03-14", "09:00:01": a digit right after the separator)
_PREFIX = re.compile(r" *(\d{1,9})(?:\t|→)|(?:[^\s:]+[:-])?(\d{1,9})[:-](?!\d)")
_match = _PREFIX.match
_hash = hash  # what a line is hashed by (a test makes two lines collide through it)
NO_NUMBER = -1
_MIN_NUMBERED = 3  # numbered lines a text needs for its numbers to name its lines (numbers_name_lines)
GAP = 0  # the hash of a line that must never match: a pointer written in place of a run
# Lines this short (after their prefix) never start a run: blank lines, braces, "else:" would
# find a candidate everywhere. They still extend a run that reaches them.
_TRIVIAL_CHARS = 3
# Of the places a line stands, only the latest few are tried as the start of a run.
CANDIDATES = 16
# Texts' Lines remembered per process (``LinesCache``); shorter texts are hashed faster than digested.
LINES_CACHE_BYTES = 16 * 1024 * 1024
# Texts under MEMO_CHARS are also found by the text itself (``cache.TextMemo``), this many bytes of
# texts at most: a conversation read cold resends its outputs and arguments every turn.
_MEMO_BYTES = 4 * 1024 * 1024
# What a remembered Lines holds besides its text, per line, roughly: a str object's head, the
# list's pointer, three array slots, a set entry, and its ``places`` entry (measured: about 70).
_LINE_BYTES = 200


def line_hashes(lines: list[str]) -> tuple[array[int], array[int], array[int]]:
    """Per line, as three columns: its content hash (after its number prefix), its whole-line hash,
    and its number (NO_NUMBER when it has no prefix). The content hash is odd for lines that may
    start a run and even for trivial ones. The lines' hashes and prefix matches are taken in C
    (``map``), and only lines with a prefix are hashed again, after it."""
    keys: list[int] = []
    wholes: list[int] = []
    numbers: list[int] = []
    for line, key, match in zip(lines, map(_hash, lines), map(_match, lines)):
        if match is None:
            key = key | 1 if len(line) >= _TRIVIAL_CHARS and len(line.strip()) >= _TRIVIAL_CHARS else key & ~1
            keys.append(key or 2)
            wholes.append(key or 2)
            numbers.append(NO_NUMBER)
        else:
            wholes.append(key or 2)
            content = line[match.end():]
            key = _hash(content)
            key = key | 1 if len(content) >= _TRIVIAL_CHARS and len(content.strip()) >= _TRIVIAL_CHARS else key & ~1
            keys.append(key or 2)
            numbers.append(int(match.group(1) or match.group(2)))
    return array("q", keys), array("q", wholes), array("q", numbers)


def after_number(line: str) -> str:
    """What follows a line's number prefix (the whole line when it has none): what its content
    hash is the hash of."""
    match = _match(line)
    return line if match is None else line[match.end():]


class Lines:
    """A text's lines and their hashes (``line_hashes``), and whether its numbers name its lines."""

    __slots__ = ("lines", "keys", "wholes", "numbers", "numbered", "_starts", "_places", "wrapper", "_source", "scan")

    # A Lines may be shared between requests and threads (``LinesCache``): nothing changes it once
    # made, but for ``_starts``, which is set once to what its keys give, and ``wrapper``, set once
    # by dedup to the lines of a harness's wrapper its text holds (``dedup._wrapper_lines``), and
    # ``_source``, the last ``Source`` made of it (``source``), and ``scan``, set by ``runs.py`` to its
    # last answer of which lines may start a run, with the hashes it was for.
    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.keys, self.wholes, self.numbers = line_hashes(self.lines)
        self.numbered = numbers_name_lines(self.numbers)
        self._starts: tuple[frozenset[int], frozenset[int]] | None = None
        self._places: Places | None = None
        self.wrapper: frozenset[int] | None = None
        self._source: Source | None = None
        self.scan: tuple[frozenset[int], list[int]] | None = None

    @classmethod
    def of(cls, lines: list[str], keys: array[int], wholes: array[int], numbers: array[int],
           numbered: bool) -> Lines:
        """Lines whose hashes are already known (an output as rewritten by dedup)."""
        made = cls.__new__(cls)
        made.lines, made.keys, made.wholes, made.numbers, made.numbered = lines, keys, wholes, numbers, numbered
        made._starts = made._places = made.wrapper = made._source = made.scan = None
        return made

    def starts(self) -> tuple[frozenset[int], frozenset[int]]:
        """The content hashes of its lines that may start a run (odd), and those of them that
        stand on more than one of its lines: only those lines can start a run (``runs.py``)."""
        if self._starts is None:
            counts = Counter(key for key in self.keys if key & 1)
            self._starts = frozenset(counts), frozenset(key for key, seen in counts.items() if seen > 1)
        return self._starts

    def source(self, ref: str, chars: int) -> Source:
        """These lines as the ``Source`` ``ref`` names (``chars``: their text's length); the last
        one made is remembered, as every turn of a conversation read cold names the same text so."""
        made = self._source
        if made is None or made.ref != ref or made.chars != chars:
            made = self._source = Source(ref, self.keys, self.wholes, self.numbers, self.numbered, self.lines, chars,
                                         self.places())
        return made

    def places(self) -> Places:
        """Where its lines that may start a run stand (``places_of``), found once."""
        if self._places is None:
            self._places = places_of(self.keys)
        return self._places


# A text's lines that may start a run, as ``LineIndex.add`` takes them: content hash -> line for
# the hashes on one line, and -> lines (in order) for those on more than one.
Places = tuple[dict[int, int], dict[int, tuple[int, ...]]]


def places_of(keys: Sequence[int]) -> Places:
    """The places of the odd (run-starting) hashes among ``keys`` (``Places``)."""
    single: dict[int, int] = {}
    multi: dict[int, list[int]] = {}
    for line, key in enumerate(keys):
        if key & 1:
            if key in multi:
                multi[key].append(line)
            elif key in single:
                multi[key] = [single.pop(key), line]
            else:
                single[key] = line
    return single, {key: tuple(lines) for key, lines in multi.items()}


class LinesCache:
    """Texts' ``Lines`` by digest of the text, up to ``max_bytes`` (module docstring); short texts
    also by the text itself (a ``cache.TextMemo`` of ``_MEMO_BYTES``)."""

    def __init__(self, max_bytes: int = LINES_CACHE_BYTES) -> None:
        self._lru: ByteLRU[Lines] = ByteLRU(max_bytes)
        self._memo: TextMemo[Lines] = TextMemo(_MEMO_BYTES)

    def lines(self, text: str) -> Lines:
        """``Lines(text)``, remembered by the text's digest, and under ``MEMO_CHARS`` by the text too
        (a text the memo forgot is still found by digest: a conversation larger than the memo
        costs a digest a text, as before it, never a new ``Lines``)."""
        return self._memo.recall(text, self._digested)  # the text it holds; the Lines is the LRU's

    def _digested(self, text: str) -> Lines:
        key = digest(text)
        made = self._lru.get(key)
        if made is None:
            made = Lines(text)
            self._lru.put(key, made, len(text) + _LINE_BYTES * len(made.keys))
        return made

    def clear(self) -> None:
        self._lru.clear()
        self._memo.clear()


def numbers_name_lines(numbers: Iterable[int]) -> bool:
    """Whether a text's line numbers each name one line: they rise strictly (one file's listing), on
    at least ``_MIN_NUMBERED`` lines. A line or two that only start with a number ("done:0:", a
    stray "12-") do not make a listing: its lines are counted by position, and pointers name them so.
    (A run is at least three lines: a pointer that names numbers leaves that many numbered lines
    where it points, so the rule reads the same of a text before and after its pointers.)"""
    last = NO_NUMBER
    shown = 0
    for number in numbers:
        if number != NO_NUMBER:
            if number <= last:
                return False
            last = number
            shown += 1
    return shown >= _MIN_NUMBERED


@dataclass(frozen=True, slots=True)
class Source:
    """One text the model has seen, as it went out, and how a pointer names it."""

    ref: str                 # e.g. "the output of toolu_01 (cat -n src/app.py)"
    keys: array[int]         # per line, see line_hashes; GAP for a pointer line
    wholes: array[int]
    numbers: array[int]
    numbered: bool           # its line numbers name its lines (a pointer may cite them)
    lines: Sequence[str]     # the lines' text, a pointer's included: a run is checked against it
    chars: int = 0           # their characters, counted in ``cost``
    places: Places | None = None  # ``places_of(keys)`` when known (its ``Lines.places``)

    @property
    def cost(self) -> int:
        """Bytes it and its index entries hold, roughly (measured: about 135 a line, besides the
        lines' text and str objects, about 50 bytes a line more, and its ``places``, about 70)."""
        return 256 * len(self.keys) + len(self.ref) + self.chars


class LineIndex:
    """Where each line of a conversation's sources stands: content hash -> the sources that hold it,
    by number (one int, or an ``array`` of them in order: neither is a container the garbage
    collector walks, and a long conversation's index holds tens of thousands of them); which of
    its lines hold it, each source's ``places`` say.

    A conversation's checkpoint holds the index and its ``version`` then. The next turn takes it
    over (``claim``): it cuts it back to the messages the two share (the newest sources are the
    last of their lists) and adds its own. A turn that finds the index changed since its
    checkpoint was made (another turn took it first) builds its own from the messages."""

    def __init__(self) -> None:
        self.sources: list[Source] = []
        self.table: dict[int, int | array[int]] = {}
        self.version = 0
        self.bytes = 0  # the sources' ``cost``: what a checkpoint holding the index holds besides its body
        self._places: list[Places] = []  # each source's, in order
        self._lock = threading.Lock()

    def add(self, source: Source) -> None:
        number = len(self.sources)
        table = self.table
        places = source.places if source.places is not None else places_of(source.keys)
        put = table.setdefault
        for held in places:
            for key in held:  # each hash once, whichever lines of the source hold it
                found = put(key, number)
                if found is number:
                    continue  # the hash's first source
                if isinstance(found, int):
                    table[key] = array("q", (found, number))
                else:
                    found.append(number)
        self.sources.append(source)
        self._places.append(places)
        self.bytes += source.cost

    def claim(self, version: int, length: int) -> bool:
        """Take the index over as it was at ``version``, cut back to its first ``length`` sources;
        False (and nothing changed) when it is no longer at that version."""
        with self._lock:
            if self.version != version or length > len(self.sources):
                return False
            self.version += 1
        table = self.table
        while len(self.sources) > length:
            source = self.sources.pop()
            self.bytes -= source.cost
            for held in self._places.pop():
                for key in held:
                    found = table[key]
                    if isinstance(found, int):
                        del table[key]
                    else:
                        found.pop()
                        if len(found) == 1:
                            table[key] = found[0]
        return True

    def candidates(self, key: int, limit: int, then: tuple[int, int] | None = None) -> list[tuple[Source, int]]:
        """The latest places (source, line) among the first ``limit`` sources a line stands:
        the latest source first, and its latest line first; at most ``CANDIDATES`` places are
        looked at. With ``then`` (the content hashes of the two lines after it), only the places
        followed by those lines are named: a run needs them (``runs.py``), and most places of a
        common line are not, so they are dropped here before any is compared."""
        found = self.table.get(key)
        if found is None:
            return []
        sources, places = self.sources, self._places
        out: list[tuple[Source, int]] = []
        seen = 0
        for number in (found,) if isinstance(found, int) else reversed(found):
            if number >= limit:
                continue
            source = sources[number]
            single, multi = places[number]
            only = single.get(key)
            keys = source.keys
            for line in (only,) if only is not None else reversed(multi[key]):
                if then is None or (line + 2 < len(keys) and keys[line + 1] == then[0] and keys[line + 2] == then[1]):
                    out.append((source, line))
                seen += 1
                if seen == CANDIDATES:
                    return out
        return out
