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


WIDE = """NAME                                  READY   STATUS             RESTARTS        AGE   IP             NODE                                        NOMINATED NODE   READINESS GATES
checkout-api-7c9d8f6b5-2xkqp          1/1     Running            0               3d    10.0.12.41     ip-10-0-12-7.eu-west-1.compute.internal     <none>           <none>
checkout-api-7c9d8f6b5-9wz4m          1/1     Running            0               3d    10.0.14.9      ip-10-0-14-22.eu-west-1.compute.internal    <none>           <none>
payments-worker-58f4d7c9b-kq7hn       0/1     CrashLoopBackOff   41 (2m13s ago)  5h    10.0.12.77     ip-10-0-12-7.eu-west-1.compute.internal     <none>           <none>
inventory-sync-28790415-j2x8d         0/1     Completed          0               14m   10.0.14.130    ip-10-0-14-22.eu-west-1.compute.internal    <none>           <none>
redis-master-0                        1/1     Running            0               12d   10.0.15.3      ip-10-0-15-90.eu-west-1.compute.internal    <none>           <none>
redis-replica-0                       1/1     Running            0               12d   10.0.12.18     ip-10-0-12-7.eu-west-1.compute.internal     <none>           <none>
redis-replica-1                       1/1     Running            0               12d   10.0.14.61     ip-10-0-14-22.eu-west-1.compute.internal    <none>           <none>
search-indexer-6d5b8c7f9-pl3zr        1/1     Running            2 (4d ago)      9d    10.0.15.44     ip-10-0-15-90.eu-west-1.compute.internal    <none>           <none>
"""


class TestSharedColumns:
    """Columns holding one value on every row are said once above the table (lossless)."""

    def test_a_column_with_one_value_on_every_row_is_said_once(self, table):
        """kubectl's NOMINATED NODE and READINESS GATES (<none> on every row) go into one marker."""
        out = table.compress(WIDE).split("\n")
        assert out[0] == '[trimwire: the same on every row of the table below, so left out: NOMINATED NODE "<none>", READINESS GATES "<none>"]'
        assert out[1] == WIDE.split("\n")[0][:WIDE.index("NOMINATED")].rstrip()
        assert out[2:] == [line[:WIDE.index("NOMINATED")].rstrip() for line in WIDE.split("\n")[1:]]

    def test_every_varying_value_is_kept(self, table):
        """Read back (the shared values put in their columns), every row is the original's cells."""
        out = table.compress(WIDE).split("\n")
        header, rows = WIDE.split("\n")[0], [line for line in WIDE.split("\n")[1:] if line]
        starts = [header.index(name) for name in ("NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE ")]
        ends = [*starts[1:], header.index("NOMINATED")]
        assert len(out) == len(rows) + 3 and out[-1] == ""  # marker, header, rows, the closing newline
        for original, kept in zip(rows, out[2:]):
            assert [kept[a:b].strip() for a, b in zip(starts, ends)] == [original[a:b].strip() for a, b in zip(starts, ends)]
            assert original[ends[-1]:].split() == ["<none>", "<none>"] and len(kept) <= ends[-1]

    def test_the_first_column_and_varying_columns_stay(self, table):
        """A table whose columns all vary (or whose only shared column is the first) is left alone."""
        assert table.compress("\n".join(WIDE.split("\n")[:4]) + "\n") is None  # 3 rows: a marker costs more
        varied = WIDE.replace("<none>           <none>", "<none>           1/1   ", 1)
        out = table.compress(varied)
        assert out is not None and "READINESS GATES" in out.split("\n")[1] and "NOMINATED NODE \"<none>\"" in out

    def test_a_long_table_is_cut_and_shares_its_columns(self, table):
        """Rows dropped from a long table are counted as before; the kept rows lose the shared column."""
        lines = PODS.split("\n")
        header = lines[0] + "   ZONE"
        rows = [line.ljust(len(lines[0])) + "   eu-west-1a" if line.strip() else line for line in lines[1:]]
        out = table.compress("\n".join([header, *rows]))
        assert out.split("\n")[0].endswith('ZONE "eu-west-1a"]') and "eu-west-1a" not in out.split("\n", 1)[1]
        assert markers(out)
