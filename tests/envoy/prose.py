"""Real English prose for the Kompress tests: paragraphs of the standard library's docstrings.

Made at test time from the running interpreter, so nothing is copied into the repository and
the text is the same on every run of one Python version. Only paragraphs of sentence-like lines
are taken (no doctest examples, no tables), in a fixed module order.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

__all__ = ["stdlib_prose"]

_MODULES = ("argparse", "asyncio.events", "collections", "concurrent.futures", "configparser",
            "contextlib", "csv", "dataclasses", "datetime", "decimal", "email.message", "functools",
            "http.client", "http.server", "logging", "multiprocessing.pool", "pathlib", "pickle",
            "shutil", "socket", "sqlite3", "ssl", "subprocess", "tarfile", "tempfile", "threading",
            "typing", "unittest.case", "urllib.request", "zipfile")


def _paragraphs() -> list[str]:
    with warnings.catch_warnings():  # typing.io and typing.re warn when their docs are read
        warnings.simplefilter("ignore", DeprecationWarning)
        return _docstring_paragraphs()


def _docstring_paragraphs() -> list[str]:
    found: list[str] = []
    for name in _MODULES:
        module = importlib.import_module(name)
        members = [module] + [value for _, value in sorted(vars(module).items())
                              if inspect.isclass(value) or inspect.isfunction(value)]
        for member in members:
            doc = inspect.getdoc(member) or ""
            for paragraph in doc.split("\n\n"):
                lines = paragraph.split("\n")
                if sum(len(line.split()) for line in lines) >= 25 and all(
                        not line.startswith((">>>", "...", " ", "|", "-", "=")) for line in lines):
                    found.append(" ".join(line.strip() for line in lines))
    return list(dict.fromkeys(found))


def stdlib_prose(words: int, *, offset: int = 0, width: int = 100) -> str:
    """About ``words`` words of docstring prose, wrapped at ``width`` columns into lines."""
    import textwrap

    chosen, count = [], 0
    paragraphs = _paragraphs()
    for paragraph in paragraphs[offset:] + paragraphs[:offset]:
        chosen.append(textwrap.fill(paragraph, width))
        count += len(paragraph.split())
        if count >= words:
            break
    return "\n\n".join(chosen)
