"""Tool output wrapped by its harness (Codex JSON, mini-swe-agent tags) is compressed inside the wrapper."""

from __future__ import annotations

import json

from extproc.compressors import default_routes
from extproc.pipeline import Pipeline, Policy
from extproc.pipeline.envelope import exit_status, open_envelope

from .compressors import load
from .test_pipeline import conversation

OPEN = Policy(protected_tools=(), min_block_chars=0)
LOG = load("pytest_verbose.txt")


def codex(output: str, **dumps) -> str:
    return json.dumps({"output": output, "metadata": {"exit_code": 1, "duration_seconds": 3.2}}, **dumps)


def tagged(output: str, code: int = 1) -> str:
    return f"<returncode>{code}</returncode>\n<output>\n{output}</output>"


class TestOpenEnvelope:
    def test_codex_json_output(self):
        """The output string of a Codex shell result is the wrapped text; the rest is head and tail."""
        text = codex(LOG)
        envelope = open_envelope(text)
        assert envelope is not None and envelope.kind == "json" and envelope.inner == LOG
        assert envelope.wrap(LOG) == text
        assert envelope.tail == ', "metadata": {"exit_code": 1, "duration_seconds": 3.2}}'

    def test_ascii_escaping_is_kept(self):
        """A harness that escaped non-ASCII gets its wrapper back escaped the same way."""
        text = codex(LOG + "caf\u00e9 \u2713\n", ensure_ascii=True)
        envelope = open_envelope(text)
        assert envelope is not None and envelope.wrap(envelope.inner) == text
        assert "\\u2713" in envelope.wrap("ok \u2713\n")
        assert open_envelope(codex(LOG + "\u2713\n", ensure_ascii=False)).wrap("\u2713\n").count("\u2713") == 1

    def test_tagged_output(self):
        """mini-swe-agent's <returncode>/<output> tags are kept around the wrapped text."""
        text = tagged(LOG)
        envelope = open_envelope(text)
        assert envelope is not None and envelope.kind == "tagged" and envelope.inner == LOG
        assert envelope.head == "<returncode>1</returncode>\n<output>\n" and envelope.tail == "</output>"
        assert envelope.wrap("x\n") == "<returncode>1</returncode>\n<output>\nx\n</output>"

    def test_data_is_not_an_envelope(self):
        """JSON whose longest string is a small part of it, or has no line breaks, is data."""
        record = json.dumps({"title": "a\nb", "items": list(range(200))})
        assert open_envelope(record) is None
        assert open_envelope(json.dumps({"output": "x" * 500, "metadata": {}})) is None
        assert open_envelope(json.dumps([LOG])) is None
        assert open_envelope("not json {") is None and open_envelope(LOG) is None

    def test_share_counts_the_string_as_written(self):
        """Escapes count: output dense in escaped characters is still most of its block's text."""
        output = '"quoted"\t\x1b[0m\n' * 40
        text = codex(output)
        assert len(output) < 0.7 * len(text) < len(json.dumps(output))  # decoded it would look small
        envelope = open_envelope(text)
        assert envelope is not None and envelope.inner == output and envelope.wrap(output) == text

    def test_unrecognised_escaping_is_left_alone(self):
        """A string escaped in a way json.dumps would not reproduce is not opened."""
        text = codex(LOG).replace("/", "\\/")
        assert json.loads(text)["output"] == LOG and open_envelope(text) is None


    def test_an_envelope_opened_before_is_remembered(self):
        """A text under MEMO_CHARS is opened once: an equal text (another str) gets the same
        answer object; a text longer than that, or another ``min_share``, is opened afresh."""
        text = "<returncode>1</returncode>\n<output>\n" + "FAILED test_x - assert 1 == 2\n" * 5 + "</output>"
        first = open_envelope(text)
        assert first is not None and first.exit_code == 1 == exit_status("".join(list(text)))
        assert open_envelope("".join(list(text))) is first
        assert open_envelope(text, min_share=0.5) is not first and open_envelope(text, min_share=0.5) == first
        long = text.replace("</output>", "x\n" * 3000 + "</output>")
        assert open_envelope(long) is not open_envelope(long) and open_envelope(long) == open_envelope(long)


class TestPipelineOpensEnvelopes:
    def test_wrapped_log_is_compressed_and_stays_wrapped(self):
        """A log inside a Codex envelope reaches the log compressor; the metadata is byte-identical."""
        text = codex(LOG)
        conv = conversation(text)
        Pipeline(OPEN, default_routes()).run(conv, {})
        [change] = conv.changes
        assert change.by == "logs" and len(change.new_text) < len(text)
        assert change.new_text.endswith(', "metadata": {"exit_code": 1, "duration_seconds": 3.2}}')
        inner = json.loads(change.new_text)["output"]
        assert "[trimwire: " in inner and "failed" in inner

    def test_tagged_log_is_compressed_inside_the_tags(self):
        """A log inside mini-swe-agent tags is compressed and the tags stay as they were."""
        conv = conversation(tagged(LOG))
        Pipeline(OPEN, default_routes()).run(conv, {})
        [change] = conv.changes
        assert change.new_text.startswith("<returncode>1</returncode>\n<output>\n")
        assert change.new_text.endswith("</output>") and "[trimwire: " in change.new_text

    def test_wrapped_code_is_untouched(self):
        """What is wrapped is routed by its own type: source code in an envelope stays as it was."""
        code = "def main():\n    value = compute()\n    return value\n\n" * 20
        conv = conversation(codex(code), tagged(code, 0))
        Pipeline(OPEN, default_routes()).run(conv, {})
        assert not conv.changes


CODEX_PODS = load("codex_pods_cut.txt")          # exec_command output Codex cut itself, as sent
CODEX_TESTS = load("codex_pytest_failing.txt")
CLAUDE_PODS = load("claude_code_pods.txt")       # Bash output with the token-budget reminder, as sent
CLAUDE_TESTS = load("claude_code_pytest_failing.txt")
REMINDER = "\n\n<system-reminder>\n<total_tokens>199970 tokens left</total_tokens>\n</system-reminder>"


def codex_header(output: str, code: int = 0) -> str:
    return (f"Chunk ID: 7c4332\nWall time: 1.5674 seconds\nProcess exited with code {code}\n"
            f"Original token count: {len(output) // 4}\nOutput:\n{output}")


class TestAgentWrappers:
    def test_codex_header(self):
        """Codex's exec_command header is the head, its exit status read; the output is inside."""
        envelope = open_envelope(codex_header(LOG, 1))
        assert envelope is not None and envelope.inner == LOG and envelope.exit_code == 1
        assert envelope.head.startswith("Chunk ID: 7c4332\n") and envelope.head.endswith("Output:\n")
        assert envelope.wrap(LOG) == codex_header(LOG, 1) and envelope.tail == ""

    def test_codex_truncation_preamble_and_running_session(self):
        """Codex's truncation warning joins the head; a running session has no exit status."""
        envelope = open_envelope(CODEX_PODS)
        assert envelope.head.endswith("Output:\nWarning: truncated output (original token count: 5779)\n"
                                      "Total output lines: 1\n\n")
        assert envelope.inner.startswith('{"apiVersion"') and envelope.exit_code == 0
        running = "Chunk ID: eca2ed\nWall time: 0.5008 seconds\nProcess running with session ID 90579\n" \
                  "Original token count: 0\nOutput:\n"
        assert open_envelope(running).exit_code is None and open_envelope(running).inner == ""

    def test_codex_apply_patch_nests_two_headers(self):
        """The apply_patch command's result has a header inside the header; both stay, exit 0."""
        text = ("Wall time: 0.0000 seconds\nOutput:\nExit code: 0\nWall time: 0 seconds\nOutput:\n"
                "Success. Updated the following files:\nM notes.txt\n")
        envelope = open_envelope(text)
        assert envelope.inner == "Success. Updated the following files:\nM notes.txt\n"
        assert envelope.exit_code == 0 and envelope.wrap(envelope.inner) == text

    def test_claude_code_reminders_are_the_tail(self):
        """Trailing <system-reminder> blocks (one or several) and the blank lines before them are the tail."""
        for tail in (REMINDER, REMINDER + "\n\n<system-reminder>\nsecond\n</system-reminder>\n"):
            envelope = open_envelope(LOG + tail)
            assert envelope is not None and envelope.inner == LOG.rstrip("\n") and envelope.wrap(envelope.inner) == LOG + tail
            assert envelope.tail.lstrip("\n").startswith("<system-reminder>") and envelope.tail.endswith(tail)

    def test_claude_code_exit_line_and_reminder(self):
        """A failed Bash result: "Exit code 1" is the head, the reminder the tail."""
        envelope = open_envelope(CLAUDE_TESTS)
        assert envelope.head == "Exit code 1\n" and envelope.exit_code == 1
        assert envelope.tail == REMINDER and envelope.wrap(envelope.inner) == CLAUDE_TESTS
        assert "... [" in envelope.inner and "characters truncated] ..." in envelope.inner  # the agent's cut stays inside

    def test_reminder_in_the_middle_is_output(self):
        """A reminder the output goes on after is part of the output, not a wrapper."""
        text = LOG + REMINDER + "\nmore output\n"
        assert open_envelope(text) is None

    def test_exit_status(self):
        """The exit status each wrapper reports, read from its head (or a JSON envelope's tail)."""
        assert exit_status(codex_header(LOG, 2)) == 2 and exit_status(CODEX_PODS) == 0
        assert exit_status(CLAUDE_TESTS) == 1 and exit_status(tagged(LOG, 3)) == 3
        assert exit_status(codex(LOG)) == 1 and exit_status(LOG) is None and exit_status(CLAUDE_PODS) is None


class TestPipelineOpensAgentWrappers:
    def test_json_behind_the_codex_header_is_sampled(self):
        """The listing Codex cut behind its header is sampled; header, warning and cut marker stay."""
        conv = conversation(CODEX_PODS)
        Pipeline(OPEN, default_routes()).run(conv, {})
        [change] = conv.changes
        head = open_envelope(CODEX_PODS).head
        assert change.by == "json_sampler" and change.new_text.startswith(head)
        assert "…13114 chars truncated…" in change.new_text and "checkout-017" in change.new_text
        assert len(change.new_text) < 0.3 * len(CODEX_PODS)
        assert conv.blocks[0].exit_code == 0

    def test_listing_before_a_reminder_is_sampled(self):
        """Claude Code's listing is JSON again once its reminder is set aside; the reminder stays."""
        conv = conversation(CLAUDE_PODS)
        Pipeline(OPEN, default_routes()).run(conv, {})
        [change] = conv.changes
        assert change.by == "json_sampler" and change.new_text.endswith(REMINDER)
        assert "CrashLoopBackOff" in change.new_text and len(change.new_text) < 0.1 * len(CLAUDE_PODS)

    def test_log_behind_the_codex_header_keeps_its_failures(self):
        """Codex's failing test run is compressed behind its header with its failure lines."""
        conv = conversation(CODEX_TESTS)
        Pipeline(OPEN, default_routes()).run(conv, {})
        [change] = conv.changes
        assert change.new_text.startswith(open_envelope(CODEX_TESTS).head)
        assert "FAILED test_suite.py::test_checkout_total - AssertionError: checkout total off by one" in change.new_text
        assert conv.blocks[0].exit_code == 1 and len(change.new_text) < 0.5 * len(CODEX_TESTS)
