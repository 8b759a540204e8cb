"""Golden outputs: what each compressor makes of a small realistic input, pinned beside the cache
schema version they were made under.

The block cache reuses a result for as long as its key is the same, and the key holds the
compressor settings and ``_CACHE_SCHEMA``, not the code. So a change to what a compressor makes of
the same input must come with a ``_CACHE_SCHEMA`` bump, or servers and the shared cache would keep
handing out the old results beside the new ones. ``test_golden.py`` fails when an output here
changed under the same schema version. After a deliberate change: bump ``_CACHE_SCHEMA``
(``extproc/pipeline/core.py``), then run ``REGENERATE``, which refuses to overwrite a changed
output until the version is bumped.

Each case is a compressor (default settings), an input from ``inputs/`` and the context terms the
block holds; ``<case>.txt`` holds the header lines (the schema version and a digest of the
compressor's settings among them), a blank line, then the output exactly (or ``NONE`` when the
compressor left the block alone). A changed default setting changes the key by itself: its new
output is written without a bump.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from extproc.compressors import (
    DiffCompressor,
    HtmlCompressor,
    JsonCompactor,
    JsonSampler,
    LogCompressor,
    RepeatFolder,
    SearchCompressor,
    TableCompressor,
)
from extproc.compressors.kompress import load_kompress
from extproc.compressors.kube_describe import DescribeCompressor
from extproc.compressors.listing import ListingCompressor
from extproc.config import KompressSettings
from extproc.pipeline import _CACHE_SCHEMA, BlockInputs, Budget, Compressor, config_version
from extproc.pipeline.router import ContentType
from tests.shelf import SHELF

__all__ = ["CASES", "Case", "Golden", "REGENERATE", "read_golden", "render"]

HERE = Path(__file__).parent
INPUTS = HERE / "inputs"
REGENERATE = ".venv/bin/python -m tests.unit.golden"
_NONE = "NONE"

# The tiny Kompress model of tests/unit/kompress: each word's score is chosen here, so the golden
# output pins Kompress's own rules (splitting, forced words, selection), not a model's weights,
# which the cache version holds by digest.
_KOMPRESS_SCORES = {
    "migration": 0.95, "ledger": 0.9, "database": 0.9, "operator": 0.85, "reconciliation": 0.9,
    "postings": 0.85, "tables": 0.8, "copy": 0.8, "index": 0.85, "rebuild": 0.85, "replica": 0.9,
    "instance": 0.8, "indexes": 0.8, "checksums": 0.9, "partition": 0.85, "primary": 0.9,
    "backlog": 0.85, "transfers": 0.85, "finance": 0.8, "window": 0.7, "the": 0.02, "a": 0.02,
    "basically": 0.01, "really": 0.01, "very": 0.01, "so": 0.05, "that": 0.05, "was": 0.05, "of": 0.03,
    "on": 0.04, "and": 0.06, "it": 0.05, "which": 0.05, "had": 0.06, "they": 0.1, "all": 0.1,
}


def _kompress() -> Compressor:
    from tests.unit.kompress.models import write_model_dir

    words = (INPUTS / "kompress.txt").read_text(encoding="utf-8").lower()
    vocabulary = words.replace(",", " ").replace(".", " ").split()
    model_dir = write_model_dir(Path(tempfile.mkdtemp(prefix="trimwire-golden-")) / "model", _KOMPRESS_SCORES,
                                vocabulary)
    compressor, status = load_kompress(KompressSettings(model_dir=str(model_dir), device="cpu"), threads=1, shelf=SHELF)
    assert compressor is not None, status
    return compressor


@dataclass(frozen=True)
class Case:
    name: str                               # <name>.txt here
    make: Callable[[], Compressor]          # the compressor, default settings
    source: str                             # inputs/<source>
    terms: tuple[str, ...] = ()

    def inputs(self) -> BlockInputs:
        with open(INPUTS / self.source, encoding="utf-8", newline="") as handle:
            return BlockInputs(handle.read(), "Bash", self.terms)


CASES = (
    Case("json_sampler", JsonSampler, "json_sampler.txt"),
    Case("json_sampler_focused", JsonSampler, "json_sampler.txt", ("9120918",)),
    Case("json_compact", JsonCompactor, "json_compact.txt"),
    Case("logs", LogCompressor, "logs.txt"),
    Case("logs_focused", LogCompressor, "logs.txt", ("test_accounts", "test_case_03")),
    Case("search", SearchCompressor, "search.txt"),
    Case("search_focused", SearchCompressor, "search.txt", ("h21.go",)),
    Case("diff", DiffCompressor, "diff.txt"),
    Case("html", HtmlCompressor, "html.txt"),
    Case("table", TableCompressor, "table.txt"),
    Case("table_focused", TableCompressor, "table.txt", ("worker-1c01-d13q",)),
    Case("repeats", RepeatFolder, "repeats.txt"),
    Case("kube_describe", DescribeCompressor, "kube_describe.txt"),
    Case("kube_describe_focused", DescribeCompressor, "kube_describe.txt", ("tier=backend", "backend")),
    Case("listing", ListingCompressor, "listing.txt"),
    Case("kompress", _kompress, "kompress.txt"),
    Case("kompress_help", _kompress, "kompress_help.txt"),  # option descriptions, re-flowed
)


@dataclass(frozen=True)
class Golden:
    schema: str
    settings: str           # a digest of the compressor's settings, which the cache key holds too
    output: str | None

    def changed_unkeyed(self, made: Golden) -> bool:
        """Does ``made`` differ from this pinned output though the cache key would not?"""
        return made.output != self.output and (made.schema, made.settings) == (self.schema, self.settings)


def render(case: Case, compressor: Compressor) -> str:
    """The golden file ``compressor`` gives for ``case`` under today's ``_CACHE_SCHEMA``."""
    block = case.inputs()
    assert compressor.applies(block), f"{case.name}: {compressor.name} does not apply to inputs/{case.source}"
    output = compressor.compress_block(block, Budget())
    terms = ", ".join(case.terms) or "none"
    settings = config_version({ContentType.TEXT: [compressor]})[:16]
    header = [f"compressor: {compressor.name}", f"input: inputs/{case.source}", f"terms: {terms}",
              f"schema: {_CACHE_SCHEMA}", f"settings: {settings}", f"regenerate: {REGENERATE}"]
    return "\n".join(header) + "\n\n" + (_NONE if output is None else output)


def read_golden(case: Case) -> Golden | None:
    """The pinned schema version and output of ``case``; None when it has no golden file yet."""
    path = HERE / f"{case.name}.txt"
    if not path.exists():
        return None
    with open(path, encoding="utf-8", newline="") as handle:  # the output byte for byte, "\r" too
        return parse(handle.read())


def parse(text: str) -> Golden:
    header, _, output = text.partition("\n\n")
    fields = dict(line.split(": ", 1) for line in header.split("\n"))
    return Golden(fields["schema"], fields["settings"], None if output == _NONE else output)
