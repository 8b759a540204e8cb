"""How Kompress writes a thinned text back: its prose words (``Word``, ``ProseText``, which
``words.split_prose`` makes) and ``ProseText.join``, which re-flows a thinned option description
onto fewer lines.

``--help`` and man pages wrap an option's description over several lines at a fixed width; those
line breaks carry no meaning. Once Kompress has dropped some of its words, the words left are laid
out again up to the width the text's descriptions were wrapped at, with the indentation its
continuation lines had::

      --block-size=SIZE      with -l, scale sizes by SIZE when printing them;
                             e.g., '--block-size=M'; see SIZE format below

thinned, becomes one line where it fits, otherwise as few lines of at most that width as it takes.
Only option descriptions flow (the segments ``options.py`` finds), each within its own paragraph,
and only where that saves a line; the line holding the option's names keeps its names and gap.
The breaks that carry meaning stay: after a word man hyphenated at a line's end, after a line
whose clause-ending word ("files;") was dropped, before a line opening a list item, and before a
capitalised word after a line with no punctuation at its end (a sentence the line break alone
ended). A description with tabs or unevenly indented continuation lines (a list under it) is not
re-flowed at all, and one none of whose words was dropped stays byte for byte, as does every line
outside prose. The words are the same either way: re-flowing moves words, never drops one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

__all__ = ["Word", "ProseText", "Flow", "find_flows", "reflow"]

_HYPHENS = ("-", "\u2010")
_PUNCTUATION = tuple(".,;:!?)")
_CLAUSE_END = tuple(".;:!?")
# A line that starts a sentence: a capitalised word, not a name in capitals ("NUL-terminated",
# "SELinux", "URL's": a wrapped sentence goes on with those).
_SENTENCE_START = re.compile(r"^\s*[A-Z][a-z]+(?![A-Za-z0-9_.-])")
# A line that opens a list item: a bullet, or "1." "2)" "a)" "(b)" before a word.
_ITEM = re.compile(r"^\s*(?:[-*•–]|\(?[0-9a-z]{1,2}[.)])\s")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    line: int        # index of its line
    keep: bool       # kept whatever the model says (must-keep rule, name, bullet, hyphenated half)
    segment: int = 0  # its paragraph or option description, in text order


@dataclass
class ProseText:
    """A text's lines and the words of its prose lines, in order."""

    lines: list[str]
    words: list[Word]
    prose_lines: set[int]
    # Where a prose line's words start (an option row's description); at its indent when absent.
    starts: dict[int, int] = field(default_factory=dict)
    # Option descriptions over several lines, which ``join`` lays out again once thinned.
    flows: list[Flow] = field(default_factory=list)

    @property
    def candidates(self) -> list[int]:
        """Indexes of the words the model decides about."""
        return [i for i, word in enumerate(self.words) if not word.keep]

    def join(self, kept: set[int], as_written: set[int] | frozenset[int] = frozenset()) -> str:
        """The text with only the kept words of each prose line; other lines as they were, and
        so is a prose line's start (its indent, an option row's names and gap). Words are
        joined by single spaces: a justified man page line loses its padding, unless the line
        is one of ``as_written`` (lines the model never scored, left as they are). An option
        description that lost words is re-flowed onto fewer lines where it can be
        (``reflow``); one that lost none keeps its lines."""
        return "\n".join(line for _, lines in self.pieces(kept, as_written) for line in lines)

    def pieces(self, kept: set[int], as_written: set[int] | frozenset[int] = frozenset()
               ) -> list[tuple[tuple[int, ...], list[str]]]:
        """``join``'s output by where it comes from: each line of the text alone, with the
        line it gave, or a re-flowed description's lines, with the lines it gave (fewer)."""
        by_line: dict[int, list[str]] = {}
        written: dict[int, list[tuple[str, bool]]] = {}  # a line's words, each with whether it stays
        for index, word in enumerate(self.words):
            stays = word.keep or index in kept
            written.setdefault(word.line, []).append((word.text, stays))
            if stays:
                by_line.setdefault(word.line, []).append(word.text)
        thinned = {n for n, words in written.items() if len(by_line.get(n, ())) < len(words)}
        flows = {item.lines[0]: item for item in self.flows
                 if thinned.intersection(item.lines) and not as_written.intersection(item.lines)}
        out: list[tuple[tuple[int, ...], list[str]]] = []
        number = 0
        while number < len(self.lines):
            line = self.lines[number]
            if (item := flows.get(number)) is not None:
                out.append((item.lines, reflow(item, self.lines, [self._head(n) for n in item.lines],
                                               [written.get(n, []) for n in item.lines])))
                number = item.lines[-1] + 1
                continue
            if number in self.prose_lines and number not in as_written:
                words = by_line.get(number)
                head = self._head(number)
                line = head + " ".join(words) if words else head.rstrip()
            out.append(((number,), [line]))
            number += 1
        return out

    def _head(self, number: int) -> str:
        """A prose line's start: its indent, or an option row's names and gap."""
        line = self.lines[number]
        return line[:self.starts.get(number, len(line) - len(line.lstrip()))]


@dataclass(frozen=True)
class Flow:
    """An option description's lines, which may be laid out again once thinned."""

    lines: tuple[int, ...]   # consecutive line numbers, the first holding the option's names or not
    width: int               # the width the text's descriptions were wrapped at (see find_flows)
    indent: str              # the spaces its continuation lines start with


def find_flows(lines: list[str], descriptions: list[list[int]], starts: dict[int, int]) -> list[Flow]:
    """The descriptions (each a list of line numbers) that may flow; ``starts``: where each
    line's words start. Their width is the widest line of the text that a description wraps
    after (a tool wraps every description at one width; some, wget, by hand, wider or narrower),
    or the description's own widest line when wider still."""
    found = [item for item in (_flow(lines, numbers, starts) for numbers in descriptions) if item is not None]
    wrap = max((len(lines[n].rstrip()) for item in found for n in item.lines[:-1]), default=0)
    return [replace(item, width=max(item.width, wrap)) for item in found]


def _flow(lines: list[str], numbers: list[int], starts: dict[int, int]) -> Flow | None:
    """The flow of a description on lines ``numbers``, or None when it must keep its lines: one
    line, lines not consecutive, tabs (``col -b``), continuation lines indented unevenly or not
    with spaces alone (a list under the description: ``ls --time``, ``systemctl --dry-run``)."""
    if len(numbers) < 2 or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return None
    if any("\t" in lines[n] for n in numbers):
        return None
    heads = {lines[n][:starts[n]] for n in numbers[1:]}
    indent = heads.pop() if len(heads) == 1 else None
    if indent is None or indent.strip(" "):
        return None
    return Flow(tuple(numbers), max(len(lines[n].rstrip()) for n in numbers), indent)


def reflow(item: Flow, lines: list[str], heads: list[str], words: list[list[tuple[str, bool]]]) -> list[str]:
    """The description's lines laid out again: ``heads`` (each line's start as written) and
    ``words`` (each line's words as written, each with whether it stays), line by line of
    ``item``. A new run starts where a line must keep its break (see the module's docstring); a
    run that would take as many lines laid out again keeps its lines, each with its words left."""
    kept = [[text for text, stays in line_words if stays] for line_words in words]
    out: list[str] = []
    run: list[int] = []
    for at, number in enumerate(item.lines):
        if at and _breaks_before(lines[number], words[at - 1]):
            out += _run(item, heads, kept, run)
            run = []
        run.append(at)
    return out + _run(item, heads, kept, run)


def _run(item: Flow, heads: list[str], kept: list[list[str]], run: list[int]) -> list[str]:
    """The lines of one run (indexes into ``item.lines``): laid out again when that saves a line."""
    laid = _lay(heads[run[0]], [word for at in run for word in kept[at]], item)
    if len(laid) < len(run):
        return laid
    return [heads[at] + " ".join(kept[at]) if kept[at] else heads[at].rstrip() for at in run]


def _breaks_before(line: str, above: list[tuple[str, bool]]) -> bool:
    """Whether the break before ``line`` stays (``above``: the words of the line above, each with
    whether it stays): the line above ends in a hyphenated half word, or in a word ending a clause
    ("files;") that was dropped, so that the break is all that is left of its punctuation; ``line``
    opens a list item; or it starts with a capitalised word after a line with no punctuation at
    its end (a sentence ended by the line break alone: "Only print what would be done" /
    "Currently supported by verbs: ...")."""
    last, stays = above[-1] if above else ("", True)
    if (last.endswith(_HYPHENS) and len(last) > 1) or _ITEM.match(line) is not None:
        return True
    if not stays and last.endswith(_CLAUSE_END):
        return True
    return _SENTENCE_START.match(line) is not None and not last.endswith(_PUNCTUATION)


def _lay(head: str, words: list[str], item: Flow) -> list[str]:
    """``words`` after ``head``, then on lines starting with the flow's indent, each filled up to
    its width (a word longer than the room left starts a line of its own)."""
    if not words:
        return [head.rstrip()] if head.strip() else []
    out: list[str] = []
    line = head + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) > item.width:
            out.append(line)
            line = item.indent + word
        else:
            line += " " + word
    return out + [line]
