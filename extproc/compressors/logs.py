"""Build, test, install and application logs cut down to what a coding agent acts on.

Kept, byte for byte: error, failure and warning lines (a line repeated later is kept once and
followed by a note saying how often it occurs), tracebacks and stack traces in full (pytest's
FAILURES/ERRORS sections, Python tracebacks, the lines indented deeper than an error line such
as rustc's ``-->`` snippets, gcc's caret snippets or Java ``at`` frames), test and build
summaries, indented or not (``== 3 failed, 10 passed ==``, ``Tests:``, ``test result:``,
``Successfully installed``, apt's ``Setting up pkg (version)`` and ``0 upgraded, 2 newly
installed``, ``patching file``, exit codes), ``DEFAULT_CONTEXT_LINES`` lines
around each of those, and the first ``DEFAULT_HEAD_LINES`` and last ``DEFAULT_TAIL_LINES`` lines
unless they are progress or passing-test lines. Every line ``pipeline/guard.py`` protects (the
traceback, stack-trace and error lines of a failed command, with the lines around each error) is
kept too, so a failure's output, which the pipeline checks for them, compresses under that guard.

Dropped: progress lines (download bars, ``[ 45%]`` steps, ``Collecting``/``Downloading``,
``Compiling x v1.2``, ``npm http``, apt's ``Get:``/``Unpacking``, Maven's ``Downloading from``),
passing and skipped test lines (``PASSED``, ``... ok``, ``--- PASS``, ``✓``, a Maven Surefire
test class that ran clean: its ``Running`` line and its ``Failures: 0, Errors: 0, Skipped: 0``
line), repeated lines, and, when there are more than ``DEFAULT_MAX_PLAIN_LINES`` of them, the
remaining unflagged lines. Each run of dropped lines becomes one marker line, e.g.
``[trimwire: 412 lines omitted (398 passing test, 14 progress)]``. Lines holding a term of the
context the block answers (a test id or pod the question or the call names: ``pipeline.focus``)
are kept whatever their kind, up to ``DEFAULT_MAX_RELEVANT``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..pipeline.contract import BlockInputs, FocusedCompressor
from ..pipeline.focus import relevant
from ..pipeline.guard import protected_lines
from ..pipeline.shapes import line_matches, line_rule
from .repeats import SIMILAR, similar_runs

__all__ = [
    "LogCompressor", "DEFAULT_MIN_LINES", "DEFAULT_HEAD_LINES", "DEFAULT_TAIL_LINES",
    "DEFAULT_CONTEXT_LINES", "DEFAULT_MAX_PLAIN_LINES", "DEFAULT_MAX_BLOCK_LINES", "DEFAULT_MAX_RELEVANT",
]

# Shorter logs are left alone. Under head + tail lines only noise (passing tests, progress, repeats)
# can go, so a short test run or install loses its noise and keeps everything else.
DEFAULT_MIN_LINES = 20
DEFAULT_HEAD_LINES = 10
DEFAULT_TAIL_LINES = 20
DEFAULT_CONTEXT_LINES = 2       # around each error, warning or summary line
DEFAULT_MAX_PLAIN_LINES = 60    # unflagged lines are all kept up to this many, else all dropped
DEFAULT_MAX_BLOCK_LINES = 80    # indented lines kept under one error line (tracebacks: no cap)
DEFAULT_MAX_RELEVANT = 20       # lines holding a term of the block's context, kept whatever they are

_PASSING, _SKIPPED, _PROGRESS, _DUPLICATE, _PLAIN = "passing test", "skipped test", "progress", "duplicate", "other"
_BLANK = "blank"
_CATEGORY_ORDER = (_PASSING, _SKIPPED, _PROGRESS, _DUPLICATE, SIMILAR, _PLAIN, _BLANK)
_SIGNAL = "signal"
_NOISE = (_PASSING, _SKIPPED, _PROGRESS)  # dropped even among the head and tail lines
_MIN_DEDUP_CHARS = 8            # shorter repeated lines ("}", "--", "  |") are structure, not noise

# Each kind of line is (rule anchored at the line start, rule anywhere in it, substrings the second
# needs): most lines fail the cheap substring test, which keeps a 100k-line log under a second.
# Maven Surefire/Failsafe's line for one test class that ran clean, e.g. "[INFO] Tests run: 17,
# Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.23 s -- in com.example.FooTest". The run's
# total ("Tests run: 518, Failures: 0, ...") has no "Time elapsed" and stays a summary.
_SUREFIRE_CLEAN = r"(?:\[INFO\] )?Tests run: \d+, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: "
_PASSING_LINE = line_rule(
    re.compile(r"\S+\.py [.sxX]+\s*(?:\[\s*\d+%\])?$|\s*--- PASS: |=== (?:RUN|PAUSE|CONT|NAME) "
               r"|ok\s+\S+\s+(?:[\d.]+s|\(cached\))|PASS$|PASS\s|\s*[✓✔√]\s|ok \d+ |" + _SUREFIRE_CLEAN),
    re.compile(r"\sPASSED\b|\.\.\. ok$"), ("PASSED", "... ok"))
_SKIPPED_LINE = line_rule(
    re.compile(r"\s*--- SKIP: |ok \d+ .*# SKIP"),
    re.compile(r"\s(?:SKIPPED|XFAIL)\b|\.\.\. skipped\b"), ("SKIPPED", "XFAIL", "... skipped"))
_PROGRESS_LINE = line_rule(
    re.compile(
        # "[ 45%] Building ...", "45% [=====>   ]", " 45%|####": a bare "95% of requests ..." is a result
        r"\s*\[\s*\d{1,3}(?:\.\d+)?%\]\s|\s*\d{1,3}(?:\.\d+)?%\s*(?:[|\[]|$)"
        r"|\s*(?:\[INFO\] )?(?:Collecting|Downloading|Using cached|Requirement already satisfied|Obtaining"
        r"|Preparing metadata|Getting requirements|Building wheels? for|Created wheel|Stored in directory"
        r"|Installing build dependencies"
        r"|Attempting uninstall|Found existing installation|Uninstalling|Successfully uninstalled|Looking in indexes"
        r"|Processing \S|Downloaded \S+ v\d|Compiling \S+ v\d|Checking \S+ v\d|Fresh \S+ v\d|Documenting \S+ v\d"
        r"|Updating crates\.io|Locking \d+ packages|Adding \S+ v\d|Unpacking|Selecting previously"
        r"|Preparing to unpack|Get:\d+ |Hit:\d+ |Ign:\d+ |Progress \(\d+\)|Downloading from|Downloaded from)\b"
        r"|npm (?:http|timing|sill|verb) |go: downloading |make(?:\[\d+\])?: (?:Entering|Leaving) directory"
        r"|\S+ +-{20,} +[\d.]+ ?[KMGT]?i?B/"),  # uv's per-package download bars
    re.compile(r"\r.|\d%\||[━█▉▊▋▌▍▎▏■]{6,}|\[[=#>\-. ]{10,}\]|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]|\| [#\d ]{4,}\|\s+\d{1,3}%"),
    ("\r", "%", "━", "█", "■", "[", "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"))
# Words that flag a line anywhere in it, whatever their case (written in lower case).
_SIGNAL_WORDS = (
    r"\b(?:errors?|fail(?:ed|ure|ures|ing)?|fatal|panic(?:ked)?|exception|traceback|critical|warn(?:ing|ings)?"
    r"|denied|refused|timed? ?out|abort(?:ed)?|segmentation fault|core dumped|killed|oom|unable to|cannot"
    r"|could not|not found|deprecated|vulnerabilit(?:y|ies)|exit (?:code|status)|exited with|non-zero"
    r"|unresolved|undefined|crash(?:ed|es|loopbackoff)?|backoff|evicted|unhealthy|degraded)")
_LEVEL_SIGNAL = r'"level"\s*:\s*[456]0\b'  # pino/bunyan numeric levels: warn, error, fatal
_SIGNAL_LINE = line_rule(
    re.compile(
        r"=+ .+ =+$|-+ .+ -+$|_{3,} .+ _{3,}$|\s*E\s{2,}|\s*>\s{3}|\s+--> "
        r"|\s*(?:Tests:|Test Suites:|Snapshots:|Time:|Ran \d+ tests?|OK\b|FAILED|test result:|Finished"
        r"|Successfully installed|Setting up \S+ \(|\d+ upgraded, \d+ newly installed|patching file "
        r"|added \d+ packages?|found \d+|\d+ (?:passing|failing|pending)|BUILD |Tests run:|Done in"
        r"|\d+ (?:passed|failed))"
        r"|not ok |--- FAIL|FAIL\b|\s*[✗✕×✘]\s|npm ERR!|make(?:\[\d+\])?: \*\*\*|\s*\^+\s*$"),
    re.compile(f"(?i:{_SIGNAL_WORDS})|{_LEVEL_SIGNAL}"),
    ("err", "fail", "fatal", "panic", "exception", "traceback", "critical", "warn", "denied", "refused", "time",
     "abort", "segmentation", "core dumped", "killed", "oom", "unable", "cannot", "could not", "not found",
     "deprecated", "vulnerab", "exit", "non-zero", "unresolved", "undefined", "crash", "backoff", "evicted",
     "unhealthy", "degraded", '"level"'))
# An ASCII line's words are searched in its lower-case copy: the same answer, without the
# case-blind search that costs 2.7x as much per line.
_SIGNAL_WORDS_LOWER = re.compile(_SIGNAL_WORDS)
_LEVEL_LINE = re.compile(_LEVEL_SIGNAL)
# "[INFO] Running com.example.FooTest": the start of a test class, dropped with its clean result.
_TEST_CLASS_START = re.compile(r"^(?:\[INFO\] )?Running [\w$]+(?:\.[\w$]+)+\s*$")
_TEST_CLASS_CLEAN = re.compile(_SUREFIRE_CLEAN)
_TRACE_START = re.compile(
    r"^\s*Traceback \(most recent call last\)|^\s*stack backtrace:|^goroutine \d+ \[|^Exception in thread"
    r"|^\s*Caused by:|^panic: |^thread '.*' panicked at")
_STEP_START = re.compile(
    r"^\s*(?:Collecting|Processing|Obtaining|Compiling|Checking|Building wheels? for|Documenting)\s"
    r"|^\s*\[\s*\d+%\] Building")
_STEP_LOOKBACK = 50
_SECTION = re.compile(r"^=+ (?P<name>.*?) =+$")
_FULL_SECTIONS = ("FAILURES", "ERRORS")


class LogCompressor(FocusedCompressor):
    name = "logs"
    then = None  # its output is not offered on

    def __init__(self, *, min_lines: int = DEFAULT_MIN_LINES, head_lines: int = DEFAULT_HEAD_LINES,
                 tail_lines: int = DEFAULT_TAIL_LINES, context_lines: int = DEFAULT_CONTEXT_LINES,
                 max_plain_lines: int = DEFAULT_MAX_PLAIN_LINES,
                 max_block_lines: int = DEFAULT_MAX_BLOCK_LINES, max_relevant: int = DEFAULT_MAX_RELEVANT) -> None:
        self.min_lines = min_lines
        self.head_lines = head_lines
        self.tail_lines = tail_lines
        self.context_lines = context_lines
        self.max_plain_lines = max_plain_lines
        self.max_block_lines = max_block_lines
        self.max_relevant = max_relevant

    def applies(self, block: BlockInputs) -> bool:
        return block.text.count("\n") >= self.min_lines


    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """As ``compress``; lines that hold a term of the block's context (a test id, a pod) stay."""
        lines = text.split("\n")
        if len(lines) <= self.min_lines:
            return None
        classes = _clean_test_classes(lines, [_classify(line) for line in lines])
        wanted = set(relevant(text.lower(), terms, self.max_relevant)) if terms else set()
        dropped = self._plan(lines, classes, protected_lines(text), wanted)
        if not any(dropped):
            return None
        out = _render(lines, classes, dropped)
        return out if len(out) < len(text) else None

    def _plan(self, lines: list[str], classes: list[str], protected: set[int],
              wanted: set[int]) -> list[str | None]:
        """For each line, None to keep it or the category it is dropped as. ``protected`` lines
        are kept, or, when the same line is kept earlier, counted as its copies; ``wanted`` lines
        (holding a context term) are kept and never folded."""
        n = len(lines)
        ends = set(range(min(self.head_lines, n))) | set(range(max(0, n - self.tail_lines), n))
        full = _full_blocks(lines, classes, self.max_block_lines) | wanted
        exact = {i for i in ends if classes[i] not in _NOISE} | full
        must = exact | protected
        dropped: list[str | None] = [None if i in must or cls == _SIGNAL else cls for i, cls in enumerate(classes)]
        seen: set[str] = set()
        kept: set[str] = set()
        for index, line in enumerate(lines):
            key = line.rstrip()
            if len(key.strip()) < _MIN_DEDUP_CHARS:
                continue
            if key in seen and index not in exact and (index not in protected or line in kept):
                dropped[index] = _DUPLICATE
            seen.add(key)
            if dropped[index] is None:
                kept.add(line)
        for index, cls in enumerate(classes):
            if cls == _SIGNAL and dropped[index] is None:
                for j in range(max(0, index - self.context_lines), min(n, index + self.context_lines + 1)):
                    if dropped[j] == _PLAIN:
                        dropped[j] = None
        for index, cls in enumerate(classes):
            if cls == _SIGNAL and dropped[index] is None:
                step = _last_step(lines, classes, index)
                if step is not None:
                    dropped[step] = None
        plain = [i for i, reason in enumerate(dropped) if reason == _PLAIN]
        if len(plain) <= self.max_plain_lines:
            for index in plain:
                dropped[index] = None
        _fold_similar(lines, classes, dropped, full | protected)
        return dropped


def _fold_similar(lines: list[str], classes: list[str], dropped: list[str | None], full: set[int]) -> None:
    """Keep the first and last line of each run of similar lines (errors too) and omit the rest;
    tracebacks and FAILURES sections are never folded, runs of noise are dropped anyway."""
    for first, last, _ in similar_runs(lines, exclude=full):
        if classes[first] in _NOISE:
            continue
        dropped[first] = dropped[last] = None
        for index in range(first + 1, last):
            dropped[index] = SIMILAR if lines[index].strip() else _BLANK


def _classify(line: str) -> str:
    """The category of one line: passing/skipped test, progress, signal, or plain."""
    if line_matches(_SKIPPED_LINE, line):
        return _SKIPPED
    if line_matches(_PASSING_LINE, line):
        return _PASSING
    if _is_signal(line):
        return _SIGNAL  # before progress: "Getting requirements to build wheel: ... 'error'" is news
    if line_matches(_PROGRESS_LINE, line):
        return _PROGRESS
    return _PLAIN


def _is_signal(line: str) -> bool:
    """``line_matches(_SIGNAL_LINE, line, line.lower())``, faster for an ASCII line."""
    lowered = line.lower()
    if not line.isascii():
        return line_matches(_SIGNAL_LINE, line, lowered)
    start, _, hints = _SIGNAL_LINE
    if start.match(line):
        return True
    if hints.search(lowered) is None:
        return False
    return _SIGNAL_WORDS_LOWER.search(lowered) is not None or _LEVEL_LINE.search(line) is not None


def _clean_test_classes(lines: list[str], classes: list[str]) -> list[str]:
    """``classes`` with each "Running <class>" line whose class ran clean (the next line says so)
    counted as a passing test line too; a class that failed keeps the line that started it."""
    for index, line in enumerate(lines):
        if not _TEST_CLASS_START.match(line):
            continue
        following = next((j for j in range(index + 1, len(lines)) if lines[j].strip()), None)
        if following is not None and _TEST_CLASS_CLEAN.match(lines[following]):
            classes[index] = _PASSING
    return classes


def _last_step(lines: list[str], classes: list[str], index: int) -> int | None:
    """The progress line that started the step an error belongs to ("Collecting psycopg-c==3.2.1")."""
    for j in range(index - 1, max(-1, index - _STEP_LOOKBACK), -1):
        if classes[j] == _SIGNAL:
            return None  # an earlier error of the same step already kept it
        if classes[j] == _PROGRESS and _STEP_START.match(lines[j]):
            return j
    return None


def _full_blocks(lines: list[str], classes: list[str], max_block_lines: int) -> set[int]:
    """Indices of lines kept in full: FAILURES/ERRORS sections, tracebacks, blocks under errors."""
    keep: set[int] = set()
    section = None
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _SECTION.match(line)
        if header:
            section = header.group("name").strip()
        if section in _FULL_SECTIONS:
            keep.add(index)
        elif _TRACE_START.match(line) or classes[index] == _SIGNAL:
            limit = None if _TRACE_START.match(line) else max_block_lines
            end = _indented_block_end(lines, index, limit)
            if limit is not None:  # an error's snippet ends at the first progress or passing line
                end = next((j for j in range(index + 1, end) if classes[j] in _NOISE), end)
            if end > index + 1 or _TRACE_START.match(line):
                keep.update(range(index, end))
                index = end
                continue
        index += 1
    return keep


def _indented_block_end(lines: list[str], start: int, limit: int | None) -> int:
    """End (exclusive) of the lines indented deeper than ``lines[start]``, plus a closing exception line.

    Deeper, not merely indented: in a log whose lines are all indented (pip's build output, a
    nested tool's output) a warning must not take the following lines as its snippet."""
    depth = _indent(lines[start])
    end = start + 1
    while end < len(lines) and (limit is None or end - start <= limit):
        line = lines[end]
        if line.strip() and _indent(line) > depth:
            end += 1
        elif not line.strip() and end + 1 < len(lines) and lines[end + 1].strip() and _indent(lines[end + 1]) > depth:
            end += 1
        else:
            break
    traceback = lines[start].lstrip().startswith("Traceback")
    if traceback and end < len(lines) and lines[end].strip():
        end += 1  # "ValueError: bad input" closes a Python traceback unindented
    return end


def _indent(line: str) -> int:
    """Columns of leading white space, a tab counting as eight."""
    stripped = line.lstrip(" \t")
    return len(line[:len(line) - len(stripped)].expandtabs(8))


def _render(lines: list[str], classes: list[str], dropped: list[str | None]) -> str:
    """Kept lines as they were; each run of dropped lines replaced by one marker line."""
    repeats = Counter(line.rstrip() for line, reason in zip(lines, dropped) if reason == _DUPLICATE)
    out: list[str] = []
    run: Counter[str] = Counter()
    for line, cls, reason in zip(lines, classes, dropped):
        if reason is not None:
            run[reason] += 1
            continue
        if run:
            out.append(_marker(run))
            run.clear()
        out.append(line)
        copies = repeats.pop(line.rstrip(), 0) if cls == _SIGNAL else 0
        if copies:
            out.append(f"[trimwire: {copies} more {'copy' if copies == 1 else 'copies'} of the line above omitted]")
    if run:
        out.append(_marker(run))
    return "\n".join(out)


def _marker(run: Counter[str]) -> str:
    total = sum(run.values())
    parts = sorted(run.items(), key=lambda item: (-item[1], _CATEGORY_ORDER.index(item[0])))
    noun = "line" if total == 1 else "lines"
    return f"[trimwire: {total} {noun} omitted ({', '.join(f'{count} {name}' for name, count in parts)})]"
