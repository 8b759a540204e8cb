"""grep / ripgrep output capped per file and overall, each file's path said once.

Reads ``path:line:text`` and ``path:line:col:text`` hits, grep ``-r`` hits without line numbers
(``dir/file.py:text``), grep ``-C`` context lines (``path-line-text``) and ``--`` separators,
ripgrep's ``--heading`` layout (a path line, then ``line:text`` lines, a blank line between
files) and path-less ``line:text`` output of a single-file grep. Hits are grouped by file in
order of first appearance; the first ``DEFAULT_MAX_FILES`` files keep their first hits each
(context lines go with the hit nearest to them): ``DEFAULT_MAX_MATCHES_PER_FILE`` hits, or an
equal share of ``DEFAULT_MAX_TOTAL_MATCHES`` when that is more, so a search that hit few files
keeps more of each. A kept line is never renumbered and its text stays exact; a run of two or
more kept lines of one file goes out in ripgrep's ``--heading`` layout (the path once, on its
own line, above ``12:text`` and ``13-text``), a file with one kept line keeps its ``path:12:``
prefix. Hits holding a term of the context the block answers (a path or test id the question or
the call names: ``pipeline.focus``) are kept past both caps, up to ``DEFAULT_MAX_RELEVANT``.

Each file that lost hits gets one marker after its last kept line, e.g.
``[trimwire: 35 more matches in src/app/models.py omitted]``, and files dropped whole get one
marker at the end naming them with their hit counts. Lines that are not hits (``Binary file x
matches``, a count, a warning) are kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..pipeline.contract import BlockInputs, FocusedCompressor
from ..pipeline.focus import relevant
from ..pipeline.shapes import SEARCH_HIT, SEARCH_PATH_HIT

__all__ = [
    "SearchCompressor", "DEFAULT_MAX_FILES", "DEFAULT_MAX_MATCHES_PER_FILE", "DEFAULT_MAX_TOTAL_MATCHES",
    "DEFAULT_MAX_LISTED_FILES", "DEFAULT_MAX_RELEVANT",
]

DEFAULT_MAX_FILES = 20              # files whose hits are shown
DEFAULT_MAX_MATCHES_PER_FILE = 8    # hits shown per file at least
DEFAULT_MAX_TOTAL_MATCHES = 100     # shared out over the files shown when that gives each more
DEFAULT_MAX_LISTED_FILES = 30       # files named in the closing marker for files dropped whole
DEFAULT_MAX_RELEVANT = 20           # hits holding a term of the block's context, kept past the caps

_LINE_ONLY = re.compile(r"^(?P<line>\d+)(?P<sep>[:-])")
_CONTEXT_SPLIT = re.compile(r"-(\d+)-")
_MATCH, _CONTEXT, _HEADING, _SEPARATOR, _BLANK, _OTHER = "match", "context", "heading", "separator", "blank", "other"


@dataclass(slots=True)
class _Entry:
    kind: str
    path: str | None = None
    number: int = 0


class SearchCompressor(FocusedCompressor):
    name = "search"
    then = None  # its output is not offered on

    def __init__(self, *, max_files: int = DEFAULT_MAX_FILES, max_matches_per_file: int = DEFAULT_MAX_MATCHES_PER_FILE,
                 max_total_matches: int = DEFAULT_MAX_TOTAL_MATCHES,
                 max_listed_files: int = DEFAULT_MAX_LISTED_FILES, max_relevant: int = DEFAULT_MAX_RELEVANT) -> None:
        self.max_files = max_files
        self.max_matches_per_file = max_matches_per_file
        self.max_total_matches = max_total_matches
        self.max_listed_files = max_listed_files
        self.max_relevant = max_relevant

    def applies(self, block: BlockInputs) -> bool:
        return True  # the router decided the type


    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """As ``compress``; hits that hold a term of the block's context are kept past the caps."""
        lines = text.split("\n")
        trailing_newline = len(lines) > 1 and lines[-1] == ""
        if trailing_newline:
            lines.pop()
        entries = _parse(lines)
        files = _files_in_order(entries)
        if not self._over_caps(entries, files):
            out = _grouped(lines, entries, [True] * len(lines))  # every line stays; paths said once
            result = "\n".join(out) + ("\n" if trailing_newline else "")
            return result if len(result) < len(text) else None
        # Hits naming what the question or the call names (a path, a test id) stay, beyond the caps.
        texts = "\n".join(line if entry.kind == _MATCH else "" for line, entry in zip(lines, entries)).lower()
        wanted = set(relevant(texts, terms, self.max_relevant)) if terms else set()
        kept_files = set(files[:self.max_files])
        keep = self._keep(entries, kept_files, set(files), wanted)
        out = _render(lines, entries, keep)
        dropped_files = [path for path in files[self.max_files:] if not any(
            keep[index] for index in wanted if entries[index].path == path)]
        if dropped_files:
            out.append(self._closing_marker(entries, dropped_files))
        result = "\n".join(out) + ("\n" if trailing_newline else "")
        return result if len(result) < len(text) else None

    def _per_file(self, files: int) -> int:
        """Hits each of ``files`` kept files may show: the total cap shared out, at least the per-file one."""
        return max(self.max_matches_per_file, self.max_total_matches // max(1, files))

    def _over_caps(self, entries: list[_Entry], files: list[str | None]) -> bool:
        """Too many files, or a file with more hits than ``_keep`` lets it show?"""
        if len(files) > self.max_files:
            return True
        per_file = self._per_file(len(files))
        hits: dict[str | None, int] = {}
        for entry in entries:
            if entry.kind == _MATCH:
                hits[entry.path] = hits.get(entry.path, 0) + 1
        return any(count > per_file for count in hits.values())

    def _keep(self, entries: list[_Entry], kept_files: set[str | None], hit_files: set[str | None],
              wanted: set[int]) -> list[bool]:
        """Whether each line is kept: capped hits and ``wanted`` ones, the context nearest them,
        headings, other lines. Context lines of no file with hits (``grep -A`` output whose hit
        fell outside it) stay."""
        wanted_files = {entries[index].path for index in wanted}
        keep = [entry.kind in (_OTHER, _SEPARATOR, _BLANK) or entry.path in kept_files
                or (entry.kind == _CONTEXT and entry.path not in hit_files)
                or (entry.kind == _HEADING and entry.path in wanted_files) for entry in entries]
        per_file = self._per_file(len(kept_files))
        shown: dict[str | None, int] = {}
        for index, entry in enumerate(entries):
            if entry.kind == _MATCH and entry.path in kept_files:
                shown[entry.path] = shown.get(entry.path, 0) + 1
                keep[index] = shown[entry.path] <= per_file or index in wanted
            elif entry.kind == _MATCH:
                keep[index] = index in wanted
        owners = _nearest_matches(entries)
        for index, entry in enumerate(entries):
            owner = owners[index]
            if entry.kind == _CONTEXT and keep[index]:
                keep[index] = owner is None or keep[owner]
        for index, entry in enumerate(entries):
            if entry.kind == _SEPARATOR:
                keep[index] = _kept_neighbours(entries, keep, index)
            elif entry.kind == _BLANK:
                keep[index] = _follows_kept_file(entries, kept_files, index)
        return keep

    def _closing_marker(self, entries: list[_Entry], dropped_files: list[str | None]) -> str:
        counts = {path: 0 for path in dropped_files}
        for entry in entries:
            if entry.kind == _MATCH and entry.path in counts:
                counts[entry.path] += 1
        listed = [f"{path} ({count})" for path, count in list(counts.items())[:self.max_listed_files]]
        more = len(dropped_files) - len(listed)
        names = ", ".join(listed) + (f" and {more} more" if more else "")
        total = sum(counts.values())
        return (f"[trimwire: {len(dropped_files)} more {_plural(len(dropped_files), 'file')} with "
                f"{total} {_plural(total, 'match', 'matches')} omitted: {names}]")


def _parse(lines: list[str]) -> list[_Entry]:
    """One entry per line: a hit, a context line, a ripgrep heading, a ``--`` separator or other."""
    hits = list(map(SEARCH_HIT.match, lines))  # each line matched once, read twice below
    numbers = list(map(_LINE_ONLY.match, lines))  # likewise: a line's own, and the next line's
    hit_paths = {m[1] for m in hits if m}  # groups by number (1: path, 2: line): cheaper than by name
    entries: list[_Entry] = []
    heading: str | None = None
    for index, line in enumerate(lines):
        numbered = numbers[index]
        match = hits[index]
        if match and not numbered:  # most lines: ``path:12:text``, never blank nor ``--``
            entries.append(_Entry(_MATCH, match[1], int(match[2])))
        elif not line or line.isspace():
            heading = None
            entries.append(_Entry(_BLANK))
        elif line == "--":
            entries.append(_Entry(_SEPARATOR))
        elif numbered and (heading is not None or not match):
            entries.append(_Entry(_MATCH if numbered[2] == ":" else _CONTEXT, heading, int(numbered[1])))
        elif match:
            entries.append(_Entry(_MATCH, match[1], int(match[2])))
        elif unnumbered := SEARCH_PATH_HIT.match(line):  # grep -r without -n
            entries.append(_Entry(_MATCH, unnumbered[1]))
        elif context := _context_of(line, hit_paths):
            entries.append(context)
        elif index + 1 < len(lines) and numbers[index + 1] and line[:1] not in (" ", "\t"):
            heading = line
            entries.append(_Entry(_HEADING, heading))
        else:
            entries.append(_Entry(_OTHER))
    return entries


def _context_of(line: str, hit_paths: set[str]) -> _Entry | None:
    """A grep -C context line ``path-12-text`` for a path that also has hits (the longest), or None."""
    entry = None
    for found in _CONTEXT_SPLIT.finditer(line):
        if line[:found.start()] in hit_paths:
            entry = _Entry(_CONTEXT, line[:found.start()], int(found.group(1)))
    return entry


def _files_in_order(entries: list[_Entry]) -> list[str | None]:
    files: dict[str | None, None] = {}
    for entry in entries:
        if entry.kind == _MATCH:
            files.setdefault(entry.path, None)
    return list(files)


def _nearest_matches(entries: list[_Entry]) -> list[int | None]:
    """For each context line, the hit of the same run whose line number is closest (earlier on ties)."""
    before = _adjacent_matches(entries, range(len(entries)))
    after = _adjacent_matches(entries, range(len(entries) - 1, -1, -1))
    owners: list[int | None] = [None] * len(entries)
    for index, entry in enumerate(entries):
        if entry.kind != _CONTEXT:
            continue
        near = [(abs(entries[j].number - entry.number), j) for j in (before[index], after[index]) if j is not None]
        owners[index] = min(near)[1] if near else None
    return owners


def _adjacent_matches(entries: list[_Entry], order: range) -> list[int | None]:
    """Walking in ``order``, the last hit seen in the current unbroken run of one file's lines."""
    found: list[int | None] = [None] * len(entries)
    last: int | None = None
    previous: _Entry | None = None
    for index in order:
        entry = entries[index]
        if entry.kind not in (_MATCH, _CONTEXT) or previous is None or previous.path != entry.path:
            last = None
        found[index] = last
        if entry.kind == _MATCH:
            last = index
        previous = entry if entry.kind in (_MATCH, _CONTEXT) else None
    return found


def _kept_neighbours(entries: list[_Entry], keep: list[bool], index: int) -> bool:
    """A ``--`` separator stays only between two kept lines."""
    before = next((keep[j] for j in range(index - 1, -1, -1) if entries[j].kind != _SEPARATOR), False)
    after = next((keep[j] for j in range(index + 1, len(entries)) if entries[j].kind != _SEPARATOR), False)
    return before and after


def _follows_kept_file(entries: list[_Entry], kept_files: set[str | None], index: int) -> bool:
    """A blank line stays unless it closes a file dropped whole (ripgrep's gap between files)."""
    before = next((entries[j] for j in range(index - 1, -1, -1) if entries[j].kind != _BLANK), None)
    return before is None or before.kind in (_OTHER, _SEPARATOR) or before.path in kept_files


def _render(lines: list[str], entries: list[_Entry], keep: list[bool]) -> list[str]:
    """Kept lines in order, and after each kept file's last kept line a marker for what it lost."""
    omitted: dict[str | None, list[int]] = {}
    last_kept: dict[str | None, int] = {}
    for index, (entry, kept) in enumerate(zip(entries, keep)):
        if entry.kind in (_MATCH, _CONTEXT):
            if kept:
                last_kept[entry.path] = index
            else:
                counts = omitted.setdefault(entry.path, [0, 0])
                counts[entry.kind == _CONTEXT] += 1
    out: list[str] = []
    grouped = _grouped(lines, entries, keep)
    for index, kept in enumerate(keep):
        if kept:
            out.append(grouped[index])
        path = entries[index].path
        if kept and last_kept.get(path) == index and path in omitted:
            out.append(_file_marker(path, *omitted[path]))
    return out


def _grouped(lines: list[str], entries: list[_Entry], keep: list[bool]) -> list[str]:
    """The lines with each file's path said once: a run of at least two kept hits and context
    lines of one file (``--`` separators between them) goes out as ripgrep's ``--heading``
    layout, the path on a line of its own above ``12:text`` and ``13-text`` lines. Nothing else
    changes; a line keeps its place (a heading goes out with the line it heads, as one entry)."""
    out = list(lines)
    heading: str | None = None
    for index, (line, entry) in enumerate(zip(lines, entries)):
        if not keep[index] or entry.kind == _SEPARATOR:
            continue
        path = _prefix(line, entry)
        if path is None or (path != heading and not _run_continues(lines, entries, keep, index)):
            heading = None
            continue
        out[index] = line[len(path) + 1:] if path == heading else f"{path}\n{line[len(path) + 1:]}"
        heading = path
    return out


def _prefix(line: str, entry: _Entry) -> str | None:
    """The path a hit or context line starts with (``path:12:``, ``path-12-``, ``path:``), or None."""
    path = entry.path
    if entry.kind not in (_MATCH, _CONTEXT) or path is None or not line.startswith(path):
        return None
    return path if line[len(path):len(path) + 1] in (":", "-") else None


def _run_continues(lines: list[str], entries: list[_Entry], keep: list[bool], index: int) -> bool:
    """Is the next kept line after ``index`` (past ``--`` separators) a line of the same file?"""
    for later in range(index + 1, len(entries)):
        if keep[later] and entries[later].kind != _SEPARATOR:
            return _prefix(lines[later], entries[later]) == entries[index].path
    return False


def _file_marker(path: str | None, matches: int, context: int) -> str:
    where = f" in {path}" if path else ""
    extra = f" (and {context} context {_plural(context, 'line')})" if context else ""
    return f"[trimwire: {matches} more {_plural(matches, 'match', 'matches')}{extra}{where} omitted]"


def _plural(count: int, one: str, many: str | None = None) -> str:
    return one if count == 1 else (many or one + "s")
