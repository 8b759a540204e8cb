"""From text to the words Kompress may drop, to model-sized chunks, and back to text.

Kompress must only ever thin *prose*: paragraphs someone wrote to be read (man pages, ``--help``
text, READMEs, changelogs, issue threads, web pages' text), never code, file views, logs,
listings or records, whose every word an agent may act on. So a line is a prose line only when
it is a sentence-like line of at least ``MIN_PROSE_WORDS`` words, most of them plain words,
starting with a plain word or a bullet, indented no deeper than a man page's option text
(``_MAX_INDENT``), with no tab, no aligned columns and no code signs (``_CODE``); and only in a
paragraph of such lines that holds a sentence end (or a list of at least ``_MIN_LIST_ITEMS``
bullets, as changelogs write them). Lines inside a document's code (markdown fences, a
reStructuredText literal block or ``code-block``) and the wrapped text of an aligned row (an
option table's description column) are never prose. Every other line, and every line break,
stays byte for byte. In a prose line the words ``rules.must_keep`` names stay, and so do
capitalised words inside a sentence (names: ``Envoy``, ``List``); the model ranks the rest.
``looks_like_prose`` is the block-level check: mostly prose lines, and no code or numbered
file view around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .rules import EDGE, must_keep

__all__ = ["Word", "ProseText", "split_prose", "chunk_words", "looks_like_prose", "prose_share",
           "MIN_PROSE_WORDS"]

MIN_PROSE_WORDS = 8
_SINGLE_LINE_WORDS = 15     # a paragraph of one line must be at least this long
_PLAIN_SHARE = 0.75         # of a prose line's words that are plain words (letters, edge punctuation)
_MAX_INDENT = 16            # man pages indent paragraphs 7 columns and option text 14
_MIN_LIST_ITEMS = 3         # bullets that make a paragraph without a sentence end
_MIN_PROSE_SHARE = 0.35     # of a block's words in prose lines (--help text: half is options)
_MAX_CODE_SHARE = 0.1       # of a block's non-blank lines with code signs or line numbers
_WORD = re.compile(r"\S+")
_PLAIN = re.compile(r"^[\"'(\[]*[A-Za-z][a-z'’-]*[\"')\].,;:!?]*$")
_BULLET = frozenset("- * • > –".split())
_KEY_VALUE = re.compile(r"^\s*[\w .()/-]{1,40}?:\s+\S|^\s*[|#]|\|\s*$")
# Aligned columns: a tab, three spaces, or two not after a sentence end ("done.  Next" is prose).
_COLUMNS = re.compile(r"\t|\S {3,}\S|[^\s.!?:] {2}\S")
_LINE_NUMBER = re.compile(r"^\s*\d+(?:\t|[:|] |\s{2,})")
_CODE = re.compile(
    r'"""|\'\'\'|``|:param\b|:returns?:|:class:|=>|->|::|[;{]\s*$|^\s*[}\])]|\w\(.*\)\s*[:{]?\s*$'
    r"|^\s*(?:(?:def|class|import|from|return|elif|async def|function|const|let|var|public|private"
    r"|package)\b|else:|try:|except\b|#include|@\w)")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
# A reStructuredText literal block follows a paragraph ending "::" or a code directive.
_LITERAL_START = re.compile(r"^\s*(?:\.\. (?:code-block|code|sourcecode|highlight|literalinclude)::|(?!\.\. ).*::\s*$)")
# Document markup that reads as code to _CODE: an rST directive, a paragraph introducing a literal block.
_MARKUP = re.compile(r"^\s*\.\. [\w-]+::|" + _LITERAL_START.pattern)
# The last column of an aligned row ("  -out=path     Write the plan to ..."): where its text starts.
_COLUMN_GAP = re.compile(r"(?:\t| {2,})(?=\S)")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    line: int        # index of its line
    keep: bool       # kept whatever the model says (first of line, must-keep rule)


@dataclass
class ProseText:
    """A text's lines and the words of its prose lines, in order."""

    lines: list[str]
    words: list[Word]
    prose_lines: set[int]

    @property
    def candidates(self) -> list[int]:
        """Indexes of the words the model decides about."""
        return [i for i, word in enumerate(self.words) if not word.keep]

    def join(self, kept: set[int]) -> str:
        """The text with only the kept words of each prose line; other lines as they were.
        (Prose lines have no tabs or runs of spaces, so single spaces rebuild them.)"""
        by_line: dict[int, list[str]] = {}
        for index, word in enumerate(self.words):
            if word.keep or index in kept:
                by_line.setdefault(word.line, []).append(word.text)
        out = []
        for number, line in enumerate(self.lines):
            if number in self.prose_lines:
                indent = line[:len(line) - len(line.lstrip())]
                line = indent + " ".join(by_line.get(number, []))
            out.append(line)
        return "\n".join(out)


def split_prose(text: str) -> ProseText:
    """The text's lines, its prose lines (in paragraphs with a sentence end) and their words."""
    lines = text.split("\n")
    words: list[Word] = []
    prose: set[int] = set()
    for run in _paragraphs(lines):
        start_of_sentence = True
        for number in run:
            prose.add(number)
            for i, token in enumerate(_WORD.findall(lines[number])):
                core = token.strip(EDGE)
                name = core[:1].isupper() and not start_of_sentence
                marker = i == 0 and token in _BULLET
                words.append(Word(token, number, keep=must_keep(token) or name or marker))
                start_of_sentence = marker or (start_of_sentence and not core) or bool(_SENTENCE_END.search(token))
    return ProseText(lines, words, prose)


def _paragraphs(lines: list[str]) -> list[list[int]]:
    """Runs of consecutive prose-like lines that read as a paragraph."""
    runs: list[list[int]] = []
    current: list[int] = []
    literal = _literal_lines(lines)
    for number, line in enumerate(lines + [""]):
        # A wrapped line of a paragraph may start with a number or a path ("1048576 bytes. The").
        continued = bool(current) and _indent(line) == _indent(lines[current[-1]]) and current[-1] == number - 1
        if number < len(lines) and number not in literal and _is_prose(line, continued):
            current.append(number)
            continue
        if current and _is_paragraph([lines[n] for n in current]):
            runs.append(current)
        current = []
    return runs


def _literal_lines(lines: list[str]) -> set[int]:
    """Lines that are a document's code or an aligned row's wrapped text: never prose.

    Markdown fences and their contents; the indented block under a reStructuredText "::" or
    code directive; and lines right under an aligned row (no blank line between) that start
    where its last column does, as ``--help`` wraps an option's description."""
    literal: set[int] = set()
    fenced = False
    block_indent: int | None = None   # an rST literal block: lines indented deeper than this
    cell: int | None = None           # where the last aligned row's last column starts
    for number, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if _FENCE.match(line):
            fenced = not fenced
            literal.add(number)
            continue
        if fenced:
            literal.add(number)
            continue
        if block_indent is not None and (not stripped or indent > block_indent):
            literal.add(number)
            continue
        block_indent = indent if _LITERAL_START.match(line) else None
        if not stripped:
            cell = None
        elif cell is not None and indent == cell:
            literal.add(number)
        else:
            gaps = [gap for gap in _COLUMN_GAP.finditer(line.rstrip()) if gap.start() > indent]
            cell = gaps[-1].end() if gaps else None
    return literal


def _is_paragraph(lines: list[str]) -> bool:
    words = [token for line in lines for token in _WORD.findall(line)]
    if len(lines) == 1 and len(words) < _SINGLE_LINE_WORDS:
        return False
    if sum(1 for line in lines if line.split(None, 1)[:1] and line.split(None, 1)[0] in _BULLET) >= _MIN_LIST_ITEMS:
        return True
    return any(_SENTENCE_END.search(token) for token in words)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_prose(line: str, continued: bool = False) -> bool:
    return _is_prose_line(line, _WORD.findall(line), continued)


def _is_prose_line(line: str, tokens: list[str], continued: bool = False) -> bool:
    """A sentence-like line; ``continued``: it wraps the line above, so it may start with any word."""
    if len(tokens) < (1 if continued else MIN_PROSE_WORDS) or _indent(line) > _MAX_INDENT:
        return False
    if _KEY_VALUE.search(line) or _COLUMNS.search(line.strip()) or _CODE.search(line):
        return False
    if not (continued or _PLAIN.match(tokens[0]) or tokens[0] in _BULLET):
        return False
    plain = sum(1 for token in tokens if _PLAIN.match(token))
    return plain >= _PLAIN_SHARE * len(tokens)


def prose_share(text: str) -> float:
    """Share of the text's words that sit in prose lines."""
    lines = text.split("\n")
    in_prose = sum(len(_WORD.findall(lines[number])) for run in _paragraphs(lines) for number in run)
    total = len(_WORD.findall(text))
    return in_prose / total if total else 0.0


def looks_like_prose(text: str) -> bool:
    """Mostly prose lines, and no code or numbered file view among the rest.

    The share of prose is asked first: most texts asked are logs and listings, which it rules
    out after reading about half their words, while the code test reads every line of a text
    without code. A document's own code blocks (fenced, rST literal) stay whole and do not count."""
    all_lines = text.split("\n")
    if not any(line.strip() for line in all_lines) or not _prose_share_reaches(text, _MIN_PROSE_SHARE):
        return False
    literal = _literal_lines(all_lines)
    lines = [line for number, line in enumerate(all_lines)
             if line.strip() and number not in literal and not _MARKUP.match(line)]
    most_code = _MAX_CODE_SHARE * len(lines)
    code = 0
    for line in lines:
        if _CODE.search(line) or _LINE_NUMBER.match(line):
            code += 1
            if code > most_code:
                return False
    return True


def _prose_share_reaches(text: str, share: float) -> bool:
    """``prose_share(text) >= share``, given up as soon as the words of lines that are not
    prose-like leave too few for it: the texts asked are mostly logs and listings, not prose."""
    total = len(_WORD.findall(text))
    if not total:
        return False
    outside = 0
    possible = False  # the line above may be prose: this one may continue its paragraph
    for line in text.split("\n"):
        tokens = _WORD.findall(line)
        possible = bool(tokens) and _is_prose_line(line, tokens, continued=possible)
        if tokens and not possible:
            outside += len(tokens)
            if (total - outside) / total < share:  # prose lines can hold no more than the rest
                return False
    return prose_share(text) >= share


def chunk_words(token_counts: list[int], max_tokens: int) -> list[tuple[int, int]]:
    """``(first, end)`` word ranges whose tokens fit ``max_tokens``; a longer word is its own chunk
    (its tokens past the limit are cut off when scored)."""
    chunks: list[tuple[int, int]] = []
    first, used = 0, 0
    for index, count in enumerate(token_counts):
        if used and used + count > max_tokens:
            chunks.append((first, index))
            first, used = index, 0
        used += count
    if first < len(token_counts):
        chunks.append((first, len(token_counts)))
    return chunks
