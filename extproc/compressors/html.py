"""HTML pages (curl output, fetched docs) reduced to their main text as markdown.

A fetched page is mostly markup, scripts, styles and navigation; the model needs the article:
headings, paragraphs, code blocks, tables and lists. ``trafilatura`` finds the main content and
writes it as markdown (tables and inline code kept, links and images dropped); when it finds no
main content, all of the page's visible text is used instead. Text before the page (curl's
progress meter, response headers) and after ``</html>`` (a shell prompt, an exit status) is kept
as it is; one marker line before the extracted text names the page and what was removed, e.g.
``[trimwire: HTML page "Retries and timeouts" (48213 chars) reduced to its main text as markdown;
markup, scripts, styles and navigation omitted]``. The pipeline then offers the extracted text to
the prose compressors (``then``): Kompress thins its paragraphs, code blocks and tables stay.

``trafilatura`` is a required dependency; if it cannot be imported all the same (a broken install),
``applies`` is always False, importing this module still works, and the server reports the
compressor unavailable at start-up (``compressors.unavailable_compressors``: a log line and the
``trimwire_compressor_unavailable`` metric). Extraction runs with metadata and deduplication off, so it reads no
clock and keeps no state between calls: the same page always gives the same bytes.
"""

from __future__ import annotations

import logging
import re

from ..pipeline.contract import BlockInputs, Budget
from ..pipeline.router import ContentType

try:
    import trafilatura
    LOAD_ERROR = ""
except ImportError as exc:  # a broken install (lxml without lxml_html_clean): off, and reported
    trafilatura = None  # type: ignore[assignment]  # read only where AVAILABLE says it loaded
    LOAD_ERROR = f"trafilatura: {exc}"

__all__ = ["HtmlCompressor", "AVAILABLE", "LOAD_ERROR", "DEFAULT_MIN_CHARS", "DEFAULT_MIN_KEPT_CHARS"]

AVAILABLE = trafilatura is not None
DEFAULT_MIN_CHARS = 2000        # smaller HTML is left alone
DEFAULT_MIN_KEPT_CHARS = 40     # an extraction shorter than this found nothing worth keeping

_TITLE = re.compile(r"<title[^>]*>(?P<title>.*?)</title>", re.IGNORECASE | re.DOTALL)
_MAX_TITLE_CHARS = 120
_DOCUMENT_START = re.compile(r"^[ \t]*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE | re.MULTILINE)
_MAX_PREAMBLE_CHARS = 4096
_INLINE_ESCAPE = re.compile(r"(?<!\\)(?P<run>\\(?:\\\\)*)(?P<char>[*_`~\[\]<])")
_BLOCK_ESCAPE = re.compile(r"^( {0,3})\\(#{1,6}(?=[ \t]|$)|>|[-+](?=[ \t]|$))|^( {0,3}\d{1,9})\\([.)])")
_CODE_SPAN = re.compile(r"(?<![\\`])(`+)(?!`).+?(?<!`)\1(?!`)")

# trafilatura logs every page it finds too small or empty at WARNING/ERROR; that is expected here.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


class HtmlCompressor:
    name = "html"
    then = ContentType.TEXT  # the main text goes on to the prose compressors (Kompress)

    def __init__(self, *, min_chars: int = DEFAULT_MIN_CHARS, min_kept_chars: int = DEFAULT_MIN_KEPT_CHARS) -> None:
        self.min_chars = min_chars
        self.min_kept_chars = min_kept_chars

    def applies(self, block: BlockInputs) -> bool:
        return AVAILABLE and len(block.text) >= self.min_chars

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        if not AVAILABLE or len(text) < self.min_chars:
            return None
        preamble, page, epilogue = _split(text)
        body, what = _main_text(page), "its main text as markdown"
        if body is None or len(body) < self.min_kept_chars:
            body, what = _visible_text(page), "its visible text"
        if body is None or len(body) < self.min_kept_chars:
            return None
        title = _title(page)
        named = f' "{title}"' if title else ""
        marker = (f"[trimwire: HTML page{named} ({len(page)} chars) reduced to {what}; "
                  "markup, scripts, styles and navigation omitted]")
        out = f"{preamble}{marker}\n{body.strip()}\n{epilogue.lstrip(chr(10))}"
        return out if len(out) < len(text) else None


def _main_text(text: str) -> str | None:
    try:
        markdown = trafilatura.extract(
            text, output_format="markdown", include_tables=True, include_formatting=True,
            include_comments=True, include_links=False, include_images=False, favor_recall=True,
            deduplicate=False, with_metadata=False)
    except (ValueError, TypeError, RecursionError):
        return None
    return None if markdown is None else _unescape(markdown)


def _unescape(markdown: str) -> str:
    """Undo trafilatura's backslash-escaping of prose (``max\\_connections``), so identifiers read exactly
    as on the page; fenced code and code spans are verbatim already and left alone."""
    lines = []
    fenced = False
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            line = _BLOCK_ESCAPE.sub(lambda m: (m[1] or m[3] or "") + (m[2] or m[4]), line)
            spans = [(m.start(), m.end()) for m in _CODE_SPAN.finditer(line)]
            bounds = [0, *(i for span in spans for i in span), len(line)]
            pieces = [line[a:b] if k % 2 else _INLINE_ESCAPE.sub(_halve, line[a:b])
                      for k, (a, b) in enumerate(zip(bounds, bounds[1:]))]
            line = "".join(pieces)
        lines.append(line)
    return "\n".join(lines)


def _halve(match: re.Match[str]) -> str:
    """2k+1 backslashes before a special character were k backslashes in the page."""
    run = match.group("run")
    return "\\" * (len(run) // 2) + match.group("char")


def _visible_text(text: str) -> str | None:
    try:
        return trafilatura.html2txt(text)
    except (ValueError, TypeError, RecursionError):
        return None


def _split(text: str) -> tuple[str, str, str]:
    """(before, page, after): text around the page (curl's meter, a shell prompt) is kept as it is."""
    found = _DOCUMENT_START.search(text[:_MAX_PREAMBLE_CHARS])
    start = found.start() if found else 0
    end = text.lower().rfind("</html>")
    end = end + len("</html>") if end > start else len(text)
    return text[:start], text[start:end], text[end:]


def _title(text: str) -> str | None:
    """The page's <title> exactly as the page writes it (entities and all: an agent may search the
    page for it), cut to its first ``_MAX_TITLE_CHARS`` characters, or None."""
    found = _TITLE.search(text[:20000])
    if not found:
        return None
    return found.group("title").strip()[:_MAX_TITLE_CHARS] or None
