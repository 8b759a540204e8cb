"""Runs of lines that say the same thing at other times: a retry loop, a poller, a health check.

Two lines are *similar* when they are equal once their timestamps, clock times, hex addresses,
UUIDs, long hex ids and fractional numbers are masked (``template``); whole numbers, words and
short ids still count, so ``FAILED test_x[1]`` and ``FAILED test_x[2]`` or ``status 200`` and
``status 500`` are never similar. In a run of ``DEFAULT_MIN_RUN`` or more similar lines (blank
lines between them belong to the run) the first and the last are kept byte for byte and the rest
become one marker line saying how many were omitted and how they differed. A line holding a term
of the context the block answers (``pipeline.focus``: a request id the question names) never
joins a run.

``similar_runs`` is shared with the log compressor; ``RepeatFolder`` applies it alone to plain-text
tool output (``ContentType.TEXT``), which has no compressor of its own until Kompress.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..pipeline.contract import BlockInputs, FocusedCompressor
from ..pipeline.focus import relevant

__all__ = [
    "RepeatFolder", "similar_runs", "template", "marker", "SIMILAR", "DEFAULT_MIN_RUN", "DEFAULT_MIN_LINES",
    "DEFAULT_MAX_RELEVANT",
]

DEFAULT_MIN_RUN = 4       # similar lines in a run before it is folded (so at least two are omitted)
DEFAULT_MIN_LINES = 8     # shorter text is left alone
DEFAULT_MAX_RELEVANT = 20  # lines holding a term of the block's context, never folded
_MIN_TEMPLATE_CHARS = 8   # "}", "--" and other short structure lines never form runs

_VARYING = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"  # dates, ISO times
    r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?"                                                    # clock times
    r"|\b0x[0-9a-fA-F]+\b"                                                                   # addresses
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"      # UUIDs
    r"|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"                        # hex ids
    r"|(?<![\w.])\d+\.\d+(?![\d.])"                                                            # durations
    r"|\b\d{10,}\b")                                                                         # epoch stamps
_MASK = "\x00"
# Every character a _VARYING match can hold. Lines whose text outside these differs cannot share
# a template, so similar_runs compares that (a fast bytes.translate) before masking anything.
_MASKABLE = b"0123456789abcdefABCDEF-xTZ:.,+ "
# How omitted similar lines differ from the kept ones, in every marker that counts them.
SIMILAR = "like the lines around them but for times, addresses and ids"


def template(line: str) -> str:
    """The line with its times, addresses and ids masked: similar lines share a template."""
    return _VARYING.sub(_MASK, line.rstrip())


def similar_runs(lines: list[str], *, min_run: int = DEFAULT_MIN_RUN,
                 exclude: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, int, int]]:
    """``(first, last, similar)`` for each foldable run: keep ``lines[first]`` and ``lines[last]``,
    omit what lies between (``similar`` lines of the run and any blank lines among them).
    Lines in ``exclude`` never join a run."""
    runs: list[tuple[int, int, int]] = []
    first = last = -1
    count = 0
    current = rest = None   # the run's template (made when first needed) and its unmaskable rest
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        line_rest = None if index in exclude else _unmaskable(line)
        if line_rest is not None and line_rest == rest:
            if current is None:
                current = template(lines[first])
            if template(line) == current and len(current) >= _MIN_TEMPLATE_CHARS:
                last, count = index, count + 1
                continue
        if count >= min_run:
            runs.append((first, last, count))
        first = last = index
        count, current, rest = 1, None, line_rest
    if count >= min_run:
        runs.append((first, last, count))
    return runs


def _unmaskable(line: str) -> bytes:
    """What of the line no _VARYING match can cover: equal for any two lines of one template."""
    return line.rstrip().encode("utf-8", "surrogatepass").translate(None, _MASKABLE)


def marker(omitted: int) -> str:
    return (f"[trimwire: {omitted} similar {'line' if omitted == 1 else 'lines'} omitted"
            f" ({SIMILAR})]")


class RepeatFolder(FocusedCompressor):
    """Folds runs of similar lines in plain-text tool output; changes nothing else."""

    name = "repeats"
    then = None  # its output is not offered on

    def __init__(self, *, min_run: int = DEFAULT_MIN_RUN, min_lines: int = DEFAULT_MIN_LINES,
                 max_relevant: int = DEFAULT_MAX_RELEVANT) -> None:
        self.min_run = min_run
        self.min_lines = min_lines
        self.max_relevant = max_relevant

    def applies(self, block: BlockInputs) -> bool:
        return block.text.count("\n") >= self.min_lines


    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """As ``compress``; lines that hold a term of the block's context are never folded."""
        lines = text.split("\n")
        wanted = set(relevant(text.lower(), terms, self.max_relevant)) if terms else set()
        runs = similar_runs(lines, min_run=self.min_run, exclude=wanted)
        if not runs:
            return None
        out: list[str] = []
        position = 0
        for first, last, similar in runs:
            out.extend(lines[position:first + 1])
            out.append(marker(similar - 2))
            position = last
        out.extend(lines[position:])
        folded = "\n".join(out)
        return folded if len(folded) < len(text) else None  # short lines: a marker can cost more
