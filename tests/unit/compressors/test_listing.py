"""ListingCompressor and its type: ls -l rows say the owner, group and date they share once."""

from __future__ import annotations

import re

import pytest

from extproc.compressors import default_routes
from extproc.compressors.content_types import detect
from extproc.compressors.listing import ListingCompressor
from extproc.pipeline import Pipeline, Policy

from ..test_pipeline import conversation
from . import load

LISTING = load("ls_la.txt")
MARKER = re.compile(r'^\[trimwire: in the ls -l rows below, (.+) left out; rows that differ shown whole\]$')
SAID = re.compile(r'(owner|group|date) "([^"]*)"')
LS_ROW = re.compile(r"^(?P<mode>\S{10}) +(?P<links>\d+) (?P<owner>\S+) +(?P<group>\S+) +(?P<size>\d+) "
                    r"(?P<date>\w{3} [ \d]\d (?: \d{4}|\d\d:\d\d)) (?P<name>.+)$")


@pytest.fixture
def listing() -> ListingCompressor:
    return ListingCompressor()


def values(out: str) -> list[tuple[str, ...]]:
    """Every row of ``out`` as (mode, links, owner, group, size, date, name), the marker's values
    put back into rows shown without them; other lines as they are."""
    lines = out.split("\n")
    said = dict(SAID.findall(next(MARKER.match(line).group(1) for line in lines if MARKER.match(line))))
    rows = []
    for line in lines:
        if MARKER.match(line):
            continue
        whole = LS_ROW.match(line)
        if whole:
            rows.append(whole.group("mode", "links", "owner", "group", "size", "date", "name"))
        elif line[:1] in "-dl" and len(line) > 10:
            mode, links, size, name = line.split(maxsplit=3)
            rows.append((mode, links, said["owner"], said["group"], size, said["date"], name))
        else:
            rows.append((line,))
    return rows


def original_values(text: str) -> list[tuple[str, ...]]:
    return [row.group("mode", "links", "owner", "group", "size", "date", "name") if (row := LS_ROW.match(line))
            else (line,) for line in text.split("\n")]


class TestDetection:
    def test_ls_l_output_is_a_listing(self):
        """ls -la, and ls -la after pwd, are listings; a kubectl table, plain ls and prose are not."""
        assert detect(LISTING) == detect("/srv/app\n" + LISTING) == "listing"
        assert detect(load("kubectl_get_pods.txt")) != "listing"
        assert detect("README.rst\nsetup.cfg\nsrc\ntests\ntox.ini\n") != "listing"
        assert detect("The files are owned by root and were changed on Mar 14.\n" * 5) != "listing"

    def test_the_pipeline_offers_it_to_the_listing_compressor(self):
        """Through the default routes an ls -la block is rewritten by listing."""
        conv = conversation(LISTING)
        Pipeline(Policy(protected_tools=(), min_block_chars=0), default_routes()).run(conv, {})
        assert [change.by for change in conv.changes] == ["listing"]


class TestListingCompressor:
    def test_shared_columns_are_said_once(self, listing):
        """Owner, group and date shared by most rows go into one marker above the first row."""
        out = listing.compress(LISTING).split("\n")
        assert out[:3] == ["total 412", '[trimwire: in the ls -l rows below, owner "app", group "app", date '
                           '"Mar 14  2025" left out; rows that differ shown whole]', "drwxr-xr-x 1    4096 ."]
        # the size column keeps its alignment
        assert "-rw-r--r-- 1   61870 CHANGES.rst" in out and "-rw-r--r-- 1     312 .coveragerc" in out

    def test_rows_that_differ_and_every_name_stay_exact(self, listing):
        """Rows owned by root or of another date stay whole; a symlink and a name with spaces keep every byte."""
        out = listing.compress(LISTING).split("\n")
        assert "drwxr-xr-x 1 root root  4096 Nov  2 09:41 .." in out
        assert "drwxr-xr-x 2 root root  4096 Nov  2 09:44 reports" in out
        assert "lrwxrwxrwx 1      14 setup.cfg -> conf/setup.cfg" in out
        assert "-rw-r--r-- 1     118 release notes (draft).txt" in out

    def test_every_value_reads_back(self, listing):
        """With the marker's values put back, every row holds the original's values, in order."""
        out = listing.compress(LISTING)
        assert values(out) == original_values(LISTING) and len(out) < 0.8 * len(LISTING)

    def test_a_few_rows_are_left_alone(self, listing):
        """A listing of a handful of rows is not worth a marker."""
        assert listing.compress("\n".join(LISTING.split("\n")[:5])) is None

    def test_nothing_shared_leaves_it_alone(self, listing):
        """When no owner, group or date holds on enough rows, nothing changes."""
        rows = [f"-rw-r--r-- 1 user{n} grp{n} {100 + n} Jan {n + 1:2d} 10:0{n % 10} file{n}.txt" for n in range(20)]
        assert listing.compress("\n".join(rows)) is None

    def test_deterministic(self, listing):
        """The same text gives the same bytes every time."""
        assert listing.compress(LISTING) == ListingCompressor().compress(LISTING)
