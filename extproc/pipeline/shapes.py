"""The built-in shapes of tool output: line rules and the detectors the content types are declared with.

Each ``is_*`` detector reads a ``router.Sample`` (a prefix of the text and its non-blank lines)
and answers with plain regular expressions over whole lines, never by parsing the whole text:
``compressors/content_types.py`` pairs each with its type and its place in the router's order
(the most specific shape, a JSON document or a unified diff, first; prose last). The line rules
(``line_rule``, ``line_matches``), the table column rules and ``SEARCH_HIT`` (``SEARCH_PATH_HIT``) are shared with the
log, table and search compressors, which read the same shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .router import Sample

__all__ = ["LineRule", "SEARCH_HIT", "SEARCH_PATH_HIT", "fits_columns", "line_matches", "line_rule", "table_columns",
           "is_code", "is_diff", "is_html", "is_json", "is_json_log", "is_jsonl", "is_log", "is_search", "is_table"]

# Share of sampled non-blank lines that must look like grep hits / log lines / source code.
_SEARCH_SHARE = 0.6
_LOG_SHARE = 0.25
_CODE_SHARE = 0.3


# A JSON value's first token after the opening bracket: rules out "[INFO] ..." and "[1/5] ...".
_JSON_ARRAY_START = re.compile(r'\[\s*(?:[\[{"\]]|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*[,\]]|true\b|false\b|null\b)')
_JSON_OBJECT_START = re.compile(r'\{\s*(?:"|\})')

_HTML_DOCUMENT = re.compile(r"^\s*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE | re.MULTILINE)
_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_HTML_TAG = re.compile(
    r"</?(?:div|span|p|a|li|ul|ol|table|tr|td|th|h[1-6]|script|style|meta|link|nav|section|br|img|pre|code)[\s>/]",
    re.IGNORECASE)

# "NAME   READY   STATUS   RESTARTS   AGE": upper-case column names (some of two words, as
# "NOMINATED NODE") at least two spaces apart, as kubectl, oc, docker and helm print them.
_COLUMN_NAME = r"[A-Z][A-Z0-9_%./()#:-]*(?: [A-Z][A-Z0-9_%./()#:-]*)*"
_TABLE_HEADER = re.compile(rf"^{_COLUMN_NAME}(?: {{2,}}{_COLUMN_NAME}){{2,}}\s*$")
_COLUMN_START = re.compile(rf"(?:^| {{2,}})({_COLUMN_NAME})")
_TABLE_FIT_SHARE = 0.9
_TABLE_MIN_ROWS = 3

# A structured log record (pino, bunyan, zap, structlog JSON): a level or message key.
_JSON_LOG_RECORD = re.compile(r'^\s*\{.*"(?:level|severity|lvl|msg|message|log)"\s*:')

_DIFF_FILE = re.compile(r"^(?:diff --git |diff -[a-zA-Z]+ |Index: |--- \S)", re.MULTILINE)
_DIFF_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", re.MULTILINE)

# grep -n / rg: "path:12:text", "path:12:3:text", grep -C context "path-12-text", or "12:text".
SEARCH_HIT = re.compile(r"^(?P<path>[^\s:]+?):(?P<line>\d+)(?::(?P<col>\d+))?:")
# grep -r without -n: "dir/file.py:text". The path must hold a "/" ("key: value" and "note: x" do not);
# never "::" (a pytest node id: "tests/test_a.py::test_b PASSED") nor a bare count (grep -c: "dir/a.py:3").
SEARCH_PATH_HIT = re.compile(r"^(?P<path>(?:\.{0,2}/)?(?:[\w.@+~-]+/)+[\w.@+~-]+):(?!:|\d+$)")
_SEARCH_LINE_ONLY = re.compile(r"^\d+[:-]")
_SEARCH_CONTEXT = re.compile(r"^[^\s:]+?-\d+-")
# Compiler and linter diagnostics share the path:line: shape but are log lines
# ("a.c:3:5: error: ...", "a.py:12: error: ...", "a.py:3:1: F401 ...").
_DIAGNOSTIC = re.compile(
    r"^\S+:\d+(?::\d+)?: (?:(?i:fatal error|error|warning|note|info|hint):|[A-Z]{1,4}\d{2,4}:? )")
_TIMESTAMP = re.compile(r"^\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|^\[?\d{2}:\d{2}:\d{2}|^[A-Z][a-z]{2} +\d+ \d{2}:\d{2}")
# A timestamp or a compiler diagnostic at a line's start: a log line, never a search hit.
_LOG_PREFIX = re.compile(f"{_TIMESTAMP.pattern}|{_DIAGNOSTIC.pattern}")

# A log line: one of the anchored shapes at its start, or one of the unanchored ones anywhere. The
# anywhere rules are tried only when the line holds one of their substrings (_LOG_HINTS): a plain
# search with every rule costs several times more per line, and routing reads every sampled line.
# The shapes that may be indented follow one possessive run of leading blanks (each starts with a
# non-blank), so an indented line is not re-read once per shape; those that must be indented
# follow one possessive run of at least one blank.
_LOG_START = re.compile(
    r"=+ .*\b(?:test session starts|passed|failed|error|FAILURES|ERRORS|warnings summary|short test summary)\b.*=+$"
    r"|(?:PASS|FAIL|ok|not ok|---) "
    r"|test \S+ \.\.\. |running \d+ tests?$"  # cargo test (libtest)
    r"|npm (?:WARN|ERR!|notice|http|timing)|(?:yarn|pnpm) |added \d+ packages?"
    r"|(?:error|warning)(?:\[[A-Z]?\d+\])?:"
    r"|make(?:\[\d+\])?: |(?:gcc|g\+\+|cc|clang|c\+\+|ld|ar) \S"
    r"|(?:error|warning|warn|info) \S"
    r"|(?:NAME|NAMESPACE)\s{2,}\S+\s{2,}"
    r"|Traceback \(most recent call last\)"
    # apt and dpkg, uv's per-package download bars
    r"|(?:Get|Hit|Ign|Err):\d+ \S|Reading (?:package lists|state information)|\(Reading database |Fetched \d"
    r"|Selecting previously unselected |Preparing to unpack |Unpacking \S|Setting up \S|Processing triggers "
    r"|\S+ +[-━]{20,} +[\d.]+ ?[KMGT]?i?B/"
    r"|\s*+(?:"
    r"\[?\s*(?:TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|FATAL|CRITICAL|PANIC)\b"
    r"|(?:Collecting|Downloading|Installing|Building|Using cached|Requirement already satisfied|Successfully"
    r"|Compiling|Finished|Running|Checking|Fresh|Updating|Locking|Resolving|Fetching|Preparing|Obtaining)\b"
    r"|(?:Step \d+/\d+|#\d+ \[|\d+/\d+ \S|\[\d+/\d+\] )|\d+%"
    r"|(?:E|>)\s{3}"
    r'|\{.*"(?:level|severity|lvl)"\s*:'
    r"|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] "  # spinners (uv, npm, cargo)
    r")|\s++(?:--> \S+:\d+|at \S+\()"
)
_LOG_ANYWHERE = re.compile(
    r"\b(?:INFO|WARN(?:ING)?|ERROR|DEBUG|FATAL|CRITICAL)\b[:\]]?"
    r"|\b(?:PASSED|FAILED|SKIPPED|XFAIL|XPASS)\b"
    r"|%\||\| [#\d ]{4,}\|\s+\d{1,3}%"  # tqdm and conda download bars
    r"|\s(?:Running|Pending|CrashLoopBackOff|Completed|Terminating)\s"
    r"|exit (?:code|status) -?\d+"
)
_LOG_HINTS = ("INFO", "WARN", "ERROR", "DEBUG", "FATAL", "CRITICAL", "PASSED", "FAILED", "SKIPPED", "XFAIL",
              "XPASS", "%", "Running", "Pending", "CrashLoopBackOff", "Completed", "Terminating", "exit ")


LineRule = tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]


def line_rule(start: re.Pattern[str], anywhere: re.Pattern[str], hints: tuple[str, ...]) -> LineRule:
    """A line rule: ``start`` matched at the line's start, or ``anywhere`` searched in the line but
    only when one of the literal ``hints`` is in it (one search for all of them)."""
    return start, anywhere, re.compile("|".join(map(re.escape, hints)))


# A log line: one of the shapes above, or a line that starts with a _LOG_PREFIX.
_LOG_RULE: LineRule = line_rule(re.compile(f"{_LOG_PREFIX.pattern}|{_LOG_START.pattern}"), _LOG_ANYWHERE, _LOG_HINTS)


def line_matches(rule: LineRule, line: str, haystack: str | None = None) -> bool:
    """Does ``line`` match the rule: its start pattern at the line's start, or its anywhere pattern,
    tried only when one of the hints is in ``haystack`` (the line itself by default)?"""
    start, anywhere, hints = rule
    if start.match(line):
        return True
    if hints.search(line if haystack is None else haystack) is None:
        return False
    return anywhere.search(line) is not None


def _is_log_line(line: str) -> bool:
    return line_matches(_LOG_RULE, line)


# A source line: a shape at its start (match), or a line ending in "{" or ";" (searched only then).
# As in _LOG_START, every shape follows one possessive run of leading blanks.
_CODE_SHAPES = (
    r"\s*+(?:def |class |import |from \S+ import |async def |@\w|function\b|const |let |var |export |"
    r"return\b|if \(|for \(|while \(|} else|fn |pub |impl |use \S+;|mod |struct |enum |package |func |"
    r"#include|#define|public |private |protected |static |interface |namespace |using |module |"
    r"require\(|end$|elif |else:|try:|except\b|catch \(|switch \("
    r"|}\s*$|//|/\*|\*|#(?!#)"
    r"|(?:if|elif|for|while|with|return|raise|yield|await|assert|pass|break|continue|finally|self\.)\b"
    r"|[A-Za-z_][\w.\[\]'\"]*\s*(?:[-+*/|&%]|//|\*\*)?=\s*[^=\s]"
    r"|[\w.]+\(.*\)[;,]?\s*$|[)\]]+[,:;]?\s*$)"
    r"|\s++(?:\S.*[:(\[]\s*$|\w+: (?:[A-Z]\w*|str|int|float|bool|bytes|list|dict|tuple|set|object)\b)"
)
_CODE_START = re.compile(_CODE_SHAPES)
# The same behind a Read tool's or `cat -n`'s line number ("    12\t", "    12→", "12: "), if any.
_NUMBERED_CODE_START = re.compile(r"(?:\s*\d+(?:\t|→|: ))?+(?:" + _CODE_SHAPES + ")")
_CODE_END = re.compile(r"[{;]\s*$")


def _is_code_line(line: str, start: re.Pattern[str] = _CODE_START) -> bool:
    # a line number holds neither "{" nor ";": the end test reads the same with or without it
    return bool(start.match(line)) or (("{" in line or ";" in line) and _CODE_END.search(line) is not None)


# The built-in shapes, as ``compressors/content_types.py`` orders them. JSON records come first:
# one JSON value per line is JSON lines, or a log when at least half of them are log records.
def is_json_log(sample: Sample) -> bool:
    """JSON lines at least half of which are structured log records (pino, bunyan, zap)."""
    if not sample.json_lines:
        return False
    return sum(1 for line in sample.probe if _JSON_LOG_RECORD.search(line)) * 2 >= sample.records


def is_jsonl(sample: Sample) -> bool:
    """One JSON value on each line (what ``is_json_log`` leaves)."""
    return sample.json_lines


def is_json(sample: Sample) -> bool:
    """One JSON document, object or array (not one value on each of several lines)."""
    head = sample.head
    if head[:1] not in ("[", "{") or not (sample.records == 0 or len(sample.lines) == 1):
        return False
    return bool(_JSON_OBJECT_START.match(head) or _JSON_ARRAY_START.match(head))


def is_html(sample: Sample) -> bool:
    """A page (doctype or <html>, possibly after a short preamble such as curl's meter) or tag soup."""
    return _is_html(sample.head)


def is_diff(sample: Sample) -> bool:
    """A unified diff: a hunk header and a file header."""
    text = sample.text
    return "@@ -" in text and _DIFF_HUNK.search(text) is not None and _DIFF_FILE.search(text) is not None


def is_table(sample: Sample) -> bool:
    """A column-aligned table under an upper-case header (kubectl get, docker ps)."""
    return _is_table(sample.lines)


def is_search(sample: Sample) -> bool:
    """Mostly grep / ripgrep hits, context lines and headings."""
    total = len(sample.lines)
    return _reaches(_search_flags(sample.lines), total, max(2, _SEARCH_SHARE * total))


def is_log(sample: Sample) -> bool:
    """A build, test, install or application log: enough of the lines look like log lines."""
    total = len(sample.lines)
    return _reaches((_is_log_line(line) for line in sample.lines), total, max(2, _LOG_SHARE * total))


def is_code(sample: Sample) -> bool:
    """A source file (perhaps behind a Read tool's line numbers): enough source-shaped lines."""
    total = len(sample.lines)
    code = (_is_code_line(line, _NUMBERED_CODE_START) for line in sample.lines)
    return _reaches(code, total, max(2, _CODE_SHARE * total))


def table_columns(header: str) -> list[int] | None:
    """Where each column of a table header starts, or None when the line is not a header."""
    if not _TABLE_HEADER.match(header):
        return None
    return [match.start(1) for match in _COLUMN_START.finditer(header)]


def fits_columns(line: str, starts: list[int]) -> bool:
    """Does the row leave a space before every column start (no cell runs into the next)?"""
    return all(len(line) <= start or line[start - 1] == " " for start in starts[1:])


def _is_table(lines: list[str]) -> bool:
    """A header line, then rows nearly all of which keep to its column starts."""
    if not lines:  # blank but for a last line the sample cut
        return False
    starts = table_columns(lines[0].rstrip())
    rows = lines[1:]
    if starts is None or len(rows) < _TABLE_MIN_ROWS:
        return False
    return sum(fits_columns(row, starts) for row in rows) >= _TABLE_FIT_SHARE * len(rows)


def _is_html(head: str) -> bool:
    """A page (doctype or <html>, possibly after a short preamble such as curl's meter) or tag soup."""
    window = head[:2048]
    if "<" not in window:
        return False
    if _HTML_DOCUMENT.search(window):
        return True
    return head[0] == "<" and (bool(_HTML_START.search(window)) or len(_HTML_TAG.findall(window)) >= 5)


def _reaches(flags: Iterator[bool], total: int, needed: float) -> bool:
    """Are at least ``needed`` of the ``total`` flags true? Reads only until the answer is certain."""
    count = 0
    left = total
    for flag in flags:
        left -= 1
        if flag:
            count += 1
            if count >= needed:
                return True
        elif count + left < needed:
            return False
    return count >= needed


# One match per line for _search_flags, alternatives in order of precedence: a _LOG_PREFIX line is
# not a hit; a hit, grep -C context, "--" or a bare "12:" line is.
_SEARCH_SHAPE = re.compile(
    f"(?P<log>{_LOG_PREFIX.pattern})"
    f"|(?P<hit>{SEARCH_HIT.pattern}|{_SEARCH_CONTEXT.pattern}|--$|{_SEARCH_LINE_ONLY.pattern}"
    f"|{SEARCH_PATH_HIT.pattern.replace('?P<path>', '')})")


def _search_flags(lines: list[str]) -> Iterator[bool]:
    """For each line, does it read as grep/ripgrep output (hits, context, separators, headings)?"""
    last = len(lines) - 1
    for index, line in enumerate(lines):
        shape = _SEARCH_SHAPE.match(line)
        if shape is not None:
            yield shape.lastgroup == "hit"
        else:  # a ripgrep --heading path line, above a "12:" line
            yield index < last and " " not in line and _SEARCH_LINE_ONLY.match(lines[index + 1]) is not None
