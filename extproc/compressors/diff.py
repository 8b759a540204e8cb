"""Unified diffs (git diff, git show, diff -u) with unchanged context trimmed and huge files capped.

Kept as they were: every line outside hunks (commit headers, ``diff --git``, ``index``,
``---``/``+++``, mode and rename lines), every hunk header, every added and removed line and
every ``\\ No newline at end of file``. Unchanged context lines are trimmed to
``DEFAULT_CONTEXT_LINES`` around each change; a run is trimmed only when that drops at least
``DEFAULT_MIN_GAP`` lines, or two or more that hold over 1.5 times the marker's characters (git's
three lines of context at a hunk's edge leave two to drop: short ones stay), and the dropped run
becomes one marker in its place, e.g.
``[trimwire: 7 unchanged lines omitted]``, so line positions can still be counted. Hunk line
counts come from the hunk header, so a removed line that reads ``--- x`` is never taken for a file
header.

A file whose diff body is still longer than ``DEFAULT_MAX_FILE_LINES`` lines (or
``DEFAULT_GENERATED_FILE_LINES`` for lockfiles and minified or generated files) keeps its first
lines and one marker naming the file and what was cut, e.g.
``[trimwire: 1843 more diff lines of package-lock.json omitted (12 hunks, 1790 added, 41 removed, 12 unchanged)]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatch

from ..pipeline.contract import BlockInputs, Budget

__all__ = [
    "DiffCompressor", "DEFAULT_CONTEXT_LINES", "DEFAULT_MIN_GAP", "DEFAULT_MAX_FILE_LINES",
    "DEFAULT_GENERATED_FILE_LINES", "DEFAULT_GENERATED_FILES",
]

DEFAULT_CONTEXT_LINES = 1
DEFAULT_MIN_GAP = 3                 # dropping fewer unchanged lines than this is not worth a marker,
_LONG_RUN = 1.5                     # unless they hold this many times the marker's characters
DEFAULT_MAX_FILE_LINES = 300        # diff body lines shown per file
DEFAULT_GENERATED_FILE_LINES = 20   # the same for lockfiles and generated files
DEFAULT_GENERATED_FILES = (
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock",
    "Pipfile.lock", "uv.lock", "go.sum", "composer.lock", "Gemfile.lock", "*.min.js", "*.min.css", "*.map",
)

_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@")
_GIT_HEADER = re.compile(r"^diff --git (?:\"?a/)?(?P<a>.+?)\"? (?:\"?b/)?(?P<b>.+?)\"?$")
_HEADER, _HUNK_HEADER, _ADDED, _REMOVED, _CONTEXT, _NOTE, _MARKER = "header", "hunk", "+", "-", " ", "\\", "marker"


@dataclass(slots=True)
class _Line:
    kind: str
    text: str
    hidden: int = 0      # for a marker: how many unchanged lines it stands for


@dataclass(slots=True)
class _File:
    path: str | None
    head: list[_Line]    # lines before the first hunk: preamble or file headers
    body: list[_Line]    # hunk headers and hunk lines


class DiffCompressor:
    name = "diff"
    then = None  # its output is not offered on

    def __init__(self, *, context_lines: int = DEFAULT_CONTEXT_LINES, min_gap: int = DEFAULT_MIN_GAP,
                 max_file_lines: int = DEFAULT_MAX_FILE_LINES, generated_file_lines: int = DEFAULT_GENERATED_FILE_LINES,
                 generated_files: tuple[str, ...] = DEFAULT_GENERATED_FILES) -> None:
        self.context_lines = context_lines
        self.min_gap = max(1, min_gap)
        self.max_file_lines = max_file_lines
        self.generated_file_lines = generated_file_lines
        self.generated_files = generated_files

    def applies(self, block: BlockInputs) -> bool:
        return True  # the router decided the type

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        out: list[str] = []
        for section in _parse(text.split("\n")):
            body = self._cap(section.path, _trim(section.body, self.context_lines, self.min_gap))
            out.extend(line.text for line in section.head)
            out.extend(line.text for line in body)
        result = "\n".join(out)
        return result if len(result) < len(text) else None

    def _cap(self, path: str | None, body: list[_Line]) -> list[_Line]:
        """``body`` cut to this file's line cap, with one marker for the rest."""
        name = (path or "").rsplit("/", 1)[-1]
        generated = any(fnmatch(name, pattern) for pattern in self.generated_files)
        cap = self.generated_file_lines if generated else self.max_file_lines
        if len(body) <= cap:
            return body
        rest = body[cap:]
        hunks = sum(line.kind == _HUNK_HEADER for line in rest)
        added = sum(line.kind == _ADDED for line in rest)
        removed = sum(line.kind == _REMOVED for line in rest)
        unchanged = sum(1 if line.kind == _CONTEXT else line.hidden for line in rest)
        total = len([line for line in rest if line.kind != _MARKER]) + sum(line.hidden for line in rest)
        where = f" of {path}" if path else ""
        counts = f"{hunks} {_plural(hunks, 'hunk')}, {added} added, {removed} removed, {unchanged} unchanged"
        return body[:cap] + [_Line(_MARKER, f"[trimwire: {total} more diff lines{where} omitted ({counts})]")]


def _parse(lines: list[str]) -> list[_File]:
    """Split a diff into per-file sections, following hunk line counts to find where hunks end."""
    files = [_File(None, [], [])]
    old = new = 0
    for line in lines:
        if old > 0 or new > 0:
            kind = line[:1] if line[:1] in (_ADDED, _REMOVED, _CONTEXT, _NOTE) else _CONTEXT
            old -= kind in (_REMOVED, _CONTEXT)
            new -= kind in (_ADDED, _CONTEXT)
            files[-1].body.append(_Line(kind, line))
            continue
        hunk = _HUNK.match(line)
        current = files[-1]
        if hunk:
            old, new = int(hunk.group("old") or 1), int(hunk.group("new") or 1)
            current.body.append(_Line(_HUNK_HEADER, line))
        elif line.startswith("\\") and current.body:
            current.body.append(_Line(_NOTE, line))
        elif line.startswith("diff ") or current.body:
            # A line outside hunks after a file's hunks starts the next section (git log -p puts
            # commit headers there), so a per-file cap never hides it.
            files.append(_File(_path_of(line), [_Line(_HEADER, line)], []))
        else:
            if line.startswith(("--- ", "+++ ")):
                current.path = _path_of(line) or current.path
            current.head.append(_Line(_HEADER, line))
    return files


def _path_of(line: str) -> str | None:
    """The file a ``diff --git``, ``---`` or ``+++`` line names (None for /dev/null)."""
    git = _GIT_HEADER.match(line)
    if git:
        return git.group("b")
    if line.startswith(("--- ", "+++ ")):
        path = line[4:].split("\t", 1)[0].strip()
        if path == "/dev/null":
            return None
        return path[2:] if path[:2] in ("a/", "b/") else path
    return None


def _trim(body: list[_Line], context: int, min_gap: int) -> list[_Line]:
    """Each run of unchanged lines cut to ``context`` lines next to a change, the rest a marker."""
    out: list[_Line] = []
    index = 0
    while index < len(body):
        if body[index].kind != _CONTEXT:
            out.append(body[index])
            index += 1
            continue
        end = index
        while end < len(body) and body[end].kind == _CONTEXT:
            end += 1
        changed_before = index > 0 and body[index - 1].kind in (_ADDED, _REMOVED, _NOTE)
        changed_after = end < len(body) and body[end].kind in (_ADDED, _REMOVED)
        head, tail = (context if changed_before else 0), (context if changed_after else 0)
        out.extend(_trim_run(body[index:end], head, tail, min_gap))
        index = end
    return out


def _trim_run(run: list[_Line], keep_head: int, keep_tail: int, min_gap: int) -> list[_Line]:
    dropped = len(run) - keep_head - keep_tail
    marker = _Line(_MARKER, f"[trimwire: {dropped} unchanged {_plural(dropped, 'line')} omitted]", dropped)
    if dropped < min_gap and not _outweighs(run[keep_head:len(run) - keep_tail], marker.text):
        return run
    return run[:keep_head] + [marker] + run[len(run) - keep_tail:]


def _outweighs(lines: list[_Line], marker: str) -> bool:
    """Are these (at least two) lines long enough that a marker in their place saves clearly?"""
    return len(lines) >= 2 and sum(len(line.text) + 1 for line in lines) > _LONG_RUN * len(marker)


def _plural(count: int, one: str) -> str:
    return one if count == 1 else one + "s"
