"""The content types trimwire knows, each declared once: its detector, its place, its compressors.

This table is the one place a content type is added. The router (``pipeline/router.py``) tries
the detectors from the lowest ``order`` up and names the first type whose detector says yes
(plain text when none does); the pipeline then offers the block only to that type's compressors,
in the order listed, and the first that makes it shorter wins. A compressor never re-checks the
type: its ``applies`` holds only its own cheap preconditions (a minimum size, a library loaded).
Types with no compressors (code, JSON lines) are still declared, so that they claim their text
before a later, looser detector does, and reach the model byte for byte.

Orders leave gaps so a new type slots in between two others without renumbering them. To add a
type, see the README's "Adding a compressor".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..pipeline import Compressor, Routes
from ..pipeline.router import ContentType, Detector, Router, Shape
from ..pipeline.shapes import is_code, is_diff, is_html, is_json, is_json_log, is_jsonl, is_log, is_search, is_table
from .diff import DiffCompressor
from .html import HtmlCompressor
from .json_compact import JsonCompactor
from .json_lossy import JsonSampler
from .kube_describe import DescribeCompressor, is_kube_describe
from .listing import ListingCompressor, is_listing
from .logs import LogCompressor
from .repeats import RepeatFolder
from .search import SearchCompressor
from .table import TableCompressor

__all__ = ["ContentKind", "CONTENT_TYPES", "ROUTER", "default_routes", "detect"]

# What a type's compressors are made from: the prose model (Kompress) when this process has one.
MakeCompressors = Callable[[Compressor | None], Sequence[Compressor]]


def _none(kompress: Compressor | None) -> Sequence[Compressor]:
    return ()


@dataclass(frozen=True)
class ContentKind:
    """One content type: its ``name``, its ``detector`` tried at ``order`` (lower first; None for the
    fallback, plain text), the ``compressors`` it is offered to, and any ``more_shapes`` by which
    the same type is recognised at another place in the order."""

    name: str
    order: int
    detector: Detector | None
    compressors: MakeCompressors = _none
    more_shapes: tuple[tuple[int, Detector], ...] = ()

    def shapes(self) -> list[Shape]:
        """The router's (order, type, detector) triples for this type."""
        own = [] if self.detector is None else [(self.order, self.name, self.detector)]
        return own + [(order, self.name, detector) for order, detector in self.more_shapes]


CONTENT_TYPES: tuple[ContentKind, ...] = (
    # JSON lines that are mostly log records are a log (10), other JSON lines stay exact (11).
    ContentKind(ContentType.JSONL, 11, is_jsonl),
    # Large JSON is sampled and tabulated; JSON the sampler leaves alone is compacted losslessly.
    ContentKind(ContentType.JSON, 12, is_json, lambda _: [JsonSampler(), JsonCompactor()]),
    # The page's main text goes on to the prose compressors (HtmlCompressor.then).
    ContentKind(ContentType.HTML, 20, is_html, lambda _: [HtmlCompressor()]),
    ContentKind(ContentType.DIFF, 30, is_diff, lambda _: [DiffCompressor()]),
    # kubectl describe: fields kept, long label lists, tables and Normal events folded.
    ContentKind("kube_describe", 35, is_kube_describe, lambda _: [DescribeCompressor()]),
    ContentKind(ContentType.TABLE, 40, is_table, lambda _: [TableCompressor()]),
    # ls -l: the owner, group and date its rows share said once (lossless).
    ContentKind("listing", 45, is_listing, lambda _: [ListingCompressor()]),
    ContentKind(ContentType.SEARCH, 50, is_search, lambda _: [SearchCompressor()]),
    ContentKind(ContentType.LOG, 60, is_log, lambda _: [LogCompressor()], more_shapes=((10, is_json_log),)),
    # A file's text stays exact: an edit must match it.
    ContentKind(ContentType.CODE, 70, is_code),
    # Runs of similar lines are folded; prose goes to Kompress when this process has the model.
    ContentKind(ContentType.TEXT, 1000, None,
                lambda kompress: [RepeatFolder()] + ([kompress] if kompress is not None else [])),
)

ROUTER = Router(shape for kind in CONTENT_TYPES for shape in kind.shapes())
detect = ROUTER.detect


def default_routes(*, kompress: Compressor | None = None) -> Routes:
    """The router and the compressors a server offers each content type, in the order they are
    tried (``kompress``: the prose model, ``kompress.load_kompress``, when this process has it)."""
    offered = {kind.name: list(kind.compressors(kompress)) for kind in CONTENT_TYPES}
    return Routes(ROUTER, {name: compressors for name, compressors in offered.items() if compressors})
