"""What the tests check of a thinned text's lines, now that a thinned option description may be
re-flowed onto fewer lines (``layout.py``): every other line stays where it was, byte for byte."""

from __future__ import annotations

import time

from extproc.compressors.kompress import Kompress
from extproc.compressors.kompress.layout import ProseText
from extproc.compressors.kompress.words import split_prose
from extproc.pipeline import Budget

Pieces = list[tuple[tuple[int, ...], list[str]]]


def pieces_of(compressor: Kompress, text: str) -> tuple[ProseText, Pieces]:
    """The text split, and ``join``'s output by the lines each piece came from, for the words
    ``compressor`` keeps (the same choice ``compress_within`` makes)."""
    prose = split_prose(text)
    scores, missed = compressor._score(prose, time.monotonic() + 300, Budget())
    assert not missed
    return prose, prose.pieces(compressor._select(prose, scores))


def assert_only_prose_changed(text: str, out: str, prose: ProseText, pieces: Pieces) -> int:
    """``out`` is ``pieces`` joined; every line of ``text`` is in one piece, in order; a line
    outside prose is unchanged, a prose line keeps its start (an option's names and gap), and a
    thinned description takes no more lines than it had, each within its width, continuation lines at its
    indent. Returns the number of lines re-flowing saved."""
    lines = text.split("\n")
    assert "\n".join(line for _, got in pieces for line in got) == out
    assert [n for numbers, _ in pieces for n in numbers] == list(range(len(lines)))
    flows = {item.lines: item for item in prose.flows}
    saved = 0
    for numbers, got in pieces:
        first = numbers[0]
        if len(numbers) == 1:
            if first not in prose.prose_lines:
                assert got == [lines[first]], first
            else:
                assert got[0].startswith(lines[first][:prose.starts[first]].rstrip()), first
            continue
        item = flows[numbers]
        assert 0 < len(got) <= len(numbers), numbers
        assert got[0].startswith(lines[first][:prose.starts[first]]), first
        assert all(line.startswith(item.indent) and line[len(item.indent)] != " " for line in got[1:]), got
        assert all(len(line) <= item.width or len(line[len(item.indent):].split()) == 1 for line in got), got
        saved += len(numbers) - len(got)
    return saved
