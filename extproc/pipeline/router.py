"""How a tool result's content type is decided: declared detectors, tried in their order.

The content types themselves (each one's detector, its place in the order and its compressors)
are declared once, in ``compressors/content_types.py``; the built-in detectors are in
``shapes.py``. A detector reads a ``Sample`` (a prefix of the text, ``DEFAULT_SAMPLE_CHARS``, and
its non-blank lines) and answers yes or no. A ``Router`` tries the declared detectors from the
lowest order up and names the first type whose detector says yes; nothing says yes: plain text.
The pipeline classifies each block it may compress once (``Router.detect``) and offers it only to
that type's compressors, so no compressor checks the type again.

``Detections`` remembers types per process, by a digest of what the detectors read of a text (its
sample, and whether the text runs past it), a short text by the text itself (``cache.TextMemo``):
a pure function of those, so a bounded per-text memo
like the token counter's counts. A coding agent resends every earlier tool result each turn, and
a request whose block results are not cached (a new process, ``block_cache_bytes: 0``) then
routes only the texts this process has not routed before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import cached_property

from .cache import ByteLRU, TextMemo, digest

__all__ = ["ContentType", "Detections", "Detector", "Router", "Sample", "Shape", "DEFAULT_SAMPLE_CHARS"]

DEFAULT_SAMPLE_CHARS = 8192
DETECTIONS_BYTES = 1 << 20      # about 8000 remembered types (digest keys, not texts)
_MIN_REMEMBERED_CHARS = 256     # shorter texts are routed about as fast as they are digested
_MEMO_BYTES = 2 * 1024 * 1024   # texts under cache.MEMO_CHARS are also found by the text itself
_JSONL_PROBE = 10  # lines read to tell JSON lines


class ContentType(StrEnum):
    """The names of the built-in content types; a type declared later is named by a plain string."""

    JSON = "json"        # one JSON document (object or array)
    JSONL = "jsonl"      # one JSON value per line
    LOG = "log"          # build, test, install or application log
    SEARCH = "search"    # grep / ripgrep hits: path:line:text or ripgrep's heading format
    DIFF = "diff"        # unified diff (git diff, git show, diff -u)
    TABLE = "table"      # a column-aligned table under an upper-case header (kubectl get, docker ps)
    HTML = "html"        # an HTML page or fragment
    CODE = "code"        # a source file
    TEXT = "text"        # anything else


class Sample:
    """What a detector reads: the text's first ``sample_chars`` characters and their non-blank lines
    (``lines``, without a last line the sample cut in half); computed once per text."""

    def __init__(self, text: str, sample_chars: int = DEFAULT_SAMPLE_CHARS) -> None:
        self.text = text[:sample_chars]
        self.head = self.text.lstrip()
        self.lines = _sample_lines(self.text, truncated=len(text) > sample_chars) if self.head else []

    @cached_property
    def records(self) -> int:
        """How many of the first lines are each a whole JSON object or array (0 unless the first is)."""
        return _json_records(self.lines) if self.head[:1] in ("[", "{") else 0

    @cached_property
    def probe(self) -> list[str]:
        """The first lines, those read to tell JSON lines."""
        return self.lines[:_JSONL_PROBE]

    @cached_property
    def json_lines(self) -> bool:
        """Is each of the first (at least two) lines a whole JSON value?"""
        return self.records == len(self.probe) >= 2


Detector = Callable[[Sample], bool]
# One detector of a content type: (its place in the order, lowest first; the type's name; it).
Shape = tuple[int, str, Detector]


class Router:
    """Names a text's content type: the first of ``shapes``, by order, whose detector says yes.

    Ties keep the order given. Blank text, or text no detector claims, is plain text (``fallback``).
    """

    def __init__(self, shapes: Iterable[Shape], fallback: str = ContentType.TEXT) -> None:
        self.shapes = tuple(sorted(shapes, key=lambda shape: shape[0]))
        self.fallback = fallback

    def detect(self, text: str, *, sample_chars: int = DEFAULT_SAMPLE_CHARS) -> str:
        """The content type of ``text``, decided from its first ``sample_chars`` characters."""
        sample = Sample(text, sample_chars)
        if not sample.head:
            return self.fallback
        for _, name, detector in self.shapes:
            if detector(sample):
                return name
        return self.fallback


class Detections:
    """``router.detect`` of texts, remembered by a digest of what it reads of them (module
    docstring), up to ``max_bytes``; thread-safe (``ByteLRU``)."""

    def __init__(self, router: Router, max_bytes: int = DETECTIONS_BYTES) -> None:
        self.router = router
        self._types: ByteLRU[str] = ByteLRU(max_bytes)
        # texts under MEMO_CHARS by the text itself, _MEMO_BYTES of them at most
        self._memo: TextMemo[str] = TextMemo(_MEMO_BYTES)

    def detect(self, text: str) -> str:
        return self._memo.recall(text, self._digested)

    def _digested(self, text: str) -> str:
        if len(text) < _MIN_REMEMBERED_CHARS:
            return self.router.detect(text)
        key = digest(text[:DEFAULT_SAMPLE_CHARS], "+" if len(text) > DEFAULT_SAMPLE_CHARS else "")
        kind = self._types.get(key)
        if kind is None:
            kind = self.router.detect(text)
            self._types.put(key, kind, 0)
        return kind


def _sample_lines(sample: str, *, truncated: bool) -> list[str]:
    """Non-blank lines of the sample, without a last line the sample cut in half."""
    lines = sample.split("\n")
    if truncated and len(lines) > 1:
        lines.pop()
    if "\r" in sample:
        lines = [line.rstrip("\r") for line in lines]
    return [line for line in lines if line and not line.isspace()]


def _json_records(lines: list[str]) -> int:
    """How many of the first lines are each a complete JSON object or array (0 unless the first is)."""
    count = 0
    for index, line in enumerate(lines[:_JSONL_PROBE]):
        stripped = line.strip()
        try:
            whole = stripped[:1] in "[{" and isinstance(json.loads(stripped), (dict, list))
        except (ValueError, RecursionError):
            whole = False
        if not whole and index == 0:
            return 0
        count += whole
    return count
