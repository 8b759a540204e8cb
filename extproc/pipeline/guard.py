"""The lines of a failed command's output that must reach the model byte for byte.

A tool result flagged as an error (``is_error``) or holding a traceback is released to the
compressor of its content type (``policy.py``) under a stronger guarantee than other blocks:
every traceback and stack-trace line and every error or failure line of its text is *protected*.
``protected_lines`` marks them, a pure function of the text. The pipeline wraps a guarded block's
text in a ``Guard`` and rejects any compressor output that lacks one of the protected lines
verbatim (``Guard.kept_by``): the next compressor is tried, and the block stays whole when none
keeps them all. The log compressor reads ``protected_lines`` too and keeps those lines by itself,
so a failing build or test run actually compresses under the guard.

Protected:

* tracebacks and stack traces: a Python ``Traceback (most recent call last):`` with every frame
  and source line under it and the exception line closing it, the chaining lines (``During
  handling of the above exception...``, ``The above exception was the direct cause...``), pytest's
  FAILURES and ERRORS sections whole, Java and JavaScript ``at`` frames with the exception line
  above them, ``Caused by:``, ``Suppressed:`` and ``... N more``, Go's ``panic:`` and goroutine
  traces, Rust's ``panicked at`` (and the message under it) and ``stack backtrace:``;
* error and failure lines: pytest's ``FAILED``/``ERROR`` lines and its short test summary,
  ``E   `` assertion lines and ``>   `` failing source lines, ``path:12: SomeError`` locations,
  compiler ``error:``/``error[E0308]:`` lines (bare or after ``path:line:col:``) and rustc's
  ``-->`` locations, ``npm ERR!``, ``make: ***``, ``fatal:``, ``[ERROR]``, ``--- FAIL`` and the
  ``x_test.go:12:`` messages under it, jest's ``●`` and ``✕`` lines, ``BUILD FAILURE``;
* a trace written inside a JSON string, its line breaks escaped (a JSON log record's ``"stack"``,
  an API error body's ``"traceback"``): the line holding it is protected, and since a JSON
  compressor rewrites the document's layout, ``Guard.kept_by`` also accepts the trace's lines as
  lines of a string of the output (``trace_lines`` of its decoded value) in place of that line.
  ``JsonSampler`` keeps every item holding such a trace (``holds_trace``).

``Guard.of`` remembers a text's guard per process by the text's digest (a pure function of the
text, as token counts are): a failed run's output comes back every turn, and both the pipeline
and dedup ask for its protected lines.

The lines around an error that explain it (the step that failed, the command) are the log
compressor's to keep (``compressors/logs.py`` keeps them around every error line); the guard
demands only the lines above, so other compressors stay free to drop noise next to an error.
"""

from __future__ import annotations

import html
import json
import re

from .cache import ByteLRU, digest

__all__ = ["Guard", "escaped_trace_lines", "holds_trace", "protected_lines", "trace_lines"]

# One line that is an error or failure by itself (matched at the line's start). Paths are runs
# without blanks or colons, so a long line is read once, not once per colon in it.
_ERROR_LINE = re.compile(
    r"\s*(?:fatal |FATAL )?(?:error|ERROR|Error)(?:\[E?\d+\])?(?::|!)"      # error: / error[E0308]: / ERROR:
    r"|[^\s:]+:\d+(?::\d+)?:\s*(?:fatal error|error|Error)\b"               # a.c:3:5: error: / a.ts:3: error
    r"|[^\s(]+\(\d+,\d+\): error\b"                                         # tsc: a.ts(3,5): error TS2322
    r"|\s*--> [^\s:]+:\d+"                                                  # rustc's location
    r"|(?:FAILED|ERROR|FAIL:)(?:\s|$)"                                       # pytest, unittest
    r"|E(?: {3,}|\s*$)|> {3}"                                               # pytest E and > lines
    r"|[^\s:]+:\d+: \w*?(?:Error|Exception|Failure|Failed|Exit)"             # pytest's location line
    r"|=+ [^=]*\b(?:failed|errors?)\b[^=]* =+$"                             # pytest's closing line
    r"|npm ERR!|npm error |make(?:\[\d+\])?: \*\*\*|fatal: |\[(?:ERROR|FATAL)\] "
    r"|\s*--- FAIL|FAIL\s|BUILD FAIL|FAILURE: |\s*[✕✗✘×●] "
    r"|\s+[^\s:]+_test\.go:\d+: "                                           # go test's failure message
    r"|panic: |fatal error: |\[signal |exit status \d"
    r"|During handling of the above exception|The above exception was the direct cause"
    r"|\s*(?:Caused by|Suppressed): |Exception in thread "
    r"|\s*\.\.\. \d+ (?:more|common frames omitted)")
# pytest -v's line for a test that failed: "tests/test_a.py::test_b FAILED  [ 50%]".
_PYTEST_VERBOSE = re.compile(r"[^\s:]+::\S+ (?:FAILED|ERROR)\b")
# A stack frame of Java (tab at a.B.c(B.java:12)) or JavaScript (    at f (file.js:1:2)).
_FRAME = re.compile(r"\s+at (?:new |async )?(?:\S+(?: \[as \S+\])? ?\(.*\)|\S+:\d+(?::\d+)?\)?|<anonymous>)\s*$")
_BLANKS = (" ", "\t")
_PY_TRACEBACK = re.compile(r"\s*Traceback \(most recent call last\):?")
_PYTEST_SECTION = re.compile(r"=+ (?P<name>.*?) =+$")
_PYTEST_KEPT = ("FAILURES", "ERRORS", "short test summary info")
_GOROUTINE = re.compile(r"goroutine \d+ \[")
_RUST_PANIC = re.compile(r"thread '.*' panicked at ")
_RUST_BACKTRACE = re.compile(r"\s*stack backtrace:")
_TAG = re.compile(r"<[^>]*>")
# A trace's first sign in a decoded string, and the same sign as it reads inside a JSON string
# literal, line breaks and tabs escaped (looked for before any literal is decoded).
_TRACE_SIGN = re.compile(r"Traceback \(most recent call last\)|\n\s+at \S|panicked at |\ngoroutine \d+ \[")
_ESCAPED_TRACE = re.compile(r"Traceback \(most recent call last\)|\\n(?:\\t| )+at \S|panicked at |\\ngoroutine \d+ \[")
# A JSON string literal; one never spans lines (a raw line break is not allowed in it).
_STRING = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_LITERAL = json.JSONDecoder(strict=False)  # a raw tab inside a literal is still its text
# Guards remembered (``Guard.of``): digest keys, the protected lines' text counted.
_GUARDS_BYTES = 2 * 1024 * 1024
_GUARDS: ByteLRU[Guard] = ByteLRU(_GUARDS_BYTES)


def protected_lines(text: str, *, escaped: bool = True) -> set[int]:
    """Indices (in ``text.split("\\n")``) of the lines that must reach the model byte for byte;
    with ``escaped``, lines holding a trace inside a JSON string too (``escaped_trace_lines``)."""
    lines = text.split("\n")
    keep: set[int] = set()
    index = 0
    while index < len(lines):
        end = _trace_end(lines, index)
        if end > index:
            keep.update(range(index, end))
            index = end
            continue
        line = lines[index]
        if line[:1] in _BLANKS and _FRAME.match(line):
            keep.add(index)
            _keep_exception_line(lines, index, keep)
        elif _ERROR_LINE.match(line) or ("::" in line and _PYTEST_VERBOSE.match(line)):
            keep.add(index)
        elif escaped and "\\n" in line and escaped_trace_lines(line):
            keep.add(index)
        index += 1
    return keep


def trace_lines(value: str) -> frozenset[str]:
    """The protected lines of a string holding a traceback or stack trace (a JSON string's
    decoded value: several lines), else none."""
    if "\n" not in value or not _TRACE_SIGN.search(value):
        return frozenset()
    split = value.split("\n")
    return frozenset(split[index] for index in protected_lines(value))


def holds_trace(value: str) -> bool:
    """Does a (decoded) string hold a traceback or stack trace?"""
    return bool(trace_lines(value))


def escaped_trace_lines(line: str) -> frozenset[str]:
    """The protected lines of every trace a JSON string literal of ``line`` holds with its line
    breaks escaped, as lines of the decoded string; none when it holds no trace."""
    if "\\n" not in line or not _ESCAPED_TRACE.search(line):
        return frozenset()
    found: set[str] = set()
    for value in _literals(line):
        found.update(trace_lines(value))
    return frozenset(found)


def _literals(line: str) -> list[str]:
    """The decoded values of the JSON string literals in ``line`` that hold an escaped line break."""
    values = []
    for literal in _STRING.finditer(line):
        if "\\n" in literal[0]:
            try:
                values.append(_LITERAL.decode(literal[0]))
            except ValueError:
                continue
    return values


class Guard:
    """The protected lines of one block's text, and the check a compressor's output must pass.

    An HTML page is compared by its visible lines (tags dropped, entities decoded, ends trimmed):
    the HTML compressor writes the page's text, not its markup. A line protected only for the
    trace inside one of its JSON strings may come out re-laid (compact JSON, a table row) as long
    as every line of that trace is a line of some string of the output.
    """

    __slots__ = ("lines", "html", "_escaped")

    def __init__(self, text: str, *, is_html: bool = False) -> None:
        self.html = is_html
        source = _visible(text) if is_html else text
        split = source.split("\n")
        plain = frozenset(split[index] for index in protected_lines(source, escaped=False))
        self._escaped = {} if is_html else {line: trace for line in split if "\\n" in line and line not in plain
                                            and (trace := escaped_trace_lines(line))}
        self.lines = frozenset(line.strip() for line in plain) if is_html else plain | self._escaped.keys()

    @classmethod
    def of(cls, text: str, *, is_html: bool = False) -> Guard:
        """``Guard(text, is_html=is_html)``, remembered by the text's digest (module docstring)."""
        key = digest(text, "html" if is_html else "")
        made = _GUARDS.get(key)
        if made is None:
            made = cls(text, is_html=is_html)
            _GUARDS.put(key, made, sum(map(len, made.lines)) + 64 * len(made.lines))
        return made

    def kept_by(self, output: str) -> bool:
        """Does ``output`` hold every protected line, verbatim, as a line of its own (or, for a
        trace inside a JSON string, every line of that trace in a string of its own)?"""
        if not self.lines:
            return True
        split = output.split("\n")
        have = {line.strip() for line in split} if self.html else set(split)
        missing = self.lines - have
        if not missing:
            return True
        if not missing <= self._escaped.keys():
            return False
        needed = set().union(*(self._escaped[line] for line in missing))
        found: set[str] = set()
        for line in split:
            if "\\n" in line:
                for value in _literals(line):
                    found.update(value.split("\n"))
        return needed <= found


def _trace_end(lines: list[str], start: int) -> int:
    """End (exclusive) of the trace or pytest section starting at ``lines[start]``, else ``start``."""
    line = lines[start]
    if _PY_TRACEBACK.match(line):
        end = _deeper(lines, start)
        if end < len(lines) and lines[end].strip():
            end += 1  # "ValueError: bad input" closes the traceback at the header's depth
        return end
    if _RUST_BACKTRACE.match(line) or line.startswith("goroutine ") and _GOROUTINE.match(line):
        end = start + 1
        while end < len(lines) and lines[end].strip():
            end += 1
        return end
    if _RUST_PANIC.match(line):
        return min(len(lines), start + 2)  # the message is on the line under it (Rust 1.73+)
    if line.startswith("=") and (section := _PYTEST_SECTION.match(line)) and section["name"] in _PYTEST_KEPT:
        end = start + 1
        while end < len(lines) and not (lines[end].startswith("=") and _PYTEST_SECTION.match(lines[end])):
            end += 1
        return end
    return start


def _deeper(lines: list[str], start: int) -> int:
    """End (exclusive) of the lines indented deeper than ``lines[start]``, blank lines among them."""
    depth = _indent(lines[start])
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and _indent(line) > depth:
            end += 1
        elif not line.strip() and end + 1 < len(lines) and _indent(lines[end + 1]) > depth and lines[end + 1].strip():
            end += 1
        else:
            break
    return end


def _keep_exception_line(lines: list[str], frame: int, keep: set[int]) -> None:
    """The line above the first frame of a run: ``java.lang.IllegalStateException: ...``."""
    above = frame - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above >= 0 and not _FRAME.match(lines[above]):
        keep.add(above)


def _indent(line: str) -> int:
    stripped = line.lstrip(" \t")
    return len(line[:len(line) - len(stripped)].expandtabs(8))


def _visible(page: str) -> str:
    """The page's text line by line: tags dropped, entities decoded (indents kept: they mark frames)."""
    return "\n".join(html.unescape(_TAG.sub("", line)) for line in page.split("\n"))
