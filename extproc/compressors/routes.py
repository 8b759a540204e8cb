"""The routes a server offers each content type (``default_routes``), and the structural
compressors that are off in this process because their library failed to load."""

from __future__ import annotations

from dataclasses import dataclass

from ..pipeline import Compressor, Routes
from ..pipeline.router import ContentType
from . import html
from .diff import DiffCompressor
from .html import HtmlCompressor
from .json_compact import JsonCompactor
from .json_lossy import JsonSampler
from .logs import LogCompressor
from .repeats import RepeatFolder
from .search import SearchCompressor
from .table import TableCompressor

__all__ = ["Unavailable", "default_routes", "unavailable_compressors"]


@dataclass(frozen=True)
class Unavailable:
    """A compressor that is off in this process because its library failed to load."""

    compressor: str
    reason: str      # not_installed: the import failed
    detail: str


def unavailable_compressors() -> list[Unavailable]:
    """The structural compressors whose library could not be loaded here (Kompress reports its own
    status: ``kompress.load_kompress``). The server logs and exports each at start-up."""
    missing = []
    if not html.AVAILABLE:
        missing.append(Unavailable(HtmlCompressor.name, "not_installed", html.LOAD_ERROR))
    return missing


def default_routes(*, kompress: Compressor | None = None) -> Routes:
    """The compressors a server offers each content type, in the order they are tried.

    Types not listed (code, JSONL) reach the model byte for byte. Plain text has its runs of
    similar lines folded, and prose goes to Kompress when this process has a model
    (``kompress.load_kompress``). Large JSON is sampled and tabulated; JSON the sampler leaves
    alone (small, or not shorter) is compacted losslessly.
    """
    return {
        ContentType.JSON: [JsonSampler(), JsonCompactor()],
        ContentType.LOG: [LogCompressor()],
        ContentType.SEARCH: [SearchCompressor()],
        ContentType.DIFF: [DiffCompressor()],
        ContentType.HTML: [HtmlCompressor()],
        ContentType.TABLE: [TableCompressor()],
        ContentType.TEXT: [RepeatFolder()] + ([kompress] if kompress is not None else []),
    }
