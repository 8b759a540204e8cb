"""Tool output wrapped by its harness (Codex JSON, mini-swe-agent tags) is compressed inside the wrapper."""

from __future__ import annotations

import json

from extproc import Settings
from extproc.compressors import default_routes
from extproc.pipeline import Pipeline, Policy
from extproc.pipeline.envelope import open_envelope

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


class TestPipelineOpensEnvelopes:
    def test_wrapped_log_is_compressed_and_stays_wrapped(self):
        """A log inside a Codex envelope reaches the log compressor; the metadata is byte-identical."""
        text = codex(LOG)
        conv = conversation(text)
        Pipeline(OPEN, default_routes(Settings())).run(conv, {})
        [change] = conv.changes
        assert change.by == "logs" and len(change.new_text) < len(text)
        assert change.new_text.endswith(', "metadata": {"exit_code": 1, "duration_seconds": 3.2}}')
        inner = json.loads(change.new_text)["output"]
        assert "[trimwire: " in inner and "failed" in inner

    def test_tagged_log_is_compressed_inside_the_tags(self):
        """A log inside mini-swe-agent tags is compressed and the tags stay as they were."""
        conv = conversation(tagged(LOG))
        Pipeline(OPEN, default_routes(Settings())).run(conv, {})
        [change] = conv.changes
        assert change.new_text.startswith("<returncode>1</returncode>\n<output>\n")
        assert change.new_text.endswith("</output>") and "[trimwire: " in change.new_text

    def test_wrapped_code_is_untouched(self):
        """What is wrapped is routed by its own type: source code in an envelope stays as it was."""
        code = "def main():\n    value = compute()\n    return value\n\n" * 20
        conv = conversation(codex(code), tagged(code, 0))
        Pipeline(OPEN, default_routes(Settings())).run(conv, {})
        assert not conv.changed
