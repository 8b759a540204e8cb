"""SearchCompressor: grep and ripgrep hits capped per file and overall, each file's path said once."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from extproc.compressors.content_types import detect
from extproc.compressors.search import SearchCompressor

from . import MARKER, block, content_lines, is_subsequence, load

HIT = re.compile(r"^(?P<path>[^\s:]+?):(?P<line>\d+):")
FILE_MARKER = re.compile(r"^\[trimwire: (\d+) more match(?:es)?(?: \(and (\d+) context lines?\))?(?: in (\S+))? omitted\]$")
CLOSING = re.compile(r"^\[trimwire: (\d+) more files? with (\d+) match(?:es)? omitted: (.+)\]$")


NUMBERED = re.compile(r"^\d+(?::\d+)?([:-])")


def ungrouped(out: str) -> str:
    """The output as grep printed it: each heading's path put back in front of the numbered lines
    under it (``path:12:text``, ``path-13-text``), as a reader of the heading layout would."""
    lines = out.split("\n")
    heading = None
    back = []
    for index, line in enumerate(lines):
        numbered = NUMBERED.match(line)
        if numbered and heading is not None:
            back.append(f"{heading}{numbered.group(1)}{line}")
            continue
        if line != "--":
            following = lines[index + 1] if index + 1 < len(lines) else ""
            heading = line if " " not in line and NUMBERED.match(following) and not MARKER.match(line) else None
            if heading is not None:
                continue
        back.append(line)
    return "\n".join(back)


def hits_per_file(text: str) -> Counter:
    return Counter(m.group("path") for m in map(HIT.match, text.split("\n")) if m)


@pytest.fixture
def search() -> SearchCompressor:
    return SearchCompressor()


class TestSearchCompressor:
    def test_grep_rn_caps_files_and_matches(self):
        """The first max_files files keep their first 8 hits each; every kept line is an original line."""
        text = load("grep_rn.txt")
        out = ungrouped(SearchCompressor(max_files=10, max_total_matches=0).compress(text))
        before, after = hits_per_file(text), hits_per_file(out)
        files = list(before)
        assert len(files) == 18
        assert list(after) == files[:10]
        assert all(after[path] == min(8, before[path]) for path in files[:10])
        assert is_subsequence(content_lines(out), text.split("\n"))
        assert len(out) < 0.5 * len(text)

    def test_file_markers_count_what_each_file_lost(self, search):
        """Each capped file gets one marker after its last kept hit with the exact count dropped."""
        text = load("grep_rn.txt")
        out = ungrouped(search.compress(text))
        before = hits_per_file(text)
        markers = {m.group(3): int(m.group(1)) for m in map(FILE_MARKER.match, out.split("\n")) if m}
        assert markers == {path: before[path] - 8 for path in before if before[path] > 8}
        assert not any(CLOSING.match(line) for line in out.split("\n"))  # 18 files: under the default 20
        assert ("urllib3/util/timeout.py:57:        This combines the connect and read timeouts into one; the read timeout\n"
                "[trimwire: 47 more matches in urllib3/util/timeout.py omitted]") in out

    def test_closing_marker_names_dropped_files(self):
        """Files past the cap are named, with their hit counts, in one marker at the end."""
        text = load("grep_rn.txt")
        out = SearchCompressor(max_files=10).compress(text)
        before = hits_per_file(text)
        dropped = list(before)[10:]
        closing = CLOSING.match(out.rstrip("\n").split("\n")[-1])
        assert int(closing.group(1)) == len(dropped)
        assert int(closing.group(2)) == sum(before[path] for path in dropped)
        assert closing.group(3) == ", ".join(f"{path} ({before[path]})" for path in dropped)

    def test_ripgrep_heading(self):
        """In --heading output, kept files keep their path line, hits and the blank line after them."""
        text = load("rg_heading.txt")
        out = SearchCompressor(max_files=2, max_matches_per_file=2, max_total_matches=0).compress(text)
        assert out.startswith(
            "aiohttp/web_ws.py\n20:    calculate_timeout_when,\n60:    import asyncio as async_timeout\n"
            "[trimwire: 32 more matches in aiohttp/web_ws.py omitted]\n\naiohttp/streams.py\n"
            "572:        self._timer.assert_timeout()\n\n[trimwire: 12 more files with 343 matches omitted: ")
        assert "aiohttp/client.py (84)" in out and "\naiohttp/client.py\n" not in out

    def test_grep_context_follows_its_hit(self):
        """grep -C context lines stay with the hit nearest them and go when it goes."""
        text = load("grep_context.txt")
        out = ungrouped(SearchCompressor(max_matches_per_file=1, max_total_matches=0).compress(text))
        assert ("urllib3/util/retry.py-18-    ProtocolError,\nurllib3/util/retry.py-19-    ProxyError,\n"
                "urllib3/util/retry.py:20:    ReadTimeoutError,\nurllib3/util/retry.py-21-    ResponseError,\n"
                "urllib3/util/retry.py-22-)\n"
                "[trimwire: 1 more match (and 4 context lines) in urllib3/util/retry.py omitted]") in out
        kept = content_lines(out)
        assert is_subsequence(kept, text.split("\n"))
        assert all(after[path] == 1 for after in [hits_per_file(out)] for path in after)

    def test_vimgrep_columns(self):
        """path:line:col: hits keep their column and are grouped like plain hits."""
        text = load("rg_vimgrep.txt")
        out = ungrouped(SearchCompressor(max_matches_per_file=3, max_total_matches=0).compress(text))
        assert "aiohttp/client.py:164:6:    \"ClientTimeout\",\n" in out
        assert "[trimwire: 10 more matches in aiohttp/client.py omitted]" in out
        assert "aiohttp/client.py:403:40:" not in out

    def test_single_file_grep_without_paths(self):
        """grep -n on one file prints line:text; the cap applies and the marker names no file."""
        text = "\n".join(f"{n}:    self._timeout = timeout  # site {n}" for n in range(10, 400, 7))
        out = SearchCompressor(max_matches_per_file=5, max_total_matches=5).compress(text)
        assert out.split("\n")[:5] == text.split("\n")[:5]
        assert out.split("\n")[5] == f"[trimwire: {len(text.split(chr(10))) - 5} more matches omitted]"

    def test_other_lines_are_kept(self):
        """Lines that are not hits (binary-file notices, summaries) stay where they were."""
        hits = [f"src/app/file{i}.py:{j}:    retry_budget = {j}" for i in range(30) for j in (1, 2)]
        text = "\n".join(["Binary file build/app.bin matches", *hits, "60 matches in 30 files"])
        out = SearchCompressor(max_files=5).compress(text)
        assert out.startswith("Binary file build/app.bin matches\n")
        assert "\n60 matches in 30 files\n" in out

    def test_few_files_share_the_total_budget(self, search):
        """A single-file grep keeps up to max_total_matches hits, not just max_matches_per_file."""
        lines = [f"{n}:    Note that the base class is immutable ({n})." for n in range(1, 451, 3)]
        out = search.compress("\n".join(lines))
        assert out.split("\n") == lines[:100] + ["[trimwire: 50 more matches omitted]"]
        assert search.compress("\n".join(lines[:19])) is None

    def test_lines_are_never_renumbered(self, search):
        """Every kept hit, its path put back from the heading above it, is a line exactly as grep printed it."""
        text = load("grep_rn.txt")
        original = set(text.split("\n"))
        back = ungrouped(search.compress(text)).split("\n")
        assert all(line in original for line in back if HIT.match(line)) and sum(map(bool, map(HIT.match, back))) > 80

    def test_small_results_keep_every_line_and_say_each_path_once(self, search):
        """Within the caps nothing is dropped: a file's run of lines goes under one heading (ripgrep's
        --heading layout) and reads back as the input exactly; a file with one line keeps its prefix."""
        text = load("grep_context.txt")
        out = search.compress(text)
        assert out is not None and len(out) < 0.8 * len(text) and not any(map(MARKER.match, out.split("\n")))
        assert out.startswith("urllib3/util/retry.py\n18-    ProtocolError,\n19-    ProxyError,\n20:    ReadTimeoutError,")
        assert ungrouped(out) == text
        assert search.compress("src/a.py:1:import os\nsrc/b.py:2:import os\n") is None

    def test_grep_without_line_numbers(self, search):
        """grep -r without -n (path:text) is search output too: paths said once, text exact."""
        hits = [("django/db/models/sql/compiler.py", "    def as_sql(self, with_limits=True):"),
                ("django/db/models/sql/compiler.py", "        sql, params = self.compile(self.where)"),
                ("django/db/models/expressions.py", "class ExpressionWrapper(Expression):"),
                ("django/db/models/expressions.py", "    def as_sql(self, compiler, connection):"),
                ("django/db/models/expressions.py", "        return compiler.compile(self.expression)"),
                ("django/db/models/lookups.py", "    def as_sql(self, compiler, connection):")]
        text = "\n".join(f"./{path}:{line}" for path, line in hits)
        assert detect(text) == "search"
        out = search.compress(text)
        assert out.split("\n") == ["./django/db/models/sql/compiler.py", hits[0][1], hits[1][1],
                                   "./django/db/models/expressions.py", hits[2][1], hits[3][1], hits[4][1],
                                   f"./{hits[5][0]}:{hits[5][1]}"]

    def test_pytest_node_ids_and_counts_are_not_search_hits(self):
        """tests/test_a.py::test_b PASSED is a test log line and grep -c's path:count a count, never a path:text hit."""
        text = "\n".join(f"tests/unit/test_api.py::TestApi::test_case_{n} PASSED  [{n:3d}%]" for n in range(40))
        assert detect(text) != "search"
        assert detect("\n".join(f"src/pkg/module_{n}.py:{n % 4}" for n in range(40))) != "search"

    def test_routed_only_search_output(self, search):
        """The router sends grep output here, not a log; the compressor does not ask again."""
        assert detect(load("grep_rn.txt")) == "search" and search.applies(block(load("grep_rn.txt")))
        assert detect(load("cargo_build.txt")) != "search"

    def test_deterministic(self, search):
        """The same text gives the same bytes every time."""
        text = load("rg_heading.txt")
        assert search.compress(text) == SearchCompressor().compress(text)


class TestContextWithoutHits:
    """Context lines whose hit is not in the output (``grep -n -A40 ... | tail``, a window of
    ``181-...`` lines) belong to no capped file: they are never dropped."""

    WINDOW = "\n".join(f"{number}-        value_{number} = compute({number})" for number in range(181, 221))

    def test_a_window_of_context_lines_stays_whole(self, search):
        assert search.compress(self.WINDOW) is None

    def test_orphan_context_stays_when_other_files_are_capped(self):
        hits = "\n".join(f"src/app.py:{number}:    call_{number}()" for number in range(1, 31))
        out = SearchCompressor(max_matches_per_file=2, max_total_matches=0).compress(self.WINDOW + "\n" + hits)
        assert out is not None and out.startswith(self.WINDOW + "\nsrc/app.py\n1:    call_1()\n2:")
        assert "[trimwire: 28 more matches in src/app.py omitted]" in out
