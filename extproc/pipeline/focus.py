"""What a tool result is about: the distinctive terms of the context it answers.

A tool result answers the latest user message before it and the arguments of the call that
produced it. ``context_terms`` pulls the distinctive terms out of both, cheaply and the same way
every time: identifiers, versions, pod names, paths and file names, test ids, hash prefixes and
rare plain words, lower-cased, never stopwords or everyday words. ``compress.py`` sets the
question's on each tool result read now (``assign``: ``Block.focus``); for each block it
compresses the pipeline adds the call's and keeps those the block holds (``terms_for``; the block
cache key includes them) and hands them to the compressor, which keeps the items or lines that
hold them first when it must drop some (``relevant``).

The context comes before the block and never changes in later turns, so a block's result stays a
pure function of its text, tool name, these terms and the settings: history stays byte-identical.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..conversation import Block, Kind
from .cache import MEMO_CHARS, TextMemo

__all__ = ["assign", "terms_for", "question", "context_terms", "used_terms", "relevant", "MAX_TERMS",
           "MAX_CONTEXT_CHARS", "MIN_FOCUS_CHARS"]

MAX_TERMS = 32             # terms kept from one context, first seen first
MAX_CONTEXT_CHARS = 4000   # of the user's message read (a pasted log says little about the question)
MIN_FOCUS_CHARS = 1000     # shorter blocks lose no item or line to a cap: no terms are looked for
_MIN_WORD = 4              # plain words shorter than this are never distinctive
_MAX_WORD_HITS = 3         # a plain word picks the items or lines it is in only when this few

# ``used_terms`` of texts under MEMO_CHARS, by text and then terms: every turn of a conversation read
# cold compresses its earlier tool results again (their terms looked for in each), at most this much.
_USED: TextMemo[dict[tuple[str, ...], tuple[str, ...]]] = TextMemo(2 * 1024 * 1024)
_TERM_BYTES = 64  # what one term of a remembered answer holds, roughly

# A term: a run of word characters, dots, dashes and pluses ("2.31.0", "api-7f9c4-x2k",
# "test_parse.py", "c++"); paths, URLs, "::" test ids and "key=value" split into their parts.
_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_IDENTIFIER = re.compile(r"\d|[._-]\w|[a-z][A-Z]")
# Harness notes inside a user message (Claude Code's reminders) are not the user's question.
_NOTE = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)

# English function words and the everyday words of requests to an agent and of tool calls: they
# match everything and so distinguish nothing.
_COMMON = frozenset("""
about above after again against all also always among and another any anything are aren't around
because been before being below between both but can cannot could did does doing done down during
each either else even every from further had has have having here hers herself himself into its
itself just least less like made make many more most much must myself near need needs never next
none nor not now off once only onto other others ought our ours ourselves out over own please
quite rather really same should since some something still such than that that's their theirs them
themselves then there these they this those though through thus till too under until upon very
want wants was wasn't were what when where whether which while who whom whose why will with within
without would yet you your yours yourself yourselves the for how can't don't doesn't isn't won't
check show tell give find look list get set run see use used using let lets know think help try
fix add remove update change create delete open read write edit print call return make work works
working file files line lines code test tests output result results error errors value values
name names item items entry entries latest last first new old one two three version versions
info details detail data text content json page pages thing things part parts way does did
command commands tool tools directory folder path paths current true false null none yes
http https www com org net html index main master head issue issues pull request
release releases released fail fails failed failing failure pass passed passing commit commits
change changed changes package packages install installed build built running ran start started
stop stopped happen happened wrong broken right work worked today yesterday again instead
found load loaded actually example ignore consider following empty unable include known
behaviour behavior parse using usage running output note should would could seems
""".split())


def assign(blocks: Iterable[Block], items: Any, user_text: Callable[[Any], str | None],
           known: tuple[int, int] | None = None) -> None:
    """Set ``focus`` on each writable tool result of ``blocks``: the terms of the latest user
    message before its item in ``items`` (the body's message array, ``user_text`` reads one)
    that asks something (``question``: not only harness notes). ``known``: (stop, at), the latest
    such message before item ``stop`` is item ``at`` (-1: none), for blocks of items ``stop`` on
    (a resent turn's new messages: its history is not walked again)."""
    if not isinstance(items, list):
        return
    # The terms of the question before each item, by item index: one question is asked before
    # many results (an agent's loop of calls), and its terms are worked out once.
    asked: dict[int, tuple[str, ...]] = {}
    last = -1
    if known is not None:
        last, at = known
        asked[last] = _question_terms(question(user_text(items[at])) if 0 <= at < len(items) else None)
    for block in blocks:
        index = block.message_index
        if block.kind is not Kind.TOOL_RESULT or block.path is None or not 0 <= index < len(items):
            continue
        if index not in asked:
            # Items are met in order: look back only as far as the last one asked about.
            found = _latest_question(items, max(last, 0), index, user_text)
            asked[index] = _question_terms(found) if found is not None or last < 0 else asked[last]
            last = index
        block.focus = asked[index]


def _latest_question(items: list[Any], start: int, stop: int, user_text: Callable[[Any], str | None]) -> str | None:
    """The question of the latest of ``items[start:stop]`` that asks one, or None (a plain loop:
    it runs for every tool result read, and a generator costs more per item)."""
    for index in range(stop - 1, start - 1, -1):
        said = user_text(items[index])
        if said and (asked := question(said)):
            return asked
    return None


def terms_for(block: Block) -> tuple[str, ...]:
    """The context terms a block holds, sorted: its question's (``Block.focus``, set by
    ``assign``) and its call's arguments' (read only for the blocks the pipeline compresses) that
    its text holds (``used_terms``); none for a block under ``MIN_FOCUS_CHARS``, too short for any
    compressor to drop an item or a line of it, not worth reading for terms."""
    if block.kind is not Kind.TOOL_RESULT or len(block.text) < MIN_FOCUS_CHARS:
        return ()
    return used_terms(_with_arguments(block.focus, block.tool_input), block.text)


def question(user_text: str | None) -> str | None:
    """What the user asked in a message's text: the text without harness notes, None if empty."""
    if not user_text:
        return None
    asked = _NOTE.sub(" ", user_text) if "<system-reminder>" in user_text else user_text
    return asked if asked.strip() else None


def context_terms(user_text: str | None, arguments: dict[str, Any] | None) -> tuple[str, ...]:
    """The distinctive terms of a user message and a tool call's arguments, lower-cased, first seen
    first, at most ``MAX_TERMS``."""
    return _with_arguments(_question_terms(user_text), arguments)


def _question_terms(user_text: str | None) -> tuple[str, ...]:
    return _terms_of(question(user_text[:MAX_CONTEXT_CHARS]) or "") if user_text else ()


def _with_arguments(asked: tuple[str, ...], arguments: dict[str, Any] | None) -> tuple[str, ...]:
    found = dict.fromkeys(asked)
    for text in _strings(arguments, 0):
        if len(found) >= MAX_TERMS:
            break
        found.update(dict.fromkeys(_terms_of(text[:MAX_CONTEXT_CHARS])))
    return tuple(found)[:MAX_TERMS]


# A pure function of its text, asked again for the same question and command every turn of a
# conversation (every request resends them): remembered, a bounded memo like re's own cache.
@functools.lru_cache(maxsize=1024)
def _terms_of(text: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    _add_terms(text, found)
    return tuple(found)


def used_terms(terms: Sequence[str], text: str) -> tuple[str, ...]:
    """The terms ``text`` holds (ignoring case), sorted: the only ones that can change its result."""
    if not terms:
        return ()
    asked = tuple(terms)
    known = _USED.get(text) if len(text) < MEMO_CHARS else None
    if known is not None and asked in known:
        return known[asked]
    lowered = text.lower()
    used = tuple(sorted(term for term in terms if term in lowered))
    if len(text) < MEMO_CHARS:
        if known is None:
            _USED.put(text, {asked: used}, _TERM_BYTES * len(asked))
        else:
            known[asked] = used
    return used


def relevant(units: str, terms: Sequence[str], limit: int) -> list[int]:
    """Which of the lines of ``units`` (lower-cased: log lines, table rows, JSON items one a line)
    hold a term, at most ``limit`` of them, by line number.

    A term held by more than ``limit`` of them distinguishes nothing here ("requests" in every
    release of the requests package) and is passed over; so is a plain word (no digit, dot, dash
    or underscore: "cluster", "degraded") held by more than ``_MAX_WORD_HITS``, a weaker sign than
    a name or a version. The rarest terms pick first.
    """
    if not terms or limit <= 0:
        return []
    by_term = []
    for term in terms:
        most = limit if _IDENTIFIER.search(term) else min(limit, _MAX_WORD_HITS)
        hits = _lines_holding(units, term, most + 1)
        if 0 < len(hits) <= most:
            by_term.append((len(hits), term, hits))
    chosen: dict[int, None] = {}
    for _, _, hits in sorted(by_term):
        for number in hits:
            if len(chosen) >= limit:
                return sorted(chosen)
            chosen[number] = None
    return sorted(chosen)


def _lines_holding(units: str, term: str, most: int) -> list[int]:
    """Numbers of the first ``most`` lines of ``units`` that hold ``term`` (found by ``str.find``:
    the text is read at C speed, line numbers counted only where a term is)."""
    found: list[int] = []
    at, line, counted = units.find(term), 0, 0
    while at >= 0 and len(found) < most:
        line += units.count("\n", counted, at)
        found.append(line)
        end = units.find("\n", at)
        if end < 0:
            break
        counted = end
        at = units.find(term, end + 1)
    return found


def _add_terms(text: str, found: dict[str, None]) -> None:
    for match in _TOKEN.finditer(text):
        token = match.group().rstrip(".-+")
        if len(found) >= MAX_TERMS:
            return
        if _distinctive(token):
            found.setdefault(token.lower(), None)


def _distinctive(token: str) -> bool:
    """An identifier, version, id or path part of three characters or more, or a rare plain word."""
    if len(token) < 3:
        return False
    if _IDENTIFIER.search(token):
        return not token.isdigit() or len(token) >= 4  # "200", "42": counts, not names
    return len(token) >= _MIN_WORD and token.lower() not in _COMMON


def _strings(value: Any, depth: int) -> Iterable[str]:
    """The string values of a call's arguments (keys are the tool's schema, not the question)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and depth < 4:
        for child in value.values():
            yield from _strings(child, depth + 1)
    elif isinstance(value, list) and depth < 4:
        for child in value:
            yield from _strings(child, depth + 1)
