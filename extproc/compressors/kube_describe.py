"""``kubectl describe`` output (pods, nodes, deployments, jobs) with its bulk folded, fields kept.

The content type ``kube_describe`` (declared in ``content_types.py``) is text whose first line is
``Name:`` followed by more of describe's section keys at the line start (``is_kube_describe``).
Every field line is kept byte for byte: names, images, states, reasons, messages, exit codes,
counts, timestamps. What folds is the bulk, each fold one ``[trimwire: ...]`` line saying what went:

* a Labels, Annotations, Node-Selectors or Tolerations list longer than ``max_entries`` keeps its
  first ``keep_entries`` entries and every entry holding a term of the block's context
  (``pipeline.focus``: a pod or label the question names), and one line counts the rest;
* a line of such a list longer than ``max_line_chars`` (a ``last-applied-configuration`` blob) is
  cut to its first ``cut_chars`` characters, unless it holds a context term;
* a table (a header over a rule of dashes: Events, Conditions, Non-terminated Pods, Allocated
  resources) longer than ``max_rows`` keeps its first ``head_rows`` and last ``tail_rows`` rows,
  every event that is not ``Normal``, rows holding a context term and rows that stand out
  (``_json_signals``); each run of omitted rows becomes one line counting them by reason (events)
  or by the first column (``[trimwire: 67 rows omitted (Namespace: 22 default, 19 mimir-test, ...)]``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..pipeline.contract import BlockInputs, FocusedCompressor
from ..pipeline.focus import relevant
from ..pipeline.router import Sample
from ._json_signals import flagged_items

__all__ = ["DescribeCompressor", "is_kube_describe"]

DEFAULT_MAX_ENTRIES = 6      # a label or annotation list with at most this many entries stays whole
DEFAULT_KEEP_ENTRIES = 3
DEFAULT_MAX_LINE_CHARS = 240
DEFAULT_CUT_CHARS = 120
DEFAULT_MAX_ROWS = 10        # a table with at most this many rows stays whole
DEFAULT_HEAD_ROWS = 3
DEFAULT_TAIL_ROWS = 2
DEFAULT_MAX_RELEVANT = 20    # rows or entries holding a context term, kept beyond the rest
_MAX_FLAGGED = 20
_MAX_VALUES_NAMED = 4

_NAME = re.compile(r"Name:\s+\S")
# Keys describe prints at the line start for the kinds agents describe most.
_SECTION_KEY = re.compile(
    r"(?:Namespace|Labels|Annotations|Events|Conditions|Status|CreationTimestamp|Selector|Containers|"
    r"Init Containers|Roles|Taints|Priority|Node|Start Time|Volumes|Capacity|Allocatable|Service Account|"
    r"Replicas|IP|IPs|Controlled By|QoS Class|Pod Template|StrategyType|Addresses|System Info|Type|"
    r"Parallelism|Completions|Pods Statuses):")
_MIN_KEYS = 3
_LIST = re.compile(r"( *)(Labels|Annotations|Node-Selectors|Tolerations):( +)\S")
_RULE = re.compile(r"( *)-{2,}(?: +-{2,})*\s*$")
_DASHES = re.compile(r"-+")


def is_kube_describe(sample: Sample) -> bool:
    """``Name:`` first, then at least ``_MIN_KEYS`` of describe's section keys in the sample."""
    lines = sample.lines
    if not lines or not _NAME.match(lines[0]):
        return False
    return sum(1 for line in lines[1:60] if _SECTION_KEY.match(line)) >= _MIN_KEYS


class DescribeCompressor(FocusedCompressor):
    name = "kube_describe"
    then = None  # its output is not offered on

    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES, keep_entries: int = DEFAULT_KEEP_ENTRIES,
                 max_line_chars: int = DEFAULT_MAX_LINE_CHARS, cut_chars: int = DEFAULT_CUT_CHARS,
                 max_rows: int = DEFAULT_MAX_ROWS, head_rows: int = DEFAULT_HEAD_ROWS,
                 tail_rows: int = DEFAULT_TAIL_ROWS, max_relevant: int = DEFAULT_MAX_RELEVANT) -> None:
        if keep_entries > max_entries or head_rows + tail_rows > max_rows or cut_chars > max_line_chars:
            raise ValueError("what is kept must not exceed what is left whole")
        self.max_entries = max_entries
        self.keep_entries = keep_entries
        self.max_line_chars = max_line_chars
        self.cut_chars = cut_chars
        self.max_rows = max_rows
        self.head_rows = head_rows
        self.tail_rows = tail_rows
        self.max_relevant = max_relevant

    def applies(self, block: BlockInputs) -> bool:
        return True  # the router decided the type; any describe output may hold bulk


    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """As ``compress``; entries and rows that hold a term of the block's context are kept."""
        lines = text.split("\n")
        out: list[str] = []
        index = 0
        while index < len(lines):
            line = lines[index]
            listed = _LIST.match(line)
            if listed is not None:
                end = _list_end(lines, index, listed.end() - 1)
                out.extend(self._list(lines[index:end], listed.end() - 1, listed.group(2), terms))
            elif index + 1 < len(lines) and line.strip() and _is_rule_under(lines[index + 1], line):
                end = _table_end(lines, index + 2, _indent(line))
                out.extend(self._table(lines[index:end], terms))
            else:
                out.append(line)
                end = index + 1
            index = end
        new_text = "\n".join(out)
        return new_text if new_text != text else None

    def _list(self, lines: list[str], column: int, key: str, terms: Sequence[str]) -> list[str]:
        """A key's list of entries (each an entry line at ``column`` and any deeper lines under it)."""
        entries: list[list[str]] = []
        for line in lines:
            if not entries or line[column] != " ":
                entries.append([])
            entries[-1].append(line)
        wanted = relevant("\n".join(" ".join(entry) for entry in entries).lower() if terms else "",
                          terms, self.max_relevant)
        keep = set(range(self.keep_entries)) | set(wanted) if len(entries) > self.max_entries else None
        out: list[str] = []
        for number, entry in enumerate(entries):
            if keep is None or number in keep:
                out.extend(self._cut(line, terms) for line in entry)
        omitted = len(entries) - len(keep) if keep is not None else 0
        if omitted > 0:
            out.append(f"{' ' * column}[trimwire: {omitted} more {key.lower()} omitted]")
        return out

    def _cut(self, line: str, terms: Sequence[str]) -> str:
        """A list line shortened to ``cut_chars`` when it is a blob longer than ``max_line_chars``."""
        if len(line) <= self.max_line_chars or any(term in line.lower() for term in terms):
            return line
        return f"{line[:self.cut_chars]} [trimwire: {len(line) - self.cut_chars} more characters omitted]"

    def _table(self, lines: list[str], terms: Sequence[str]) -> list[str]:
        """A header, its rule and rows; rows beyond ``max_rows`` folded to what matters."""
        rows = lines[2:]
        if len(rows) <= self.max_rows:
            return lines
        cells = _cells(lines[0], lines[1], rows)
        events = "Type" in cells[0] and "Reason" in cells[0]
        keep = set(range(self.head_rows)) | set(range(len(rows) - self.tail_rows, len(rows)))
        keep.update(relevant("\n".join(rows).lower() if terms else "", terms, self.max_relevant))
        keep.update(flagged_items(cells, _MAX_FLAGGED))
        if events:
            keep.update(number for number, row in enumerate(cells) if row.get("Type") != "Normal")
        # A marker costs about what one row does: a lone row between kept ones stays.
        keep.update(number for number in range(1, len(rows) - 1) if number - 1 in keep and number + 1 in keep)
        column = "Reason" if events else next(iter(cells[0]), "")
        out = lines[:2]
        omitted: list[int] = []
        for number, row in enumerate(rows):
            if number not in keep:
                omitted.append(number)
                continue
            if omitted:
                out.append(_marker(_indent(lines[0]), omitted, cells, column, events))
                omitted = []
            out.append(row)
        if omitted:
            out.append(_marker(_indent(lines[0]), omitted, cells, column, events))
        return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_rule_under(rule: str, header: str) -> bool:
    return _RULE.match(rule) is not None and _indent(rule) == _indent(header)


def _list_end(lines: list[str], start: int, column: int) -> int:
    """Where a list that starts at ``start`` ends: at the first line not indented to ``column``."""
    end = start + 1
    while end < len(lines) and len(lines[end]) > column and lines[end][:column].isspace():
        end += 1
    return end


def _table_end(lines: list[str], start: int, indent: int) -> int:
    """Where a table's rows end: at a blank line or a line less indented than its header."""
    end = start
    while end < len(lines) and lines[end].strip() and _indent(lines[end]) >= indent:
        end += 1
    return end


def _cells(header: str, rule: str, rows: list[str]) -> list[dict[str, object]]:
    """Each row as {column: value}, the columns cut where the rule's runs of dashes start."""
    starts = [match.start() for match in _DASHES.finditer(rule)]
    bounds = list(zip(starts, [*starts[1:], None]))
    names = [header[start:end].strip() for start, end in bounds]
    return [{name: row[start:end].strip() for name, (start, end) in zip(names, bounds)} for row in rows]


def _marker(indent: int, omitted: list[int], cells: list[dict[str, object]], column: str, events: bool) -> str:
    noun = ("Normal event" if events else "row") + ("" if len(omitted) == 1 else "s")
    counts = Counter(str(cells[number].get(column, "")) or "(empty)" for number in omitted).most_common()
    named = ", ".join(f"{count} {value}" for value, count in counts[:_MAX_VALUES_NAMED])
    others = sum(count for _, count in counts[_MAX_VALUES_NAMED:])
    if others:
        named += f", {others} other"
    return f"{' ' * indent}[trimwire: {len(omitted)} {noun} omitted ({column}: {named})]"
