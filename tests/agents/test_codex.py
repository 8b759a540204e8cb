"""The real Codex CLI (``codex exec``, Responses API) through Envoy and trimwire to a scripted model.

The session: the failing test run, the 120-pod JSON listing, the test run again and ``cat`` of a
JSON file with ``exec_command``; a process waiting on stdin answered with ``write_stdin``; and a
patch applied with ``apply_patch``. Codex wraps each output in its header and cuts long output
itself (``Warning: truncated output``, ``…N chars truncated…``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .checks import Output, history_changes
from .clis import CODEX, agent_cli, agent_env
from .conftest import Session, run_session
from .model import DONE_TEXT
from .sessions import CAT_CONFIG, POD_LISTING, TEST_RUN, codex_steps
from .workspace import CRASHING_POD, FAILURE_LINES

pytestmark = pytest.mark.agents

_HEADER = re.compile(r"\A(?:(?!Output:\n).*\n)*?Output:\n(?:Warning: truncated output.*\n(?:.*\n)?\n)?")
_CUT = re.compile(r"…\d+ (?:tokens|chars) truncated…")


def _launch(url: str, root: Path, home: Path) -> tuple[list[str], dict[str, str]]:
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        'model = "gpt-5.1-codex"\nmodel_provider = "loopback"\n\n[model_providers.loopback]\n'
        f'name = "loopback"\nbase_url = "{url}/v1"\nwire_api = "responses"\nenv_key = "LOOPBACK_API_KEY"\n')
    env = agent_env(home, CODEX_HOME=str(codex_home), LOOPBACK_API_KEY="sk-loopback")
    argv = [agent_cli(CODEX), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
            "Run the project's checks."]
    return argv, env


@pytest.fixture(scope="module")
def session(agents_trimwire) -> Session:  # type: ignore[no-untyped-def]
    return run_session(agents_trimwire, "codex", codex_steps, "exec_command", _launch)


def _by_command(session: Session, command: str) -> list[Output]:
    return [item for item in session.outputs if item.command == command]


def test_session_completes(session):
    """Codex ran every step (the patch applied on disk) and printed the model's last answer."""
    assert session.run.code == 0, session.run.stderr[-2000:]
    assert DONE_TEXT in session.run.stdout and not session.model.errors
    assert [request.step for request in session.model.main_requests()] == list(range(8))
    assert len(session.outputs) == 7
    assert session.files["notes.txt"] == "status: ready\nowner: team-web\n"


def test_listing_compresses_behind_the_header(session):
    """The listing Codex cut itself is sampled behind its header: header and cut marker as sent,
    the crashing pod kept."""
    [listing] = _by_command(session, POD_LISTING)
    header = _HEADER.match(listing.sent)[0]
    assert "Warning: truncated output" in header and _CUT.search(listing.sent)
    assert listing.arrived.startswith(header) and _CUT.search(listing.sent)[0] in listing.arrived
    assert listing.ratio <= 0.6, listing.ratio
    assert CRASHING_POD in listing.arrived and "CrashLoopBackOff" in listing.arrived


def test_test_runs_compress_with_every_failure_line(session):
    """The failing runs (exit code 1 in the header) arrive smaller, header and failure lines intact."""
    runs = _by_command(session, TEST_RUN)
    assert len(runs) == 2
    for run in runs:
        assert "Process exited with code 1\n" in run.sent
        assert run.arrived.startswith(_HEADER.match(run.sent)[0]) and run.ratio < 0.6
        for line in FAILURE_LINES:
            assert line in run.arrived


def test_cat_of_a_json_file_arrives_exact(session):
    """``cat config.json`` is a file read: its layout reaches the model as printed."""
    [cat] = _by_command(session, CAT_CONFIG)
    assert cat.arrived == cat.sent and '{\n  "service": "shop",\n' in cat.sent


def test_stdin_and_patch_outputs_arrive(session):
    """write_stdin's and apply_patch's outputs arrive as sent (small)."""
    [stdin] = [item for item in session.outputs if item.tool == "write_stdin"]
    assert "SHIP IT" in stdin.arrived and stdin.arrived == stdin.sent
    patch = session.outputs[-1]
    assert "apply_patch" in patch.command and patch.arrived == patch.sent and "notes.txt" in patch.sent


def test_history_arrives_byte_identical(session):
    """Each request's input items arrive again unchanged in the next request."""
    assert len(session.arrived) == 8
    assert history_changes(session.arrived) == []
