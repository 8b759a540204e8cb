"""DiffCompressor: every header and +/- line kept, context trimmed with markers, huge files capped."""

from __future__ import annotations

import re

import pytest

from extproc.compressors.content_types import detect
from extproc.compressors.diff import DiffCompressor

from . import block, content_lines, is_subsequence, load

GAP = re.compile(r"^\[trimwire: (\d+) unchanged lines? omitted\]$")
CAP = re.compile(r"^\[trimwire: (\d+) more diff lines of (\S+) omitted "
                 r"\((\d+) hunks?, (\d+) added, (\d+) removed, (\d+) unchanged\)\]$")
HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def changed_lines(text: str) -> list[str]:
    """Headers, hunk headers and +/- lines: what must survive any trimming."""
    return [line for line in text.split("\n")
            if line.startswith(("diff --git", "index ", "--- ", "+++ ", "@@", "new file", "deleted file"))
            or (line[:1] in "+-" and line)]


def hunks(text: str) -> list[list[str]]:
    """The lines after each hunk header up to the next header or file."""
    out: list[list[str]] = []
    for line in text.split("\n"):
        if HUNK.match(line):
            out.append([])
        elif line.startswith("diff --git"):
            out.append(None)
        elif out and out[-1] is not None:
            out[-1].append(line)
    return [h for h in out if h is not None]


@pytest.fixture
def diff() -> DiffCompressor:
    return DiffCompressor()


def hunk(before: list[str], removed: str, added: str, after: list[str]) -> str:
    """One file's diff with one hunk: context lines, a change, context lines."""
    body = [" " + line for line in before] + [removed, added] + [" " + line for line in after]
    count = len(before) + 1 + len(after)
    return "\n".join(["diff --git a/src/pool.py b/src/pool.py", "--- a/src/pool.py", "+++ b/src/pool.py",
                      f"@@ -40,{count} +40,{count} @@", *body])


class TestDiffCompressor:
    def test_context_trimmed_to_one_line(self, diff):
        """In a -U8 diff every change keeps one line of context and each trimmed run is one marker."""
        text = load("git_diff_u8.txt")
        out = diff.compress(text)
        assert changed_lines(out) == changed_lines(text)
        assert is_subsequence(content_lines(out), text.split("\n"))
        assert "@@ -113,22 +113,16 @@ def _default_key_normalizer(\n[trimwire: 7 unchanged lines omitted]\n" \
               "     context = request_context.copy()\n-    context[\"scheme\"]" in out
        assert len(out) < 0.6 * len(text)

    def test_hunk_line_counts_still_add_up(self, diff):
        """Kept lines plus the counts in gap markers give back each hunk's length."""
        text = load("git_diff_u8.txt")
        for before, after in zip(hunks(text), hunks(diff.compress(text))):
            gaps = sum(int(m.group(1)) for m in map(GAP.match, after) if m)
            assert len(after) - sum(1 for line in after if GAP.match(line)) + gaps == len(before)

    def test_two_short_context_lines_stay(self, diff):
        """git's 3 lines of context leave runs of 2 to drop: short ones cost less than a marker and stay."""
        assert diff.compress(hunk(["}", "", "x = 1"], "-y = 2", "+y = 3", ["", "z", "}"])) is None

    def test_two_long_context_lines_become_a_marker(self, diff):
        """Two context lines holding well over a marker's characters go, counted, at each hunk edge."""
        before = ["    connection_pool_kw = dict(self.connection_pool_kw, timeout=timeout)",
                  "    pool = self.connection_from_host(host, port, scheme=scheme, pool_kwargs=kw)",
                  "    response = pool.urlopen(method, url, retries=retries, **urlopen_kw)"]
        text = hunk(before, "-    return response", "+    return response.release_conn()", before[::-1])
        out = diff.compress(text).split("\n")
        assert out[4] == "[trimwire: 2 unchanged lines omitted]" and out[5] == " " + before[2]
        assert out[-1] == "[trimwire: 2 unchanged lines omitted]" and out[-2] == " " + before[2]
        assert "-    return response" in out and "+    return response.release_conn()" in out

    def test_lockfile_is_capped_with_counts(self, diff):
        """A lockfile keeps its headers and first 20 body lines; one marker counts what went."""
        text = load("git_diff.txt")
        out = diff.compress(text)
        lock = text[text.index("diff --git a/web/package-lock.json"):]
        body = lock.split("\n")[4:]
        marker = CAP.match(out.rstrip("\n").split("\n")[-1])
        assert marker and marker.group(2) == "web/package-lock.json"
        rest = body[20:-1]
        assert int(marker.group(1)) == len(rest)
        assert int(marker.group(3)) == sum(1 for line in rest if line.startswith("@@"))
        assert int(marker.group(4)) == sum(1 for line in rest if line.startswith("+"))
        assert int(marker.group(5)) == sum(1 for line in rest if line.startswith("-"))
        assert "\n".join(lock.split("\n")[:24]) in out
        assert len(out) < 0.1 * len(text)

    def test_large_file_cap(self):
        """A source file with a long diff keeps max_file_lines body lines and names itself in the marker."""
        removed = "\n".join(f"-    legacy_handler_{i}()" for i in range(500))
        text = ("diff --git a/src/legacy.py b/src/legacy.py\ndeleted file mode 100644\nindex 3f2a1c9..0000000\n"
                "--- a/src/legacy.py\n+++ /dev/null\n@@ -1,500 +0,0 @@\n" + removed + "\n")
        out = DiffCompressor(max_file_lines=50).compress(text)
        assert "-    legacy_handler_48()\n[trimwire: 451 more diff lines of src/legacy.py omitted " \
               "(0 hunks, 0 added, 451 removed, 0 unchanged)]" in out
        assert out.startswith("diff --git a/src/legacy.py b/src/legacy.py\ndeleted file mode 100644\n")

    def test_removed_line_that_looks_like_a_header(self, diff):
        """A removed '-- comment' line (shown as '--- comment') inside a hunk stays a removed line."""
        context = "\n".join(f" SELECT {i};" for i in range(12))
        text = ("diff --git a/db/schema.sql b/db/schema.sql\nindex 1111111..2222222 100644\n--- a/db/schema.sql\n"
                "+++ b/db/schema.sql\n@@ -1,26 +1,25 @@\n" + context + "\n--- drop me\n" + context + "\n+++ added\n"
                "-gone\n")
        out = diff.compress(text)
        assert "\n--- drop me\n" in out and "\n+++ added\n-gone\n" in out
        assert "[trimwire: 11 unchanged lines omitted]\n SELECT 11;\n--- drop me\n SELECT 0;\n" \
               "[trimwire: 10 unchanged lines omitted]\n SELECT 11;\n+++ added\n-gone\n" in out

    def test_git_log_commit_headers_survive_caps(self):
        """Commit headers between files of git log -p are never hidden by a file's cap."""
        added = "\n".join(f"+line {i}" for i in range(100))
        one = "diff --git a/a.txt b/a.txt\nindex 1..2 100644\n--- a/a.txt\n+++ b/a.txt\n@@ -0,0 +1,100 @@\n" + added
        text = f"commit 4e1f0c2\nAuthor: Dev <dev@example.com>\n\n    Add a\n\n{one}\ncommit 9ab33d1\n\n    Fix b\n\n{one}\n"
        out = DiffCompressor(max_file_lines=10).compress(text)
        assert "commit 4e1f0c2" in out and "commit 9ab33d1\n\n    Fix b\n" in out
        assert out.count("[trimwire: 91 more diff lines of a.txt omitted (0 hunks, 91 added, 0 removed, 0 unchanged)]") == 2

    def test_plain_unified_diff(self, diff):
        """diff -u output without git headers is handled the same way."""
        body = "\n".join(f" keep {i}" for i in range(10))
        text = (f"--- config.ini.orig\t2024-07-31 09:00:00\n+++ config.ini\t2024-07-31 09:05:00\n"
                f"@@ -1,21 +1,21 @@\n{body}\n-timeout = 30\n+timeout = 60\n{body}\n")
        out = diff.compress(text)
        assert "-timeout = 30\n+timeout = 60\n keep 0\n[trimwire: 9 unchanged lines omitted]" in out

    def test_small_diff_is_left_alone(self, diff):
        """A default-context diff of one small change has nothing worth trimming."""
        text = ("diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1,5 +1,5 @@\n"
                " a\n b\n-c\n+C\n d\n e\n")
        assert diff.compress(text) is None

    def test_routed_only_diffs(self, diff):
        """The router sends a diff here, not a search result; the compressor does not ask again."""
        assert detect(load("git_diff.txt")) == "diff" and diff.applies(block(load("git_diff.txt")))
        assert detect(load("grep_rn.txt")) != "diff"

    def test_deterministic(self, diff):
        """The same text gives the same bytes every time."""
        text = load("git_diff.txt")
        assert diff.compress(text) == DiffCompressor().compress(text)
