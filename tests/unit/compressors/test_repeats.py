"""RepeatFolder and similar_runs: runs of lines that differ only in times, addresses and ids."""

from __future__ import annotations

import re

from extproc.compressors.content_types import default_routes, detect
from extproc.compressors.logs import LogCompressor
from extproc.compressors.repeats import RepeatFolder, similar_runs, template
from extproc.pipeline.router import ContentType

from . import block, is_subsequence

FOLDED = re.compile(r"^\[trimwire: (\d+) similar lines? omitted \(like the lines around them but for times, "
                    r"addresses and ids\)\]$")


def retry_log(count: int) -> list[str]:
    return [f"Connection error: pool at 0x7f59{index:08x}: failed to resolve 'db.svc' - Time: 2025-06-20 13:{index // 60:02d}:{index % 60:02d}"
            for index in range(count)]


class TestTemplate:
    def test_times_addresses_and_ids_are_masked(self):
        """Timestamps, clock times, 0x addresses, UUIDs, hex ids and fractions do not make lines differ."""
        assert template("at 0x7f59 2025-06-20T13:14:30Z took 0.25s id 3f2a9c1b7e") == \
            template("at 0xdead 2026-01-01T00:00:00Z took 1.5s id 0a1b2c3d4e")
        assert template("req 123e4567-e89b-12d3-a456-426614174000 done") == \
            template("req 00000000-0000-0000-0000-000000000000 done")

    def test_whole_numbers_and_words_still_count(self):
        """Status codes, counts, test ids and words keep lines apart."""
        assert template("status 200") != template("status 500")
        assert template("FAILED tests/test_x.py::test_a[1]") != template("FAILED tests/test_x.py::test_a[2]")
        assert template("pod api-1 Running") != template("pod api-2 Running")


class TestSimilarRuns:
    def test_run_with_blank_lines_between(self):
        """Blank lines inside a run belong to it; the run is reported as first, last and its size."""
        lines = ["start"] + [line for entry in retry_log(5) for line in (entry, "")] + ["done"]
        assert similar_runs(lines) == [(1, 9, 5)]

    def test_short_runs_and_excluded_lines(self):
        """Runs under the minimum are not reported, and excluded lines break runs."""
        lines = retry_log(6)
        assert similar_runs(lines[:3]) == []
        assert similar_runs(lines, exclude={3}) == []
        assert similar_runs(lines, exclude={5}) == [(0, 4, 5)]


class TestRepeatFolder:
    def test_keeps_first_and_last_of_a_run(self):
        """A retry loop becomes its first line, a marker with the count, and its last line."""
        lines = ["Starting connection tests to http://db.svc", "Press Ctrl+C to stop"] + retry_log(40)
        text = "\n".join(lines) + "\n"
        assert detect(text) is ContentType.TEXT and RepeatFolder().applies(block(text))
        out = RepeatFolder().compress(text)
        kept = out.split("\n")
        assert kept[:3] == lines[:3] and kept[-2:] == [lines[-1], ""]
        [marker] = [line for line in kept if line.startswith("[trimwire")]
        assert int(FOLDED.match(marker).group(1)) == 38
        assert is_subsequence([line for line in kept if line != marker], text.split("\n"))

    def test_nothing_similar_means_no_change(self):
        """Text without a run of similar lines is left alone (None)."""
        text = "\n".join(f"pod api-{index} Running 0 restarts" for index in range(20))
        assert RepeatFolder().compress(text) is None

    def test_only_plain_text_is_routed_here(self):
        """The folder is offered plain text only (code is not); logs fold similar lines themselves."""
        assert detect("def f():\n    return 1\n" * 10) is ContentType.CODE
        assert "repeats" not in [c.name for c in default_routes().get(ContentType.CODE, ())]


class TestLogCompressorFolds:
    def test_similar_errors_are_folded_tracebacks_are_not(self):
        """Repeated error lines that differ in times fold to first, marker, last; a traceback stays whole."""
        trace = ["Traceback (most recent call last):", '  File "app.py", line 3, in <module>',
                 "    main()", "ValueError: bad input at 2025-06-20 13:14:30"]
        lines = ["INFO booting"] * 1 + [f"INFO worker {i} ready" for i in range(12)] + retry_log(50) + trace
        text = "\n".join(lines)
        out = LogCompressor().compress(text)
        kept = out.split("\n")
        assert retry_log(50)[0] in kept and retry_log(50)[-1] in kept
        assert sum(line.startswith("Connection error") for line in kept) == 2
        assert "48 like the lines around them but for times, addresses and ids" in out
        assert "\n".join(trace) in out
