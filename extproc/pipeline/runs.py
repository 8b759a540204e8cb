"""Finding the runs of a text that stand earlier in the conversation, and naming them (``dedup.py``).

Scans the text's lines top to bottom. At each line that may start a run, every recent place its
content stands (``LineIndex.candidates``, and earlier in the same output) is extended two ways:
verbatim (whole lines equal) and renumbered (what follows the line-number prefixes equal, the
numbers on each side counting up one a line). The longest wins; a run replaced moves the scan to
its end. Everything is a function of the text and the index, so the same inputs give the same
pointers.

Hashes only find a run. One worth a pointer is then compared with the lines it points at as
text (``_verified``: whole lines, or what follows their numbers for a renumbered run); where two
lines differ although their hashes agree (a collision), the run ends before them, and goes only
if what is left is still a run worth its pointer. So a pointer's lines always read back exactly.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .lines import CANDIDATES, GAP, NO_NUMBER, LineIndex, Lines, Source, after_number

__all__ = ["Run", "SentLines", "find_runs"]

MIN_LINES = 3  # find_runs checks the two lines after a run's first by hand
_SELF = "above in this output"


@dataclass(frozen=True, slots=True)
class Run:
    """Lines ``start`` to ``start + length`` of the text, found at line ``at`` of ``source``."""

    start: int
    length: int
    source: Source | None        # None: earlier in the same output
    at: int
    verbatim: bool
    pointer: str = ""
    saved: int = 0


class SentLines:
    """The output as it will go out, line by line as the scan passes: what a run may point back to."""

    def __init__(self, lines: Lines) -> None:
        self.keys, self.wholes, self.numbers = array("q"), array("q"), array("q")
        self.lines: list[str] = []  # their text, a pointer's included
        self.table: dict[int, list[int]] = {}
        self.numbered = lines.numbered
        # Where a text's numbers do not name its lines, which lines the model reads them as depends
        # on which runs go: no run points back into such a text.
        self.pointable = lines.numbered or lines.numbers.count(NO_NUMBER) == len(lines.numbers)

    def append(self, key: int, whole: int, number: int, line: str) -> None:
        if key & 1 and self.pointable:
            self.table.setdefault(key, []).append(len(self.keys))
        self.lines.append(line)
        self.keys.append(key)
        self.wholes.append(whole)
        self.numbers.append(number)


Worth = Callable[[Lines, Run, str], int]


def find_runs(lines: Lines, index: LineIndex, limit: int, sent: SentLines, worth: Worth,
              keep: frozenset[int] = frozenset()) -> list[Run]:
    """The runs worth a pointer (``worth``: the tokens it saves, 0 if too few), in order, none of
    them over a line in ``keep``; ``sent`` ends as the lines that go out (a pointer's as ``GAP``),
    or is left as it came when there is none.

    Only a line whose content stands in the index or on another line of the text can start a
    run: the scan stops at those alone and takes the lines between them over whole. ``sent.table``
    then holds only the hashes a later line of the text can look up (those of more than one line)."""
    table = index.table
    starts, repeated = lines.starts()
    hot = (table.keys() & starts) | repeated
    if not hot:
        return []
    keys, wholes, numbers, texts = lines.keys, lines.wholes, lines.numbers, lines.lines
    total = len(keys)
    # the lines whose hashes are hot, found from the hashes (most lines of an output are not hot):
    # those of one line of the text, and every line of those on more (all of them hot)
    single, multi = lines.places()
    places = [number for number in map(single.get, hot) if number is not None]
    for numbers_of in multi.values():
        places += numbers_of
    places.sort()
    # The lines a run may start at: the lines after one that a run needs (MIN_LINES, three) stand
    # somewhere too, or are trivial and indexed nowhere. None (most outputs): no run, no ``sent``.
    placed = set(places)
    followed = {number for number in places if number + MIN_LINES <= total
                and (number + 1 in placed or not keys[number + 1] & 1)
                and (number + 2 in placed or not keys[number + 2] & 1)}
    if not followed:
        return []
    runs = []
    kept = tuple(sorted(keep))
    mine = sent.table
    line = 0
    for start in places:
        if start < line:
            continue  # inside a run replaced
        if start > line:
            _take(sent, lines, line, start)
            line = start
        key = keys[line]
        if line in followed and (key in table or key in mine) and line not in keep:
            run = _longest(lines, line, index, limit, sent, kept)
            if run is not None:
                run = _replacing(lines, run, sent, worth)
                if run is not None:
                    runs.append(run)
                    sent.append(GAP, GAP, NO_NUMBER, run.pointer)
                    line += run.length
                    continue
        sent.append(key, wholes[line], numbers[line], texts[line])
        line += 1
    if line < total:
        _take(sent, lines, line, total)
    return runs


def _take(sent: SentLines, lines: Lines, start: int, stop: int) -> None:
    """Lines ``start`` to ``stop``, none of which can start a run, as they go out."""
    sent.lines += lines.lines[start:stop]
    sent.keys.extend(lines.keys[start:stop])
    sent.wholes.extend(lines.wholes[start:stop])
    sent.numbers.extend(lines.numbers[start:stop])


def _replacing(lines: Lines, run: Run, sent: SentLines, worth: Worth) -> Run | None:
    """``run`` with its pointer and the tokens it saves, cut short before its first line whose
    text differs from the line it points at (``_verified``); None when what is left is no run
    or not worth its pointer."""
    pointer = _pointer(lines, run, sent)
    saved = worth(lines, run, pointer) if pointer else 0
    if not saved:
        return None
    length = _verified(lines, run, sent.lines if run.source is None else run.source.lines)
    if length < run.length:
        shorter = Run(run.start, length, run.source, run.at, run.verbatim)
        return _replacing(lines, shorter, sent, worth) if length >= MIN_LINES else None
    return Run(run.start, run.length, run.source, run.at, run.verbatim, pointer, saved)


def _verified(lines: Lines, run: Run, theirs: Sequence[str]) -> int:
    """How many of the run's lines, from its first, equal the lines they point at in ``theirs``
    as text: whole, or (renumbered) what follows their numbers. Hashes found the run; two lines
    whose hashes collide must not pass for one another."""
    mine = lines.lines[run.start:run.start + run.length]
    there = list(theirs[run.at:run.at + run.length])
    if mine == there:
        return run.length
    for step, (line, other) in enumerate(zip(mine, there)):
        if line != other and (run.verbatim or after_number(line) != after_number(other)):
            return step
    return min(len(mine), len(there))


def _longest(lines: Lines, line: int, index: LineIndex, limit: int, sent: SentLines,
             kept: tuple[int, ...]) -> Run | None:
    """The longest run from ``line`` at the latest places its content stands (those
    ``index.candidates`` names, then earlier in the same output), the first of equal ones; None
    when none is ``MIN_LINES`` long."""
    keys = lines.keys
    third = line + MIN_LINES - 1
    if third >= len(keys):
        return None
    key, third_key = keys[line], keys[third]
    # how far a run may reach: the text's end, or the first line in ``kept`` after ``line``
    reach = len(keys) - line
    after = bisect_right(kept, line)
    if after < len(kept):
        reach = min(reach, kept[after] - line)
    best = Run(line, MIN_LINES - 1, None, 0, True)  # a stand-in no run is shorter than
    for source, at in index.candidates(key, limit):
        # both comparisons need equal content: a place whose third line differs is no run
        if at + MIN_LINES - 1 < len(source.keys) and source.keys[at + MIN_LINES - 1] == third_key:
            best = _better(lines, line, reach, source, source, at, best)
    mine = sent.table.get(key)
    if mine:
        for at in reversed(mine[-CANDIDATES:]):
            if at + MIN_LINES - 1 < len(sent.keys) and sent.keys[at + MIN_LINES - 1] == third_key:
                best = _better(lines, line, reach, None, sent, at, best)
    return best if best.length >= MIN_LINES else None


def _better(lines: Lines, line: int, reach: int, source: Source | None, other: Source | SentLines, at: int,
            best: Run) -> Run:
    """The run from ``line`` at line ``at`` of ``other`` (``source``, or the output itself when
    that is None), compared whole, then renumbered, when longer than ``best``; else ``best``."""
    stop = min(reach, len(other.keys) - at)
    length = _verbatim(lines.wholes, line, other.wholes, at, stop)
    if length > best.length:
        best = Run(line, length, source, at, True)
    if lines.numbers[line] != NO_NUMBER or other.numbers[at] != NO_NUMBER:
        length = _renumbered(lines, line, other, at, stop)
        if length > best.length:
            best = Run(line, length, source, at, False)
    return best


def _verbatim(mine: array[int], line: int, theirs: array[int], at: int, stop: int) -> int:
    """How many of the ``stop`` lines from ``line`` equal, whole, those of ``other`` from ``at``
    (a pointer's ``GAP`` equals nothing)."""
    length = 0
    while length < stop and theirs[at + length] == mine[line + length] != GAP:
        length += 1
    return length


def _renumbered(lines: Lines, line: int, other: Source | SentLines, at: int, stop: int) -> int:
    """How many of the ``stop`` lines from ``line`` equal those of ``other`` from ``at`` in what
    follows their line numbers, the numbers on each side counting up one a line."""
    my_numbers, their_numbers = lines.numbers, other.numbers
    my_first, their_first = my_numbers[line], their_numbers[at]
    if my_first == their_first == NO_NUMBER:
        return 0  # no prefix on either side: the verbatim comparison says it all
    mine, theirs = lines.keys, other.keys
    length = 0
    while length < stop and theirs[at + length] == mine[line + length] != GAP:
        if not (_counts(my_numbers[line + length], my_first, length)
                and _counts(their_numbers[at + length], their_first, length)):
            break
        length += 1
    return length


def _counts(number: int, first: int, step: int) -> bool:
    """Whether a line's number continues its run: none where the first had none, else first + step."""
    return number == NO_NUMBER if first == NO_NUMBER else number == first + step


def _numbers(numbers: array[int], start: int, length: int) -> tuple[int, int] | None:
    """The first and last line numbers of a range whose numbers count up one a line, else None."""
    first = numbers[start]
    if first == NO_NUMBER or numbers[start + length - 1] != first + length - 1:
        return None
    for step in range(length):
        if numbers[start + step] != first + step:
            return None
    return first, first + length - 1


def _pointer(lines: Lines, run: Run, sent: SentLines) -> str:
    """The pointer's text, or "" when a side could not be named unambiguously."""
    other = sent if run.source is None else run.source
    mine = _numbers(lines.numbers, run.start, run.length) if lines.numbered else None
    theirs = _numbers(other.numbers, run.at, run.length) if other.numbered else None
    if not run.verbatim:
        # renumbered: a side with numbers must be named by them, or its prefixes are lost
        if (lines.numbers[run.start] != NO_NUMBER and mine is None) or \
                (other.numbers[run.at] != NO_NUMBER and theirs is None):
            return ""
    elif other.numbered and theirs is None:
        return ""  # its numbers name lines: a range by position would read as numbers
    # "=": the lines stand there as they are; every word of the wording is paid for on every pointer
    here = f"lines {mine[0]}-{mine[1]}" if mine else f"{run.length} lines"
    there = f"lines {theirs[0]}-{theirs[1]}" if theirs else f"lines {run.at + 1}-{run.at + run.length}"
    where = _SELF if run.source is None else f"of {run.source.ref}"
    bare = "" if run.verbatim or mine or not theirs else " (without their line numbers)"
    return f"[trimwire: {here} = {there} {where}{bare}]"
