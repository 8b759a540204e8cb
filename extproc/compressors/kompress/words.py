"""From text to the words Kompress may drop, to model-sized chunks, and back to text.

Kompress must only ever thin *prose*: paragraphs someone wrote to be read (docs, issue threads,
web pages' text), never code, file views, logs, listings or records, whose every word an agent
may act on. So a line is a prose line only when it is a sentence-like line of at least
``MIN_PROSE_WORDS`` words, most of them plain words, starting with a plain word or a bullet,
barely indented, with no tab, no aligned columns and no code signs (``_CODE``); and only in a
paragraph of such lines that holds a sentence end. Every other line, and every line break,
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
_MAX_INDENT = 4
_MIN_PROSE_SHARE = 0.5      # of a block's words in prose lines
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
    for number, line in enumerate(lines + [""]):
        if number < len(lines) and _is_prose(line):
            current.append(number)
            continue
        if current and _is_paragraph([lines[n] for n in current]):
            runs.append(current)
        current = []
    return runs


def _is_paragraph(lines: list[str]) -> bool:
    words = [token for line in lines for token in _WORD.findall(line)]
    if len(lines) == 1 and len(words) < _SINGLE_LINE_WORDS:
        return False
    return any(_SENTENCE_END.search(token) for token in words)


def _is_prose(line: str) -> bool:
    return _is_prose_line(line, _WORD.findall(line))


def _is_prose_line(line: str, tokens: list[str]) -> bool:
    if len(tokens) < MIN_PROSE_WORDS or len(line) - len(line.lstrip()) > _MAX_INDENT:
        return False
    if _KEY_VALUE.search(line) or _COLUMNS.search(line.strip()) or _CODE.search(line):
        return False
    if not (_PLAIN.match(tokens[0]) or tokens[0] in _BULLET):
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
    without code."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines or not _prose_share_reaches(text, _MIN_PROSE_SHARE):
        return False
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
    for line in text.split("\n"):
        tokens = _WORD.findall(line)
        if tokens and not _is_prose_line(line, tokens):
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
