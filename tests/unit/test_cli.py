"""A newcomer's first hour with the command line: every mistake is one sentence (no traceback),
``compress`` is quick and says what it did, and every flag documents itself.

The real entry point runs: ``main()`` in this process, or ``python -m extproc`` / ``make run`` as
a subprocess where the process boundary matters.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from extproc.cli import _parser, main
from extproc.compress import build_engine
from extproc.compressors.kompress.lazy import LazyKompress
from extproc.config import load_settings
from extproc.pipeline.router import ContentType
from tests.shelf import SHELF

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG = "\n".join([f"tests/test_api.py::test_case_{i} PASSED" for i in range(200)]
                + ["tests/test_api.py::test_refund FAILED", "==== 1 failed, 200 passed in 3.21s ===="])
PROSE = (
    "The deployment finished after the operator restarted the controller, and the new replicas came up on "
    "the second node without any further intervention from the team that was on call that night.\n"
    "Basically the rollout was really just waiting on the image pull, which took a very long time because "
    "the registry mirror was slow during the whole afternoon window and nobody had noticed it yet.\n"
    "Once the mirror recovered, every remaining pod started within a minute, the health checks turned green "
    "and the dashboards showed that the error rate had gone back to where it usually sits on a weekday.\n"
    "We agreed to add an alert on pull latency so that the next slow mirror is found before a rollout waits "
    "on it, and to write down in the runbook which team owns the mirror and how to reach them quickly.\n"
)


def body_with(tool_output: str) -> dict:
    return {"model": "gpt-4o", "messages": [
        {"role": "user", "content": "what happened?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": tool_output}]}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("TRIMWIRE_"):
            monkeypatch.delenv(name)
    yield


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def subprocess_run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRIMWIRE_")}
    done = subprocess.run([sys.executable, "-m", "extproc", *argv], cwd=REPO_ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stdout + done.stderr
    return done


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class TestErrorsAreSentences:
    def test_missing_input(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """compress on a file that does not exist says so."""
        code, _, err = run_main(capsys, "compress", str(tmp_path / "nope.json"))
        assert code == 2 and err == f"trimwire: error: {tmp_path / 'nope.json'} does not exist; give a JSON body, " \
                                    "a .jsonl of bodies, or - for stdin\n"

    def test_directory_input(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """compress on a directory says it is one."""
        code, _, err = run_main(capsys, "compress", str(tmp_path))
        assert code == 2 and f"{tmp_path} is a directory" in err

    def test_listen_without_a_port_number(self) -> None:
        """--listen 127.0.0.1:abc names the flag and the form it needs."""
        done = subprocess_run("up", "--listen", "127.0.0.1:abc")
        assert done.returncode == 2
        assert done.stderr == ("trimwire: error: --listen '127.0.0.1:abc' must look like HOST:PORT with a port "
                               "from 0 to 65535, e.g. 127.0.0.1:10000\n")

    def test_envoy_bin_pointing_at_nothing(self, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """TRIMWIRE_ENVOY_BIN naming no executable is said before anything starts."""
        monkeypatch.setenv("TRIMWIRE_ENVOY_BIN", str(tmp_path / "envoy"))
        code, _, err = run_main(capsys, "up")
        assert code == 2 and f"TRIMWIRE_ENVOY_BIN={tmp_path / 'envoy'} is not an executable file" in err

    def test_listen_port_in_use(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                taken_port: int) -> None:
        """A taken --listen port names --listen."""
        monkeypatch.setenv("TRIMWIRE_ENVOY_BIN", "/bin/true")
        code, _, err = run_main(capsys, "up", "--listen", f"127.0.0.1:{taken_port}")
        assert code == 2 and err == f"trimwire: error: 127.0.0.1:{taken_port} is already in use: change --listen\n"

    def test_metrics_port_in_use(self, taken_port: int) -> None:
        """serve with a taken metrics port names the setting, its flag and its variable."""
        done = subprocess_run("serve", env={"TRIMWIRE_METRICS_ADDRESS": f"127.0.0.1:{taken_port}"})
        assert done.returncode == 2
        assert (f"127.0.0.1:{taken_port} is already in use: change metrics_address "
                "(--metrics, TRIMWIRE_METRICS_ADDRESS)") in done.stderr

    @pytest.mark.parametrize(("url", "message"), [
        ("api.openai.com", "needs a scheme and a host"),
        ("https://api.openai.com/v1", "has a path"),
        ("ftp://api.openai.com", "needs a scheme and a host"),
        ("https://api.openai.com:99999", "has a port that is not a number"),
    ])
    def test_bad_upstream(self, capsys: pytest.CaptureFixture[str], url: str, message: str) -> None:
        """An upstream URL that would go somewhere else than meant is refused, naming the flag."""
        code, _, err = run_main(capsys, "up", "--openai-upstream", url)
        assert code == 2 and err.startswith(f"trimwire: error: --openai-upstream {url!r} {message}")

    def test_plaintext_upstream_to_a_remote_host_is_warned(self, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
        """http:// to a host that is not loopback starts with a warning (loopback: no warning)."""
        monkeypatch.setenv("TRIMWIRE_ENVOY_BIN", str(Path("/nonexistent/envoy")))
        _, _, err = run_main(capsys, "up", "--openai-upstream", "http://llm.example.com",
                             "--anthropic-upstream", "http://127.0.0.1:8000")
        assert ("trimwire: warning: --openai-upstream http://llm.example.com is plaintext http to a host that "
                "is not loopback") in err
        assert "--anthropic-upstream http" not in err

    def test_unreachable_stats(self, capsys: pytest.CaptureFixture[str], taken_port: int) -> None:
        """trimwire stats on a port that does not answer HTTP says so."""
        code, _, err = run_main(capsys, "stats", "http://127.0.0.1:1")
        assert code == 2 and "cannot reach http://127.0.0.1:1/stats" in err


class TestConfig:
    def test_config_after_the_command(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """--config is read when given after the subcommand (docs/configuration.md's example)."""
        config = tmp_path / "trimwire.yaml"
        config.write_text("log_level: loud\n")
        code, _, err = run_main(capsys, "serve", "--config", str(config))
        assert code == 2 and "configuration error: log_level must be one of" in err

    def test_unknown_keys_are_warned(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
        """`mdoe: token` in the file and TRIMWIRE_MDOE in the environment each get a warning."""
        config = tmp_path / "trimwire.yaml"
        config.write_text("mdoe: token\n")
        body = tmp_path / "body.json"
        body.write_text(json.dumps(body_with("ok")))
        monkeypatch.setenv("TRIMWIRE_MDOE", "token")
        code, _, err = run_main(capsys, "compress", "--config", str(config), str(body))
        assert code == 0
        assert "trimwire: warning: unknown setting 'mdoe' in the config file (did you mean 'mode'?); ignored" in err
        assert ("trimwire: warning: unknown environment variable TRIMWIRE_MDOE (did you mean 'TRIMWIRE_MODE'?); "
                "ignored") in err

    def test_prices_from_a_mapping(self, tmp_path: Path) -> None:
        """prices: {pattern: dollars} in the file reads as pattern=dollars entries."""
        config = tmp_path / "trimwire.yaml"
        config.write_text("prices:\n  claude-sonnet-*: 3\n  gpt-4o*: 2.5\n")
        assert load_settings(config, env={}).prices == ("claude-sonnet-*=3", "gpt-4o*=2.5")


class TestCompress:
    def test_no_blank_line_after_a_body(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """A single body comes out as one line, with nothing after it."""
        path = tmp_path / "body.json"
        path.write_text(json.dumps(body_with("ok"), indent=2) + "\n")
        code, out, _ = run_main(capsys, "compress", str(path))
        assert code == 0 and out.count("\n") == out.rstrip("\n").count("\n") + 1 and not out.endswith("\n\n")

    def test_jsonl_totals(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """A .jsonl gets a line per body and a totals line on stderr."""
        path = tmp_path / "bodies.jsonl"
        path.write_text("\n".join(json.dumps(body_with(text)) for text in (LOG, "ok", LOG)) + "\n")
        code, out, err = run_main(capsys, "compress", str(path))
        lines = err.splitlines()
        assert code == 0 and len(out.splitlines()) == 3 and len(lines) == 4
        before = sum(int(line.split("tokens_before=")[1].split()[0]) for line in lines[:3])
        after = sum(int(line.split("tokens_after=")[1].split()[0]) for line in lines[:3])
        assert lines[3].startswith(f"total: 3 bodies, 2 compressed, tokens {before:,} -> {after:,}, "
                                   f"saved {before - after:,}")

    def test_diff_shows_what_changed(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """--diff prints a unified diff of each changed string, named by its path in the body."""
        path = tmp_path / "body.json"
        path.write_text(json.dumps(body_with(LOG)))
        code, out, _ = run_main(capsys, "compress", "--diff", str(path))
        assert code == 0
        assert out.startswith("--- #1 messages[2].content (sent)\n+++ #1 messages[2].content (compressed)\n")
        assert "-tests/test_api.py::test_case_5 PASSED\n" in out
        assert "+tests/test_api.py::test_refund FAILED" not in out  # kept lines are context, not changes

    def test_kompress_opens_only_for_prose(self) -> None:
        """The model is not opened for a body without prose, and is for the first prose block."""
        settings = load_settings(env={}, workers=0)
        compressor = build_engine(settings, lazy_kompress=True, shelf=SHELF)
        [lazy] = [c for c in compressor.pipeline.routes[ContentType.TEXT] if isinstance(c, LazyKompress)]
        from extproc.compress import BodyRequest

        raw = json.dumps(body_with(LOG)).encode()
        assert compressor.run(raw, BodyRequest(format="openai")).outcome == "compressed"
        assert lazy.status is None  # never asked for
        result = compressor.run(json.dumps(body_with(PROSE)).encode(), BodyRequest(format="openai"))
        assert lazy.status is not None and lazy.status.available
        assert result.transforms == ("kompress",) and result.tokens_saved > 0


class TestHelp:
    @pytest.mark.parametrize("command", ["up", "compress"])
    def test_every_flag_has_a_description_and_default(self, command: str) -> None:
        """Each option of up and compress says what it is and what it defaults to."""
        sub = next(a for a in _parser()._actions if a.dest == "command").choices[command]
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, action.dest
            text = sub.formatter_class(prog="trimwire")._get_help_string(action)
            assert action.option_strings == [] or "default" in text, (action.dest, text)

    def test_help_prints(self) -> None:
        """`up --help` runs and lists the address flags."""
        done = subprocess_run("up", "--help")
        assert done.returncode == 0 and "--metrics HOST:PORT" in done.stdout and "127.0.0.1:10000" in done.stdout


def test_make_run_passes_its_arguments() -> None:
    """make run LISTEN=... reaches trimwire up's --listen (here: refused in one sentence)."""
    if not (REPO_ROOT / ".venv" / ".run-deps").exists():
        pytest.skip("make run would install the virtualenv first")
    done = subprocess.run(["make", "-s", "run", "LISTEN=127.0.0.1:abc", "OPENAI_UPSTREAM=http://127.0.0.1:1"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("TRIMWIRE_")})
    assert "trimwire: error: --listen '127.0.0.1:abc' must look like HOST:PORT" in done.stderr
    assert "Traceback" not in done.stderr
