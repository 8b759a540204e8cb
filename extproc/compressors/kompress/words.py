"""From text to the words Kompress may drop, to model-sized chunks, and back to text.

Only *prose lines* are thinned: lines of at least ``MIN_PROSE_WORDS`` words, most of them plain
words, not ``Key: value`` or table rows. Every other line (code, paths, listings, headings, short
lines) is kept byte for byte, and so is every line break, so the text keeps its shape. In a prose
line the first word stays (a bullet, a number, the sentence's start), and so do the words
``rules.must_keep`` names; the rest are candidates the model ranks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .rules import must_keep

__all__ = ["Word", "ProseText", "split_prose", "chunk_words", "MIN_PROSE_WORDS"]

MIN_PROSE_WORDS = 6
_PLAIN_SHARE = 0.7          # of a prose line's words that are plain words (letters, edge punctuation)
_WORD = re.compile(r"\S+")
_PLAIN = re.compile(r"^[\"'(\[]*[A-Za-z][a-z'’-]*[\"')\].,;:!?]*$")
_KEY_VALUE = re.compile(r"^\s*[\w .()/-]{1,40}?:\s+\S|^\s*[|#>]|\|\s*$")


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
        """The text with only the kept words of each prose line; other lines as they were."""
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
    """The text's lines, its prose lines and their words."""
    lines = text.split("\n")
    words: list[Word] = []
    prose: set[int] = set()
    for number, line in enumerate(lines):
        tokens = _WORD.findall(line)
        if not _is_prose(line, tokens):
            continue
        prose.add(number)
        words.extend(Word(token, number, keep=must_keep(token) or (i == 0 and not _PLAIN.match(token)))
                     for i, token in enumerate(tokens))
    return ProseText(lines, words, prose)


def prose_share(text: str) -> float:
    """Share of the text's words that sit in prose lines."""
    split = split_prose(text)
    total = len(_WORD.findall(text))
    return len(split.words) / total if total else 0.0


def _is_prose(line: str, tokens: list[str]) -> bool:
    if len(tokens) < MIN_PROSE_WORDS or _KEY_VALUE.search(line):
        return False
    plain = sum(1 for token in tokens if _PLAIN.match(token))
    return plain >= _PLAIN_SHARE * len(tokens)


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
