"""Content-aware compressors and the routes that offer each content type to them.

Each content type, its detector, its place in the router's order and its compressors are declared
once, in ``content_types.py``. A compressor keeps to the protocol of ``pipeline/contract.py`` and
has its output pinned in ``tests/unit/golden/``; to add one, or a type, see the README's "Adding a
content type or a compressor".
"""

from .availability import Unavailable, unavailable_compressors
from .content_types import CONTENT_TYPES, ContentKind, default_routes
from .diff import DiffCompressor
from .html import HtmlCompressor
from .json_compact import JsonCompactor
from .json_lossy import JsonSampler
from .logs import LogCompressor
from .repeats import RepeatFolder
from .search import SearchCompressor
from .table import TableCompressor

__all__ = [
    "CONTENT_TYPES", "ContentKind", "DiffCompressor", "HtmlCompressor", "JsonCompactor", "JsonSampler",
    "LogCompressor", "RepeatFolder", "SearchCompressor", "TableCompressor", "Unavailable", "default_routes",
    "unavailable_compressors",
]
