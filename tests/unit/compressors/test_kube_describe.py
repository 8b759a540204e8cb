"""DescribeCompressor and its type: kubectl describe keeps every field and folds only the bulk."""

from __future__ import annotations

import re

import pytest

from extproc.compressors import default_routes
from extproc.compressors.content_types import detect
from extproc.compressors.kube_describe import DescribeCompressor
from extproc.pipeline import Pipeline, Policy

from ..test_pipeline import conversation
from . import is_subsequence, load

POD = load("kubectl_describe_pod.txt")
NODE = load("kubectl_describe_node.txt")
MARKER = re.compile(r"^ *\[trimwire: (\d+) (?:more (\w+)|rows?|Normal events?) omitted(?: \((\w+): (.+)\))?\]$")
CUT = re.compile(r"^(.*) \[trimwire: (\d+) more characters omitted\]$")


@pytest.fixture
def describe() -> DescribeCompressor:
    return DescribeCompressor()


def kept_lines(out: str) -> list[str]:
    return [line for line in out.split("\n") if not MARKER.match(line) and not CUT.match(line)]


class TestDetection:
    def test_describe_output_is_its_own_type(self):
        """Pods and nodes are kube_describe; a kubectl get table and a short Name: note are not."""
        assert detect(POD) == detect(NODE) == "kube_describe"
        assert detect(load("kubectl_get_pods.txt")) != "kube_describe"
        assert detect("Name: Ada Lovelace\nRole: analyst\nTeam: engines\n") != "kube_describe"

    def test_the_pipeline_offers_it_to_the_describe_compressor(self):
        """Through the default routes a describe block is rewritten by kube_describe."""
        conv = conversation(POD, NODE)
        Pipeline(Policy(protected_tools=(), min_block_chars=0), default_routes()).run(conv, {})
        assert [change.by for change in conv.changes] == ["kube_describe", "kube_describe"]


class TestDescribeCompressor:
    def test_fields_that_matter_are_kept_exactly(self, describe):
        """Names, images, states, reasons, exit codes, conditions and every warning survive."""
        out = describe.compress(POD)
        assert out is not None and len(out) < len(POD) * 0.7
        for line in POD.split("\n"):
            if re.match(r" *(?:Name|Namespace|Service Account|Node|Image|Image ID|State|Last State|Reason|"
                        r"Exit Code|Restart Count|Ready|Status|Controlled By):", line) or "Warning" in line:
                assert line in out.split("\n"), line
        assert "  Ready                       False" in out.split("\n")

    def test_kept_lines_are_original_and_markers_add_up(self, describe):
        """Kept lines are the original's, in order; each marker counts what it replaced."""
        for text in (POD, NODE):
            out = describe.compress(text)
            assert is_subsequence(kept_lines(out), text.split("\n"))
            omitted = sum(int(m.group(1)) for m in map(MARKER.match, out.split("\n")) if m)
            assert len(kept_lines(out)) + omitted == len(text.split("\n")) - sum(1 for _ in map(CUT.match, out.split("\n")) if _)

    def test_labels_fold_and_the_blob_is_cut(self, describe):
        """Eleven labels keep three and count eight; the last-applied blob keeps its start."""
        out = describe.compress(POD).split("\n")
        assert "                  [trimwire: 8 more labels omitted]" in out
        [cut] = [CUT.match(line) for line in out if CUT.match(line)]
        assert cut.group(1) in POD and '{"apiVersion":"apps/v1"' in cut.group(1)

    def test_normal_events_fold_with_their_reasons(self, describe):
        """Runs of Normal events become markers counting them by reason; warnings stay in place."""
        out = describe.compress(POD).split("\n")
        reasons = [m.group(4) for m in map(MARKER.match, out) if m and m.group(3) == "Reason"]
        assert reasons and all("Pulled" in named for named in reasons)
        assert out[-2].startswith("  Warning  BackOff")

    def test_a_pod_the_question_names_is_kept(self, describe):
        """A row or label holding a context term stays, though it lies in the folded middle."""
        row = next(line for line in NODE.split("\n") if "monitoring-worker-24" in line)
        assert row not in describe.compress(NODE)
        assert row in describe.compress_for(NODE, ("monitoring-worker-24-7f9c18",)).split("\n")
        assert "tier=backend" in describe.compress_for(POD, ("backend",))

    def test_long_tables_keep_their_ends(self, describe):
        """The pod table keeps its header, rule, first and last rows and counts the rest by namespace."""
        out = describe.compress(NODE).split("\n")
        marker = next(m for m in map(MARKER.match, out) if m and m.group(3) == "Namespace")
        assert int(marker.group(1)) == 43 and "shop" in marker.group(4)
        assert "  DiskPressure     True " in "\n".join(out)

    def test_short_describe_output_is_left_alone(self, describe):
        """Nothing long enough to fold: None, the block stays byte-identical."""
        short = "\n".join(POD.split("\n")[:6] + ["Labels:           app=checkout", "Events:           <none>"])
        assert describe.compress(short) is None

    def test_deterministic(self, describe):
        assert describe.compress(NODE) == DescribeCompressor().compress(NODE)

    def test_settings_are_checked(self):
        with pytest.raises(ValueError):
            DescribeCompressor(max_rows=3, head_rows=3, tail_rows=2)
