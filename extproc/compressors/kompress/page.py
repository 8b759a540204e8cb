"""A text's lines as a terminal shows them, and the lines of it that are never prose.

``words.py`` reads every text Kompress may thin through a ``Page``: its lines as written, the
same with tabs expanded (``man | col -b`` packs runs of spaces into tabs), and the right margin
of justified text (``man`` pads each line of a paragraph out to it, so two spaces between words
there are no aligned columns). ``literal_lines`` finds a document's code (markdown fences,
reStructuredText literal blocks) and the lines an aligned row wraps its last column onto.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

__all__ = ["Page", "page", "justified", "literal_lines", "LITERAL_START"]

_MIN_MARGIN = 60                # columns: a justified man page is printed at least this wide
_MIN_MARGIN_LINES = 3           # lines ending at one column that make it the right margin
_MAX_JUSTIFY_GAP = 4            # spaces justification puts between two words, at most
_GAP = re.compile(r" +")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
# A reStructuredText literal block follows a paragraph ending "::" or a code directive.
LITERAL_START = re.compile(r"^\s*(?:\.\. (?:code-block|code|sourcecode|highlight|literalinclude)::|(?!\.\. ).*::\s*$)")
# The last column of an aligned row ("  -out=path     Write the plan to ..."): where its text starts.
_COLUMN_GAP = re.compile(r"(?:\t| {2,})(?=\S)")


@dataclass(frozen=True)
class Page:
    lines: list[str]     # as written
    shown: list[str]     # tabs expanded, as a terminal shows them (``man | col -b`` writes tabs)
    margin: int          # the right margin of justified text (man pages), 0 when there is none


def page(text: str) -> Page:
    """The text's lines; its right margin is the width most lines of 60 columns or more end at."""
    lines = text.split("\n")
    shown = [line.expandtabs() if "\t" in line else line for line in lines]
    widths = Counter(width for width in map(len, map(str.rstrip, shown)) if width >= _MIN_MARGIN)
    margin, count = widths.most_common(1)[0] if widths else (0, 0)
    return Page(lines, shown, margin if count >= _MIN_MARGIN_LINES else 0)


def justified(shown: str, margin: int) -> bool:
    """A line padded out to the right margin (man's justified text), not aligned columns."""
    if not margin or len(shown.rstrip()) != margin:
        return False
    return max(map(len, _GAP.findall(shown.strip())), default=0) <= _MAX_JUSTIFY_GAP


def literal_lines(page: Page) -> tuple[set[int], set[int]]:
    """Lines that are a document's code, and lines that are an aligned row's wrapped text.

    Code: markdown fences and their contents, and the indented block under a reStructuredText
    "::" or code directive; never prose. Wrapped text: lines right under an aligned row (no blank
    line between) that start where its last column does, as ``--help`` wraps an option's
    description; never a paragraph (an option's description may still be, ``options.py``)."""
    code: set[int] = set()
    cells: set[int] = set()
    fenced = False
    block_indent: int | None = None   # an rST literal block: lines indented deeper than this
    cell: int | None = None           # where the last aligned row's last column starts
    for number, line in enumerate(page.shown):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if _FENCE.match(line):
            fenced = not fenced
            code.add(number)
            continue
        if fenced or (block_indent is not None and (not stripped or indent > block_indent)):
            code.add(number)
            continue
        block_indent = indent if LITERAL_START.match(line) else None
        if not stripped:
            cell = None
        elif cell is not None and indent == cell:
            cells.add(number)
        elif justified(line, page.margin):
            cell = None
        else:
            gaps = [gap for gap in _COLUMN_GAP.finditer(line.rstrip()) if gap.start() > indent]
            cell = gaps[-1].end() if gaps else None
    return code, cells
