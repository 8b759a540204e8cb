"""Column-aligned tables (``kubectl get``, ``oc get``, ``docker ps``, ``helm list``) cut to the rows
that matter.

A table is an upper-case header line and rows that keep to its column starts
(``router.table_columns``); blank lines separate tables, as in ``kubectl get all``. A table with
more than ``DEFAULT_MAX_ROWS`` rows keeps its header, its first ``DEFAULT_HEAD_ROWS`` and last
``DEFAULT_TAIL_ROWS`` rows, up to ``DEFAULT_MAX_RELEVANT`` rows holding a term of the context the
block answers (a pod or image the question or the call names: ``pipeline.focus``) and up to
``DEFAULT_MAX_FLAGGED`` rows that stand out, judged by the
same rules as long JSON arrays (``_json_signals``: an error-like or rare value in a status-like
column such as STATUS, READY or REASON, a number far from the rest, a cell empty where the others
are filled). Kept rows are byte for byte. Each run of omitted rows becomes one marker line that
counts them by the value of the table's first status-like column, e.g.
``[trimwire: 212 rows omitted (STATUS: 210 Running, 2 Completed)]``.

A table of any length (at least ``_MIN_SHARED_ROWS`` rows) whose columns but the first hold one
value on every row (kubectl's ``NOMINATED NODE`` and ``READINESS GATES``: ``<none>``) says them
once, in one marker above the header, and leaves them out of the header and the rows, e.g.
``[trimwire: the same on every row of the table below, so left out: NOMINATED NODE "<none>"]``,
when that removes ``_SHARED_SAVING`` times the marker's characters. Lossless: the rest of each
row keeps its bytes and alignment.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..pipeline.contract import BlockInputs, FocusedCompressor
from ..pipeline.focus import relevant
from ..pipeline.shapes import fits_columns, table_columns
from ._json_signals import RawNumber, flagged_items

__all__ = ["TableCompressor", "DEFAULT_MAX_ROWS", "DEFAULT_HEAD_ROWS", "DEFAULT_TAIL_ROWS", "DEFAULT_MAX_FLAGGED",
           "DEFAULT_MAX_RELEVANT"]

DEFAULT_MAX_ROWS = 30       # tables with at most this many rows are left whole
DEFAULT_HEAD_ROWS = 5
DEFAULT_TAIL_ROWS = 3
DEFAULT_MAX_FLAGGED = 40    # rows that stand out, kept beyond head and tail
DEFAULT_MAX_RELEVANT = 20   # rows holding a term of the block's context (a pod name), kept too

# The column omitted rows are counted by: the first of these the table has.
_STATUS_COLUMNS = ("STATUS", "STATE", "PHASE", "HEALTH", "CONDITION", "CONDITIONS", "RESULT", "READY", "REASON", "TYPE")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_MAX_VALUES_NAMED = 4
# A column that holds one value on every row of a table of at least _MIN_SHARED_ROWS rows is said
# once above it, when that removes _SHARED_SAVING times the marker's characters.
_MIN_SHARED_ROWS = 4
_SHARED_SAVING = 1.5


class TableCompressor(FocusedCompressor):
    name = "table"
    then = None  # its output is not offered on

    def __init__(self, *, max_rows: int = DEFAULT_MAX_ROWS, head_rows: int = DEFAULT_HEAD_ROWS,
                 tail_rows: int = DEFAULT_TAIL_ROWS, max_flagged: int = DEFAULT_MAX_FLAGGED,
                 max_relevant: int = DEFAULT_MAX_RELEVANT) -> None:
        if head_rows + tail_rows > max_rows:
            raise ValueError("head_rows + tail_rows must not exceed max_rows")
        self.max_rows = max_rows
        self.head_rows = head_rows
        self.tail_rows = tail_rows
        self.max_flagged = max_flagged
        self.max_relevant = max_relevant

    def applies(self, block: BlockInputs) -> bool:
        return True  # the router decided the type


    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """As ``compress``; rows that hold a term of the block's context are kept first."""
        out: list[str] = []
        changed = False
        for section in _sections(text.split("\n")):
            kept = self._table(section, terms)
            changed = changed or kept is not None
            out.extend(section if kept is None else kept)
        return "\n".join(out) if changed else None

    def _table(self, lines: list[str], terms: Sequence[str]) -> list[str] | None:
        """The section cut down and its shared columns said once, or None when it is not a table
        whose rows all fit, or is neither long nor holding a column worth saying once."""
        starts = table_columns(lines[0].rstrip()) if lines else None
        rows = lines[1:]
        if starts is None or len(rows) < _MIN_SHARED_ROWS or not all(fits_columns(row, starts) for row in rows):
            return None
        spans = list(zip(starts, [*starts[1:], None]))
        names = [lines[0][start:end].strip() for start, end in spans]
        cells = [_cells(row, starts, names) for row in rows]
        shared = _shared_columns(rows, spans)
        said = _shared_marker(shared, names, rows[0], spans) if shared else ""
        if _width(rows, spans, shared) * len(rows) < _SHARED_SAVING * len(said):
            shared, said = [], ""  # the marker would cost about what it saves
        if len(rows) <= self.max_rows and not shared:
            return None
        kept = range(len(rows)) if len(rows) <= self.max_rows else self._kept(rows, cells, terms)
        status = next((name for name in _STATUS_COLUMNS if name in names), None)
        out = [said] if said else []
        out.append(_without(lines[0], spans, shared))
        omitted: list[int] = []
        for index, row in enumerate(rows):
            if index not in kept:
                omitted.append(index)
                continue
            if omitted:
                out.append(_marker(omitted, cells, status))
                omitted = []
            out.append(_without(row, spans, shared))
        return out

    def _kept(self, rows: list[str], cells: list[dict[str, object]], terms: Sequence[str]) -> set[int]:
        """The rows a long table keeps: head, tail, rows holding a context term, rows that stand out."""
        keep = set(range(self.head_rows)) | set(range(len(rows) - self.tail_rows, len(rows)))
        keep.update(relevant("\n".join(rows).lower() if terms else "", terms, self.max_relevant))
        keep.update(flagged_items(cells, self.max_flagged))
        # A marker costs about what one row does: a lone row between kept ones stays.
        keep.update(index for index in range(1, len(rows) - 1) if index - 1 in keep and index + 1 in keep)
        return keep


def _shared_columns(rows: list[str], spans: list[tuple[int, int | None]]) -> list[int]:
    """The columns but the first that hold one value on every row."""
    return [column for column, (start, end) in enumerate(spans)
            if column and len({row[start:end].strip() for row in rows}) == 1]


def _width(rows: list[str], spans: list[tuple[int, int | None]], columns: list[int]) -> int:
    """How many characters the ``columns`` take on a row (the last one to the longest row's end)."""
    return sum((end or max(map(len, rows))) - start for start, end in (spans[column] for column in columns))


def _without(line: str, spans: list[tuple[int, int | None]], shared: list[int]) -> str:
    """The line without the shared columns' spans (the rest keeps its alignment)."""
    if not shared:
        return line
    kept = "".join(line[start:end] for column, (start, end) in enumerate(spans) if column not in shared)
    return kept.rstrip() if len(spans) - 1 in shared else kept  # the padding before a dropped last column


def _shared_marker(shared: list[int], names: list[str], row: str, spans: list[tuple[int, int | None]]) -> str:
    said = ", ".join(f'{names[column]} "{row[slice(*spans[column])].strip()}"' for column in shared)
    return f"[trimwire: the same on every row of the table below, so left out: {said}]"


def _sections(lines: list[str]) -> list[list[str]]:
    """Runs of non-blank lines, each blank line a section of its own (kept as it is)."""
    sections: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
            continue
        if current:
            sections.append(current)
            current = []
        sections.append([line])
    if current:
        sections.append(current)
    return sections


def _cells(row: str, starts: list[int], names: list[str]) -> dict[str, object]:
    """One row as {column: value}; whole numbers and decimals as numbers, for outlier checks."""
    values = [row[start:end].strip() for start, end in zip(starts, [*starts[1:], None])]
    return {name: RawNumber(value) if _NUMBER.match(value) else value for name, value in zip(names, values)}


def _marker(omitted: list[int], cells: list[dict[str, object]], status: str | None) -> str:
    noun = "row" if len(omitted) == 1 else "rows"
    if status is None:
        return f"[trimwire: {len(omitted)} {noun} omitted]"
    counts = Counter(str(cells[index].get(status, "")) or "(empty)" for index in omitted).most_common()
    named = ", ".join(f"{count} {value}" for value, count in counts[:_MAX_VALUES_NAMED])
    others = sum(count for _, count in counts[_MAX_VALUES_NAMED:])
    if others:
        named += f", {others} other"
    return f"[trimwire: {len(omitted)} {noun} omitted ({status}: {named})]"
