"""From text to the words Kompress may drop, to model-sized chunks, and back to text.

Kompress must only ever thin *prose*: paragraphs someone wrote to be read (man pages, ``--help``
text, READMEs, changelogs, issue threads, web pages' text), never code, file views, logs,
listings or records, whose every word an agent may act on. Prose comes in two shapes:

* paragraphs: sentence-like lines of at least ``MIN_PROSE_WORDS`` words, most of them plain
  words, starting with a plain word or a bullet, indented no deeper than a man page's option
  text (``_MAX_INDENT``), with no code signs (``_CODE``) and no aligned columns (two spaces
  between words are a man page's justification when the line ends at the right margin,
  ``page.py``), in a run that holds a sentence end (or a list of ``_MIN_LIST_ITEMS`` bullets);
* option descriptions (``options.py``): the text after an option's names in a ``--help`` row,
  the lines it wraps onto, and a man page option's paragraphs, when most words are plain and
  none marks code. The option's names, arguments and the gap before the description stay.

A document's code (markdown fences, a reStructuredText literal block) is never prose. Every other
line, and every line break, stays byte for byte, but for a thinned option description's, which
``layout.py`` re-flows onto fewer lines. In prose the words ``rules.must_keep`` names
stay, and so do capitalised words inside a sentence (names: ``Envoy``, ``List``), both halves of
a word hyphenated over two lines, a word holding half of a bracket pair, and the first and last
word of an option's description (its verb and its object: "match only whole words"), and the
values an option takes (``rules.values``: "none (-U), size (-S)"); the model ranks the rest.
``looks_like_prose`` is the block-level check: mostly prose, and no code or numbered file view
around it.
"""

from __future__ import annotations

import re
from typing import Any

from .layout import ProseText, Word, find_flows
from .options import Segment, descriptions, may_describe
from .page import LITERAL_START
from .page import Page as _Page
from .page import justified as _justified
from .page import literal_lines as _literal_lines
from .page import page as _page
from .rules import EDGE, must_keep, values

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
_COLUMNS = re.compile(r"\t|\S {3,}\S|[^\s.!?:;] {2}\S")
_LINE_NUMBER = re.compile(r"^\s*\d+(?:\t|[:|] |\s{2,})")
_CODE = re.compile(
    r'"""|\'\'\'|``|:param\b|:returns?:|:class:|=>|->|::|[;{]\s*$|^\s*[}\])]|\w\(.*\)\s*[:{]?\s*$'
    r"|^\s*(?:(?:def|class|import|from|return|elif|async def|function|const|let|var|public|private"
    r"|package)\b|else:|try:|except\b|#include|@\w)")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
# What marks an option description as code: a block opened or closed, a definition's head.
_STATEMENT = re.compile(r'"""|\'\'\'|\{\s*$|^\s*[}\])]|\w\(.*\)\s*[:{]\s*$')
# Document markup that reads as code to _CODE: an rST directive, a paragraph introducing a literal block.
_MARKUP = re.compile(r"^\s*\.\. [\w-]+::|" + LITERAL_START.pattern)
_HYPHENS = ("-", "\u2010")       # man breaks a word over two lines with either
_MIN_DESCRIPTION_WORDS = 3      # an option description of fewer words stays as it is
_DESCRIPTION_PLAIN_SHARE = 0.6  # of its words that are plain ("SIZE", "-l," and "e.g.," are not)


def split_prose(text: str) -> ProseText:
    """The text's lines, its prose lines (paragraphs, option descriptions) and their words."""
    page = _page(text)
    words: list[Word] = []
    starts: dict[int, int] = {}
    descriptions_at = set()
    described: list[Segment] = []
    for index, (segment, description) in enumerate(_segments(page, kinds=True)):
        start_of_sentence, joined = True, False
        if description:
            descriptions_at.add(index)
            described.append(segment)
        for number, first in segment:
            tokens = list(_WORD.finditer(page.lines[number]))[first:]
            starts[number] = tokens[0].start() if tokens else len(page.lines[number])
            for i, match in enumerate(tokens):
                token = match.group()
                core = token.strip(EDGE)
                name = core[:1].isupper() and not start_of_sentence
                marker = i == 0 and token in _BULLET
                # A word man hyphenated at the line's end: both halves stay, or neither reads.
                broken = i == len(tokens) - 1 and token.endswith(_HYPHENS) and len(token) > 1
                keep = must_keep(token) or name or marker or joined or broken or _unbalanced(token)
                words.append(Word(token, number, keep, index))
                joined = broken
                start_of_sentence = marker or (start_of_sentence and not core) or bool(_SENTENCE_END.search(token))
    # An option description's first word is most often its verb and its last what it acts on
    # ("match only whole words", "... whole lines"): the words that tell two options apart.
    ends: dict[int, list[int]] = {}
    for i, word in enumerate(words):
        if word.segment in descriptions_at and any(c.isalpha() for c in word.text):
            ends.setdefault(word.segment, []).append(i)
    forced = {i for found in ends.values() for i in (found[0], found[-1])}
    for i in forced | values([(word.text, word.segment) for word in words]):
        words[i] = Word(words[i].text, words[i].line, True, words[i].segment)
    flows = find_flows(page.lines, [[number for number, _ in segment] for segment in described], starts)
    return ProseText(page.lines, words, set(starts), starts, flows)


def _unbalanced(token: str) -> bool:
    """A word that opens or closes a bracket the other end of which is in another word: dropped,
    it would leave "(default)" as "default)"."""
    return token.count("(") != token.count(")") or token.count("[") != token.count("]")


def _segments(page: _Page, literal: tuple[set[int], set[int]] | None = None, kinds: bool = False) -> list[Any]:
    """The text's prose, in order: paragraphs, and option descriptions that read as prose (with
    ``kinds``: pairs of a segment and whether it is a description)."""
    code, cells = literal or _literal_lines(page)
    runs = _paragraphs(page, code | cells)
    taken = {number for run in runs for number in run}
    found = [([(number, 0) for number in run], False) for run in runs]
    found += [(segment, True) for segment in descriptions(page.shown, taken | code)
              if _is_description(page, segment)]
    found.sort()
    return found if kinds else [segment for segment, _ in found]


def _is_description(page: _Page, segment: Segment) -> bool:
    """An option's description that reads as prose: words, mostly plain, no code, no columns."""
    tokens: list[str] = []
    for number, first in segment:
        shown = page.shown[number]
        found = list(_WORD.finditer(shown))[first:]
        if not found:
            continue
        text = shown[found[0].start():]
        if _STATEMENT.search(text) or (_COLUMNS.search(text.rstrip()) and not _justified(shown, page.margin)):
            return False
        tokens += [match.group() for match in found]
    plain = sum(1 for token in tokens if _PLAIN.match(token))
    return len(tokens) >= _MIN_DESCRIPTION_WORDS and plain >= _DESCRIPTION_PLAIN_SHARE * len(tokens)


def _paragraphs(page: _Page, literal: set[int]) -> list[list[int]]:
    """Runs of consecutive prose-like lines that read as a paragraph."""
    runs: list[list[int]] = []
    current: list[int] = []
    lines, shown = page.lines + [""], page.shown + [""]
    for number, line in enumerate(lines):
        # A wrapped line of a paragraph may start with a number or a path ("1048576 bytes. The").
        continued = (bool(current) and current[-1] == number - 1
                     and _indent(shown[number]) == _indent(shown[current[-1]]))
        if number < len(page.lines) and number not in literal and _is_prose_line(
                line, shown[number], _WORD.findall(line), continued, page.margin):
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
    if sum(1 for line in lines if line.split(None, 1)[:1] and line.split(None, 1)[0] in _BULLET) >= _MIN_LIST_ITEMS:
        return True
    return any(_SENTENCE_END.search(token) for token in words)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_prose_line(line: str, shown: str, tokens: list[str], continued: bool = False, margin: int = 0) -> bool:
    """A sentence-like line (``shown``: tabs expanded); ``continued``: it wraps the line above,
    so it may start with any word."""
    if len(tokens) < (1 if continued else MIN_PROSE_WORDS) or _indent(shown) > _MAX_INDENT:
        return False
    if _KEY_VALUE.search(shown) or _CODE.search(shown):
        return False
    if _COLUMNS.search(line.strip()) and not _justified(shown, margin):
        return False
    if not (continued or _PLAIN.match(tokens[0]) or tokens[0] in _BULLET):
        return False
    plain = sum(1 for token in tokens if _PLAIN.match(token))
    return plain >= _PLAIN_SHARE * len(tokens)


def prose_share(text: str) -> float:
    """Share of the text's words that are prose (paragraphs, option descriptions)."""
    page = _page(text)
    return _share(page, _segments(page))


def _share(page: _Page, segments: list[Segment]) -> float:
    in_prose = sum(len(_WORD.findall(page.lines[number])) - first for segment in segments for number, first in segment)
    total = sum(len(_WORD.findall(line)) for line in page.lines)
    return in_prose / total if total else 0.0


def looks_like_prose(text: str) -> bool:
    """Mostly prose, and no code or numbered file view among the rest.

    The share of prose is asked first: most texts asked are logs and listings, which a first
    pass rules out after reading about half their words, while the code test reads every line of
    a text without code. A document's own code blocks (fenced, rST literal) and an option
    table's wrapped text do not count."""
    page = _page(text)
    if not any(line.strip() for line in page.lines) or not _may_reach(page, _MIN_PROSE_SHARE):
        return False
    code, cells = _literal_lines(page)
    segments = _segments(page, (code, cells))
    if _share(page, segments) < _MIN_PROSE_SHARE:
        return False
    prose = {number for segment in segments for number, _ in segment}
    lines = [number for number, line in enumerate(page.shown) if line.strip() and number not in code
             and number not in cells and not _MARKUP.match(line)]
    most_code = _MAX_CODE_SHARE * len(lines)
    count = 0
    for number in lines:
        line = page.shown[number]
        if number not in prose and (_CODE.search(line) or _LINE_NUMBER.match(line)):
            count += 1
            if count > most_code:
                return False
    return True


def _may_reach(page: _Page, share: float) -> bool:
    """Whether ``prose_share`` may reach ``share``: no, as soon as the words of lines that cannot be prose
    leave too few for it: the texts asked are mostly logs and listings, not prose. A line may be
    prose when it reads as a sentence, is an option row or head, or is indented under one that
    may be (blank lines between: a man page option's later paragraphs)."""
    total = sum(len(_WORD.findall(line)) for line in page.lines)
    if not total:
        return False
    outside = 0
    possible = False
    for line, shown in zip(page.lines, page.shown):
        tokens = _WORD.findall(line)
        if not tokens:
            continue
        possible = (_is_prose_line(line, shown, tokens, possible, page.margin) or may_describe(shown)
                    or (possible and _indent(shown) > 0))
        if not possible:
            outside += len(tokens)
            if (total - outside) / total < share:  # prose lines can hold no more than the rest
                return False
    return True


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
