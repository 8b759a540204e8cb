"""Properties of the line-based compressors and of harness envelopes over generated text: they never
raise, every kept line is an original line in its original order, markers are the only new lines,
and an envelope always puts its wrapped text back byte for byte."""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extproc.compressors import LogCompressor, RepeatFolder, TableCompressor
from extproc.pipeline.envelope import open_envelope

from .compressors import is_subsequence

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MARKER = re.compile(r"^\[trimwire: .*\]$")

# Lines that look like what tools print: retries with times and addresses, statuses, noise.
words = st.sampled_from(["error", "Connection", "ok", "retry", "FAILED", "PASSED", "status", "pod", "done",
                         "Running", "CrashLoopBackOff", "warning:", "Downloading", "  at", "=="])
stamps = st.builds(lambda h, m, s: f"2025-06-20 {h:02d}:{m:02d}:{s:02d}", st.integers(0, 23), st.integers(0, 59),
                   st.integers(0, 59))
addresses = st.integers(0, 2**48).map(lambda n: f"0x{n:x}")
line = st.builds(lambda parts: " ".join(parts), st.lists(words | stamps | addresses | st.text(max_size=8), max_size=6))
lines = st.lists(line | st.just("") | st.just("Connection error at 0x7f00 - Time: 2025-06-20 10:00:00"),
                 min_size=0, max_size=120)


def kept_in_order(out: str, text: str) -> bool:
    return is_subsequence([ln for ln in out.split("\n") if not MARKER.match(ln)], text.split("\n"))


class TestLineCompressors:
    @PROPERTY
    @given(lines=lines)
    def test_repeat_folder_keeps_original_lines_in_order(self, lines):
        """Folding only drops lines and adds markers, and answers only when the text gets shorter."""
        text = "\n".join(lines)
        out = RepeatFolder().compress(text)
        assert out is None or (kept_in_order(out, text) and len(out) < len(text))

    @PROPERTY
    @given(lines=lines)
    def test_log_compressor_keeps_original_lines_in_order(self, lines):
        """The log compressor with similar-run folding keeps original lines only, in order."""
        text = "\n".join(lines)
        out = LogCompressor().compress(text)
        assert out is None or (kept_in_order(out, text) and len(out) < len(text))

    @PROPERTY
    @given(rows=st.lists(st.tuples(st.text("abcdefgh-0123456789", min_size=1, max_size=20),
                                   st.sampled_from(["Running", "Pending", "Error", "Completed", "CrashLoopBackOff"]),
                                   st.integers(0, 500)), min_size=0, max_size=80))
    def test_table_keeps_header_and_original_rows(self, rows):
        """A generated kubectl-style table keeps its header first and original rows in order."""
        text = "\n".join(["NAME                     STATUS             RESTARTS"]
                         + [f"{name:<25}{status:<19}{restarts}" for name, status, restarts in rows])
        out = TableCompressor().compress(text)
        if out is not None:
            assert out.split("\n")[0] == text.split("\n")[0] and kept_in_order(out, text)
            assert all("Running" in row or row in out.split("\n")
                       for row in text.split("\n")[1:] if "CrashLoopBackOff" in row or "Error" in row)


class TestEnvelopes:
    @PROPERTY
    @given(inner=st.builds(lambda a, b: a + "\n" + b, st.text(max_size=150), st.text(max_size=150)), extra=st.dictionaries(
        st.text(max_size=6), st.integers() | st.text(max_size=4), max_size=3), ascii_=st.booleans())
    def test_json_envelope_round_trips(self, inner, extra, ascii_):
        """Any output string in a JSON envelope is found, and wrap(inner) gives the original text back."""
        text = json.dumps({"output": inner, **{k: v for k, v in extra.items() if k != "output"}}, ensure_ascii=ascii_)
        envelope = open_envelope(text)
        if envelope is not None:
            assert envelope.wrap(envelope.inner) == text and json.loads(envelope.wrap("x\n"))["output"] == "x\n"

    @PROPERTY
    @given(inner=st.text(max_size=300), code=st.integers(-3, 300))
    def test_tagged_envelope_round_trips(self, inner, code):
        """mini-swe-agent's tags around any text are opened and closed again byte for byte."""
        text = f"<returncode>{code}</returncode>\n<output>\n{inner}</output>"
        envelope = open_envelope(text)
        if "<output>" not in inner and "</output>" not in inner:
            assert envelope is not None and envelope.inner == inner and envelope.wrap(inner) == text

    @PROPERTY
    @given(inner=st.text(max_size=300), code=st.integers(-3, 300), reminders=st.lists(st.text(max_size=40), max_size=2))
    def test_agent_wrappers_round_trip(self, inner, code, reminders):
        """Codex's header and Claude Code's trailing reminders around any text: opened, the exit status
        read, and put back byte for byte; wrapping new text keeps them as they were."""
        head = f"Chunk ID: 1a2b3c\nWall time: 0.1 seconds\nProcess exited with code {code}\nOutput:\n"
        tail = "".join(f"\n\n<system-reminder>\n{r.replace('<', '(')}\n</system-reminder>" for r in reminders)
        text = head + inner + tail
        envelope = open_envelope(text)
        assert envelope is not None and envelope.wrap(envelope.inner) == text and envelope.exit_code == code
        assert envelope.wrap("x").startswith(head) and envelope.wrap("x").endswith(tail)
