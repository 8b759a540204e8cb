"""Content-aware compressors and the routes that offer each content type to them.

To add a compressor: write it in a module here to the protocol of ``pipeline/contract.py`` (it
needs only that, ``pipeline/router.py`` and its own file), list it under its content type in
``default_routes`` (``routes.py``) and pin its output in ``tests/unit/golden/``.
"""

from .diff import DiffCompressor
from .html import HtmlCompressor
from .json_compact import JsonCompactor
from .json_lossy import JsonSampler
from .logs import LogCompressor
from .repeats import RepeatFolder
from .routes import Unavailable, default_routes, unavailable_compressors
from .search import SearchCompressor
from .table import TableCompressor

__all__ = [
    "DiffCompressor", "HtmlCompressor", "JsonCompactor", "JsonSampler", "LogCompressor",
    "RepeatFolder", "SearchCompressor", "TableCompressor", "Unavailable", "default_routes",
    "unavailable_compressors",
]
