"""TableCompressor: long kubectl-style tables keep their header, ends and rows that stand out."""

from __future__ import annotations

import re

import pytest

from extproc.compressors.table import TableCompressor

from . import block, is_subsequence, load

ROWS = re.compile(r"^\[trimwire: (\d+) rows? omitted(?: \((\w+): (.+)\))?\]$")
PODS = load("kubectl_get_pods.txt")


@pytest.fixture
def table() -> TableCompressor:
    return TableCompressor()


def markers(out: str) -> list[re.Match]:
    return [m for m in map(ROWS.match, out.split("\n")) if m]


class TestTableCompressor:
    def test_rows_that_stand_out_are_kept(self, table):
        """Every row not Running survives, byte for byte, with the header and the first and last rows."""
        assert table.applies(block(PODS))
        out = table.compress(PODS)
        kept = out.split("\n")
        lines = PODS.split("\n")
        assert kept[0] == lines[0] and kept[1:6] == lines[1:6] and kept[-4:] == lines[-4:]
        for line in lines:
            if line.strip() and "Running" not in line:
                assert line in kept
        assert is_subsequence([line for line in kept if not ROWS.match(line)], lines)

    def test_markers_count_omitted_rows_by_status(self, table):
        """The markers add up to the rows that are gone and say which status they had."""
        out = table.compress(PODS)
        found = markers(out)
        assert found and all(m.group(2) == "STATUS" and m.group(3).endswith("Running") for m in found)
        total_rows = PODS.count("\n") - 1
        kept_rows = sum(1 for line in out.split("\n")[1:] if line.strip() and not ROWS.match(line))
        assert sum(int(m.group(1)) for m in found) + kept_rows == total_rows

    def test_short_tables_are_left_alone(self, table):
        """A table with no more rows than max_rows is not changed."""
        short = "\n".join(PODS.split("\n")[:25])
        assert table.compress(short) is None

    def test_each_table_of_several_is_cut_on_its_own(self, table):
        """Tables separated by a blank line (kubectl get all) are handled one by one; the blank stays."""
        text = PODS.rstrip("\n") + "\n\n" + PODS
        out = table.compress(text)
        assert out.count("NAMESPACE     NAME") == 2 and "\n\n" in out and len(markers(out)) >= 2

    def test_rows_that_break_the_columns_leave_it_alone(self, table):
        """If a row runs across a column start, the table is not parsed and nothing changes."""
        lines = PODS.split("\n")
        lines[10] = lines[10].replace("     ", "xxxxx")
        assert table.compress("\n".join(lines)) is None

    def test_deterministic(self, table):
        """The same text gives the same bytes every time."""
        assert table.compress(PODS) == table.compress(PODS)
