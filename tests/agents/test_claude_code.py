"""The real Claude Code CLI (``claude -p``) through Envoy and trimwire to a scripted model.

The session: the failing test run, the 120-pod JSON listing, the test run again, then Read, a
search and a file list (Bash, as this Claude Code offers no Grep or Glob tool), and ``cat`` of a
JSON file. Claude Code appends a ``<system-reminder>`` with the token budget to every tool result
(``CLAUDE_CODE_TOTAL_TOKENS_REMINDER``, a setting its server turns on for some users).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from extproc.pipeline.guard import Guard
from tests.unit.dedup_resolve import expand

from .checks import Output, history_changes
from .clis import CLAUDE_CODE, agent_cli, agent_env
from .conftest import Session, run_session
from .model import DONE_TEXT
from .sessions import CAT_CONFIG, POD_LISTING, TEST_RUN, claude_steps
from .workspace import CONFIG_NAME, CRASHING_POD, FAILURE_LINES, REMINDER_SIGN

pytestmark = pytest.mark.agents

TARGET_RATIO = 0.6   # issue 17: each tool output arrives at most 60% of the size Claude Code sent


def _launch(url: str, root: Path, home: Path) -> tuple[list[str], dict[str, str]]:
    env = agent_env(home, ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="sk-ant-loopback", IS_SANDBOX="1",
                    COLUMNS="60", CLAUDE_CODE_TOTAL_TOKENS_REMINDER="countdown")
    argv = [agent_cli(CLAUDE_CODE), "-p", "Run the project's checks.", "--dangerously-skip-permissions",
            "--model", "claude-sonnet-4-5", "--output-format", "text"]
    return argv, env


@pytest.fixture(scope="module")
def session(agents_trimwire) -> Session:  # type: ignore[no-untyped-def]
    return run_session(agents_trimwire, "claude-code", claude_steps, "Bash", _launch)


def _by_command(session: Session, command: str) -> list[Output]:
    return [item for item in session.outputs if item.command == command]


def _reminder(text: str) -> str:
    return text[text.rindex(REMINDER_SIGN):]


def test_session_completes(session):
    """Claude Code ran every step and printed the model's last answer."""
    assert session.run.code == 0, session.run.stderr[-2000:]
    assert DONE_TEXT in session.run.stdout and not session.model.errors
    assert [request.step for request in session.model.main_requests()] == list(range(8))
    assert len(session.outputs) == 7


def test_listing_arrives_compressed_with_its_facts(session):
    """The pod listing behind Claude Code's reminder is sampled to at most 60%; the crashing pod
    and the reminder arrive as sent."""
    [listing] = _by_command(session, POD_LISTING)
    assert REMINDER_SIGN in listing.sent and not listing.is_error
    assert listing.ratio <= TARGET_RATIO, listing.ratio
    assert CRASHING_POD in listing.arrived and "CrashLoopBackOff" in listing.arrived
    assert listing.arrived.endswith(_reminder(listing.sent))


def test_every_reminder_arrives_intact(session):
    """Every tool result's trailing reminder reaches the model byte for byte."""
    for item in session.outputs:
        if REMINDER_SIGN in item.sent:
            assert item.arrived.endswith(_reminder(item.sent)), item.command


def _resolved(session: Session, text: str) -> str:
    """``text`` with each dedup pointer read back from the last request as it arrived: the lines
    it names, from the earlier output or tool-call argument it names, verbatim."""
    texts: dict[tuple[str, str | None], str] = {}
    for item in session.outputs:
        texts[(item.call_id, None)] = item.arrived
        texts.update({(item.call_id, key): value for key, value in item.arguments.items() if isinstance(value, str)})
    return expand(text, texts)


def test_failing_runs_keep_every_failure_line(session):
    """Both failing test runs (is_error) arrive compressed with every failure line, every line of
    pytest's FAILURES section (the failing test's source, its ``>`` and ``E`` lines, the
    ``file:line: AssertionError`` location) and short summary, and the reminder, verbatim: in the
    run's own text or, where the second repeats the first, at the first run's lines its dedup
    pointer names (``dedup_errors``)."""
    runs = _by_command(session, TEST_RUN)
    assert len(runs) == 2
    for run in runs:
        assert run.is_error and len(run.arrived) < len(run.sent)
        arrived = _resolved(session, run.arrived)
        for line in FAILURE_LINES:
            assert line in run.sent and line in arrived
        guard = Guard(run.sent)  # what pipeline/guard.py protects, read from what Claude Code sent
        assert any(line.startswith("E ") for line in guard.lines) and any("FAILED" in line for line in guard.lines)
        assert guard.kept_by(arrived), sorted(guard.lines - set(arrived.split("\n")))
        assert run.arrived.endswith(_reminder(run.sent))


def test_failing_runs_arrive_compressed(session):
    """Each failing run (is_error, released under the error guard) arrives at most 60% of its size."""
    for run in _by_command(session, TEST_RUN):
        assert run.ratio <= TARGET_RATIO


def test_file_reads_arrive_exact(session):
    """Read output (line-numbered) and ``cat`` of a JSON file reach the model as Claude Code sent them."""
    [read] = [item for item in session.outputs if item.tool == "Read"]
    [cat] = _by_command(session, CAT_CONFIG)
    assert read.arrived == read.sent and "1\t" in read.sent
    assert cat.arrived == cat.sent and CONFIG_NAME in cat.command and '{\n  "service": "shop",\n' in cat.sent


def test_history_arrives_byte_identical(session):
    """Each request's messages arrive again unchanged in the next request."""
    assert len(session.arrived) == 8
    assert history_changes(session.arrived) == []
