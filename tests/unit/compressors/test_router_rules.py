"""The shapes' split line rules (anchored shapes matched at the start, the rest searched only when
a substring they need is there) classify every line exactly as the single searched rule they
replaced. The reference rules below are those originals, kept here as the specification. The log
compressor's fast signal test is held to its own rule the same way."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extproc.compressors import logs
from extproc.pipeline import shapes

from . import FIXTURES

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REFERENCE_LOG_LINE = re.compile(
    r"^\s*\[?\s*(?:TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|FATAL|CRITICAL|PANIC)\b"
    r"|\b(?:INFO|WARN(?:ING)?|ERROR|DEBUG|FATAL|CRITICAL)\b[:\]]?"
    r"|^=+ .*\b(?:test session starts|passed|failed|error|FAILURES|ERRORS|warnings summary|short test summary)\b.*=+$"
    r"|\b(?:PASSED|FAILED|SKIPPED|XFAIL|XPASS)\b|^(?:PASS|FAIL|ok|not ok|---) "
    r"|^test \S+ \.\.\. |^running \d+ tests?$"
    r"|^\s*(?:Collecting|Downloading|Installing|Building|Using cached|Requirement already satisfied|Successfully"
    r"|Compiling|Finished|Running|Checking|Fresh|Updating|Locking|Resolving|Fetching|Preparing|Obtaining)\b"
    r"|^npm (?:WARN|ERR!|notice|http|timing)|^(?:yarn|pnpm) |^added \d+ packages?"
    r"|^(?:error|warning)(?:\[[A-Z]?\d+\])?:|^\s+--> \S+:\d+"
    r"|^make(?:\[\d+\])?: |^(?:gcc|g\+\+|cc|clang|c\+\+|ld|ar) \S"
    r"|^\s*(?:Step \d+/\d+|#\d+ \[|\d+/\d+ \S|\[\d+/\d+\] )|^\s*\d+%|%\||^(?:error|warning|warn|info) \S"
    r"|\| [#\d ]{4,}\|\s+\d{1,3}%"  # conda's download bars
    r"|^(?:NAME|NAMESPACE)\s{2,}\S+\s{2,}|\s(?:Running|Pending|CrashLoopBackOff|Completed|Terminating)\s"
    r"|^\s*(?:E|>)\s{3}|^Traceback \(most recent call last\)|^\s+at \S+\(|exit (?:code|status) -?\d+"
    r'|^\s*\{.*"(?:level|severity|lvl)"\s*:'
    r"|^(?:Get|Hit|Ign|Err):\d+ \S|^Reading (?:package lists|state information)|^\(Reading database |^Fetched \d"
    r"|^Selecting previously unselected |^Preparing to unpack |^Unpacking \S|^Setting up \S|^Processing triggers "
    r"|^\s*[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] |^\S+ +[-━]{20,} +[\d.]+ ?[KMGT]?i?B/"
)

# Timestamps and compiler diagnostics at a line's start count as log lines too.
REFERENCE_LOG_PREFIX = re.compile(
    r"^\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|^\[?\d{2}:\d{2}:\d{2}|^[A-Z][a-z]{2} +\d+ \d{2}:\d{2}"
    r"|^\S+:\d+(?::\d+)?: (?:(?i:fatal error|error|warning|note|info|hint):|[A-Z]{1,4}\d{2,4}:? )")


def reference_log_line(line: str) -> bool:
    return bool(REFERENCE_LOG_LINE.search(line) or REFERENCE_LOG_PREFIX.match(line))


REFERENCE_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |async def |@\w|function\b|const |let |var |export |"
    r"return\b|if \(|for \(|while \(|} else|fn |pub |impl |use \S+;|mod |struct |enum |package |func |"
    r"#include|#define|public |private |protected |static |interface |namespace |using |module |"
    r"require\(|end$|elif |else:|try:|except\b|catch \(|switch \()"
    r"|[{;]\s*$|^\s*}\s*$|^\s*//|^\s*/\*|^\s*\*|^\s*#(?!#)"
    r"|^\s*(?:if|elif|for|while|with|return|raise|yield|await|assert|pass|break|continue|finally|self\.)\b"
    r"|^\s*[A-Za-z_][\w.\[\]'\"]*\s*(?:[-+*/|&%]|//|\*\*)?=\s*[^=\s]"
    r"|^\s*[\w.]+\(.*\)[;,]?\s*$|^\s+\S.*[:(\[]\s*$|^\s*[)\]]+[,:;]?\s*$"
    r"|^\s+\w+: (?:[A-Z]\w*|str|int|float|bool|bytes|list|dict|tuple|set|object)\b"
)

REFERENCE_NUMBER = re.compile(r"^\s*\d+(?:\t|→|: )")

pieces = st.sampled_from([
    "INFO", "WARN", "ERROR:", "PASSED", "FAILED", "Running", "Pending", "exit code 1", "exit status 2", "%|",
    "| ####3      |  44%", "Collecting", "npm WARN", "error[E0425]:", "  --> src/a.rs:3", "make: ", "gcc ",
    "Step 2/5", "[3/7] ", "12%", "NAME   READY   STATUS", "E   ", ">   ", "Traceback (most recent call last)",
    "    at foo(", '{"level": 30}', "def ", "class ", "return", "if (", "} else", "{", ";", "}", "// x", "/* x",
    "# x", "x = 1", "f(x)", "    y:", "  name: str", "self.x", " ", "  ", "\t", "=", "==== 1 failed ====",
    "ok ", "--- ", "abc", "123", "0x1f", "é", "\u2713", "Get:3 ", "Hit:1 http", "Reading package lists",
    "(Reading database ", "Fetched 1704 kB", "Unpacking curl", "Setting up", "Processing triggers ", "⠼ ",
    "pytest  ", "-" * 30, " 14.88 KiB/", "    12\t", "12→", "  7: ", "2024-05-01 10:11", "[12:30:01]",
    "Mar  3 10:11", "a.c:3:5: ", "x.py:12: ", "error:", "E501 "])
lines = st.lists(pieces | st.text(max_size=6), max_size=8).map("".join)


@PROPERTY
@given(line=lines)
def test_log_rule_matches_the_reference(line):
    """A generated line is a log line for the split rule exactly when the reference rule finds one."""
    assert shapes._is_log_line(line) == reference_log_line(line)


@PROPERTY
@given(line=lines)
def test_code_rule_matches_the_reference(line):
    """A generated line is a code line for the split rule exactly when the reference rule finds one."""
    assert shapes._is_code_line(line) == bool(REFERENCE_CODE_LINE.search(line))


@PROPERTY
@given(line=lines)
def test_numbered_code_rule_reads_past_the_line_number(line):
    """Behind a Read tool's or cat -n's line number, a line is code exactly when the reference rule
    finds code in what follows the number."""
    unnumbered = REFERENCE_NUMBER.sub("", line, count=1)
    assert shapes._is_code_line(line, shapes._NUMBERED_CODE_START) == bool(REFERENCE_CODE_LINE.search(unnumbered))


def test_fixture_lines_match_the_reference():
    """Every line of every fixture is classified as the reference rules classify it."""
    for path in FIXTURES.iterdir():
        for line in path.read_text(encoding="utf-8").split("\n"):
            assert shapes._is_log_line(line) == reference_log_line(line), (path.name, line)
            assert shapes._is_code_line(line) == bool(REFERENCE_CODE_LINE.search(line)), (path.name, line)


signal_pieces = st.sampled_from([
    "ERROR", "Error", "error:", "FAILED", "failure", "Timed Out", "timeout", "EXIT CODE 1", "exit status 2",
    "Killed", "OOM", "Could Not", "not found", "CrashLoopBackOff", '"level":50', '"LEVEL": 40', '"level" : 30',
    "Tests:", "FAIL ", "npm ERR!", "time=", "İ", "ſ", "K", "é", " ", "_", "-", "x", "1"])
signal_lines = st.lists(signal_pieces | st.text(max_size=5), max_size=8).map("".join)


@PROPERTY
@given(line=signal_lines)
def test_log_signal_fast_path_matches_the_rule(line):
    """The log compressor's signal test (lower-case search for ASCII lines) answers as its
    case-blind rule does, for ASCII and non-ASCII lines alike."""
    assert logs._is_signal(line) == shapes.line_matches(logs._SIGNAL_LINE, line, line.lower())


def test_log_signal_fast_path_on_fixture_lines():
    for path in FIXTURES.iterdir():
        for line in path.read_text(encoding="utf-8").split("\n"):
            assert logs._is_signal(line) == shapes.line_matches(logs._SIGNAL_LINE, line, line.lower()), line
