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
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
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
    """The output as it will go out, as far as the scan has passed: what a run may point back to.

    Copied from the text a stretch at a time (``take``: C-level slices up to where a run starts,
    or where a run may point back), never line by line; a run replaced leaves one line, its
    pointer (``GAP``). Where a line of the text stands in it follows from the runs replaced
    before it (``earlier``)."""

    def __init__(self, lines: Lines) -> None:
        self.text = lines
        self.keys, self.wholes, self.numbers = array("q"), array("q"), array("q")
        self.lines: list[str] = []  # their text, a pointer's included
        self.numbered = lines.numbered
        # Where a text's numbers do not name its lines, which lines the model reads them as depends
        # on which runs go: no run points back into such a text.
        self.pointable = lines.numbered or lines.numbers.count(NO_NUMBER) == len(lines.numbers)
        self.taken = 0  # the text's lines copied or replaced so far
        # the runs replaced, in order: where each starts and stops in the text, and how many lines
        # the runs up to it took out of the output (each leaves its pointer's one line)
        self._starts: list[int] = []
        self._stops: list[int] = []
        self._removed: list[int] = []

    def take(self, stop: int) -> None:
        """Copy the text's lines from where the output stands to ``stop``: none of them is in a run."""
        start = self.taken
        if stop > start:
            text = self.text
            self.lines += text.lines[start:stop]
            self.keys += text.keys[start:stop]
            self.wholes += text.wholes[start:stop]
            self.numbers += text.numbers[start:stop]
            self.taken = stop

    def replace(self, run: Run) -> None:
        """The lines before ``run``, then its pointer in place of its lines."""
        self.take(run.start)
        self.lines.append(run.pointer)
        self.keys.append(GAP)
        self.wholes.append(GAP)
        self.numbers.append(NO_NUMBER)
        self.taken = run.start + run.length
        self._starts.append(run.start)
        self._stops.append(self.taken)
        self._removed.append((self._removed[-1] if self._removed else 0) + run.length - 1)

    def earlier(self, key: int, line: int) -> list[int]:
        """Where the text's lines before ``line`` that hold content ``key`` stand in the output
        (none in a run replaced), the latest first, at most ``CANDIDATES``; none when the output
        is not ``pointable``."""
        found = self.text.places()[1].get(key) if self.pointable else None
        if not found:
            return []  # a hash on one line of the text: that line is ``line`` itself
        starts, stops, removed = self._starts, self._stops, self._removed
        out: list[int] = []
        for place in reversed(found[:bisect_left(found, line)]):
            run = bisect_right(starts, place) - 1
            if run >= 0:
                if place < stops[run]:
                    continue  # replaced by that run's pointer
                place -= removed[run]
            out.append(place)
            if len(out) == CANDIDATES:
                break
        return out


Worth = Callable[[Lines, Run, str], int]


def find_runs(lines: Lines, index: LineIndex, limit: int, sent: SentLines, worth: Worth,
              keep: frozenset[int] = frozenset()) -> list[Run]:
    """The runs worth a pointer (``worth``: the tokens it saves, 0 if too few), in order, none of
    them over a line in ``keep``; ``sent`` ends as the lines that go out (a pointer's as ``GAP``),
    or is left empty when there is none.

    Only a line whose content stands in the index or on another line of the text, and whose next
    lines a run needs do too, can start a run: the scan stops at those alone, and the output is
    copied over between them (``SentLines``)."""
    table = index.table
    starts, repeated = lines.starts()
    hot = (table.keys() & starts) | repeated
    if not hot:
        return []
    keys, total = lines.keys, len(lines.keys)
    # a function of the text and ``hot``: a conversation read cold asks it again every turn
    scan = lines.scan
    if scan is None or scan[0] != hot:
        scan = lines.scan = (frozenset(hot), _followed(lines, hot))
    runs: list[Run] = []
    kept = tuple(sorted(keep))
    line = 0  # the first line not yet passed: a run replaced moves it to the run's end
    for start in scan[1]:
        if start < line or start in keep:
            continue  # inside a run replaced, or a line no run may cover
        key = keys[start]
        mine = sent.earlier(key, start) if key in repeated else []
        if key not in table and not mine:
            continue
        run = _longest(lines, start, index, limit, sent, kept, mine)
        if run is not None:
            run = _replacing(lines, run, sent, worth)
            if run is not None:
                runs.append(run)
                sent.replace(run)
                line = start + run.length
    if runs:
        sent.take(total)
    return runs


def _followed(lines: Lines, hot: AbstractSet[int]) -> list[int]:
    """The lines a run may start at, in order: those whose content hash is ``hot`` (stands in the
    index or on another line of the text) and whose next lines a run needs (``MIN_LINES``, three)
    are hot too, or trivial and indexed nowhere. None (most outputs): no run, no ``sent``."""
    keys, total = lines.keys, len(lines.keys)
    # the lines whose hashes are hot, found from the hashes (most lines of an output are not hot):
    # those of one line of the text, and every line of those on more (all of them hot)
    single, multi = lines.places()
    places = [number for number in map(single.get, hot) if number is not None]
    for numbers_of in multi.values():
        places += numbers_of
    placed = set(places)
    return sorted(number for number in places if number + MIN_LINES <= total
                  and (number + 1 in placed or not keys[number + 1] & 1)
                  and (number + 2 in placed or not keys[number + 2] & 1))


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
             kept: tuple[int, ...], mine: list[int]) -> Run | None:
    """The longest run from ``line`` at the latest places its content stands (those
    ``index.candidates`` names, then ``mine``: earlier in the same output, latest first), the
    first of equal ones; None when none is ``MIN_LINES`` long."""
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
    # the best so far as (length, source, line there, verbatim): a Run is made for the winner only
    best: _Best = (MIN_LINES - 1, None, 0, True)  # a stand-in no run is shorter than
    # both comparisons need equal content: a place whose next two lines differ is no run
    for source, at in index.candidates(key, limit, (keys[line + 1], third_key)):
        best = _better(lines, line, reach, source, source, at, best)
    if mine:
        sent.take(line)  # the output up to this line: what a run here may point back to
        for at in mine:
            if at + MIN_LINES - 1 < len(sent.keys) and sent.keys[at + MIN_LINES - 1] == third_key:
                best = _better(lines, line, reach, None, sent, at, best)
    return Run(line, *best) if best[0] >= MIN_LINES else None


_Best = tuple[int, "Source | None", int, bool]


def _better(lines: Lines, line: int, reach: int, source: Source | None, other: Source | SentLines, at: int,
            best: _Best) -> _Best:
    """The run from ``line`` at line ``at`` of ``other`` (``source``, or the output itself when
    that is None), compared whole, then renumbered, when longer than ``best``; else ``best``."""
    stop = min(reach, len(other.keys) - at)
    length = _common(lines.wholes, line, other.wholes, at, stop)  # whole lines (a pointer's GAP equals none)
    if length > best[0]:
        best = (length, source, at, True)
    if lines.numbers[line] != NO_NUMBER or other.numbers[at] != NO_NUMBER:
        length = _renumbered(lines, line, other, at, stop)
        if length > best[0]:
            best = (length, source, at, False)
    return best


def _common(mine: array[int], line: int, theirs: array[int], at: int, stop: int) -> int:
    """How many of the ``stop`` hashes from ``line`` equal those of ``theirs`` from ``at`` (the
    text's own hashes are never ``GAP``, so a pointer's line equals none of them): one by
    one for the first few (most runs are short), then in doubling slices compared in C, halved
    where one differs (a file viewed again is one long run)."""
    length = 0
    while length < stop and length < _BY_HAND:
        if theirs[at + length] != mine[line + length]:
            return length
        length += 1
    step = _BY_HAND
    while length < stop:
        end = min(stop, length + step)
        if mine[line + length:line + end] != theirs[at + length:at + end]:
            while end - length > _BY_HAND:  # the first difference is in [length, end)
                middle = (length + end) // 2
                if mine[line + length:line + middle] == theirs[at + length:at + middle]:
                    length = middle
                else:
                    end = middle
            while theirs[at + length] == mine[line + length]:
                length += 1
            return length
        length, step = end, step * 2
    return length


_BY_HAND = 8


def _renumbered(lines: Lines, line: int, other: Source | SentLines, at: int, stop: int) -> int:
    """How many of the ``stop`` lines from ``line`` equal those of ``other`` from ``at`` in what
    follows their line numbers, the numbers on each side counting up one a line."""
    my_numbers, their_numbers = lines.numbers, other.numbers
    my_first, their_first = my_numbers[line], their_numbers[at]
    if my_first == their_first == NO_NUMBER:
        return 0  # no prefix on either side: the verbatim comparison says it all
    # each condition holds on a prefix of the lines: the run is the shortest of the three
    length = _common(lines.keys, line, other.keys, at, stop)
    length = _counting(my_numbers, line, my_first, length)
    return _counting(their_numbers, at, their_first, length)


def _counting(numbers: array[int], start: int, first: int, stop: int) -> int:
    """How many of the ``stop`` numbers from ``start`` continue ``first`` (``_counts``): compared
    whole in C first, as a renumbered run's numbers mostly count up all the way."""
    if stop > _BY_HAND:
        window = numbers[start:start + stop]
        if window.count(NO_NUMBER) == stop if first == NO_NUMBER else window == array("q", range(first, first + stop)):
            return stop
    length = 0
    while length < stop and _counts(numbers[start + length], first, length):
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
