"""Content-aware compressors. Add one here and to ``default_compressors``; see ``pipeline``."""

from __future__ import annotations

from ..config import Settings
from ..pipeline import Compressor
from .json_compact import JsonCompactor

__all__ = ["JsonCompactor", "default_compressors"]


def default_compressors(settings: Settings) -> list[Compressor]:
    """The compressors a server runs, in the order they are tried."""
    return [JsonCompactor()]
