"""The structural compressors that are off in this process because their library failed to load
(the server logs and exports each at start-up; Kompress reports its own status)."""

from __future__ import annotations

from dataclasses import dataclass

from . import html
from .html import HtmlCompressor

__all__ = ["Unavailable", "unavailable_compressors"]


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
