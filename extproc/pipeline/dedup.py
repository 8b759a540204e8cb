"""Say it once: a run of lines the conversation already holds goes out as a pointer to it.

Runs after the compressors, at the first sight of each message (``compress.py`` walks the
messages in order). For a released tool result, the text it would go out as is split into
lines; each run of at least ``MIN_LINES`` lines that stands verbatim earlier in the conversation
as the model sees it (an earlier tool output as it went out, a multi-line argument of an earlier
tool call such as a file written in a heredoc, or earlier in the same output) becomes one line:

    [trimwire: lines 40-118 = lines 12-90 of the output of toolu_01 (cat -n src/app.py)]

A line-number prefix (``cat -n``, ``grep -n``, ``Read``) does not hide a repeat: lines are
compared by what follows it, and the pointer then names the numbers on each side, so the model
can put them back. A run is replaced only when its tokens are at least ``margin`` times the
pointer's.

File reads (protected tools' outputs, a file the shell printed) get pointers too, with
``reads`` on: the policy keeps a read exact because an edit is built from it, and a pointer
keeps it exact in meaning, since the lines it names stand byte for byte where it points (runs
match line for line, compared as text before a pointer is written, not only by hash; and only
lines as they went out are indexed). Nothing else of a read is
touched. With ``reads`` off they are never changed and the tokens their repeats hold are
counted (``dedup_protected_tokens``).

A failed command's output (``policy.Policy.guards``) gets pointers like any released output:
the compressors must keep every line ``guard.py`` protects, but a pointer is exact by reference
(the lines it names stand byte for byte earlier in the same request, where the model reads them),
so a re-run's repeated traceback points at its earlier copy. With ``errors`` off those lines stay
in the output verbatim (no run covers one).

Cache safety: what a message comes to depends on its text, its tools, the settings and what
precedes it (``lines.LineIndex``, built from every earlier message as it went out), so a resent
message gives the same bytes; ``compress.py`` keeps such messages out of the message cache, whose
key is the message's text alone, and answers them from the conversation's checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from ..config import DEFAULT_DEDUP_MARGIN
from ..conversation import Block, Change, Conversation, Kind, ToolCall
from .cache import MEMO_CHARS, TextMemo
from .envelope import Envelope, open_envelope
from .guard import Guard
from .lines import LineIndex, Lines, LinesCache, Source, numbers_name_lines
from .reads import SHELL_TOOLS, file_read
from .runs import MIN_LINES, Run, SentLines, find_runs

__all__ = ["DEDUP", "Dedup", "DEFAULT_DEDUP_MARGIN", "MIN_LINES"]

DEDUP = "dedup"
_LABEL_CHARS = 48
_LABEL_MEMO_CHARS = 1000
_POINTERS = 8192  # pointer texts whose tokens Dedup remembers (each under ~200 characters)
# what Dedup remembers of calls by their arguments as sent: labels (``_call``) of arguments under
# MEMO_CHARS, and argument sources (``_sources``), at most this many characters of call text
_CALLS = 8192
_CALLS_BYTES = 2 * 1024 * 1024
_CD = re.compile(r"^cd \S+ && ")
_LABEL_KEYS = ("command", "cmd", "file_path", "path", "filename", "pattern", "query", "url")


class Dedup:
    """Finds repeats in a message's blocks and writes pointers; adds what went out to the index."""

    def __init__(self, *, margin: float = DEFAULT_DEDUP_MARGIN, protected_tools: Iterable[str] = (),
                 count: Callable[[str], int] | None = None, guards: Callable[[Block], bool] | None = None,
                 reads: bool = True, errors: bool = True, lines: LinesCache | None = None) -> None:
        self.margin = margin
        # texts' line hashes remembered across requests (``history.History`` forgets them)
        self.lines = lines if lines is not None else LinesCache()
        self.reads = reads
        self.protected_tools = frozenset(name.lower() for name in protected_tools)
        # a failed command's output (``policy.Policy.guards``): with ``errors`` off, its error lines
        # stay in it verbatim; on, a pointer may name them where they stand earlier
        self._guards = guards or (lambda block: False)
        self.errors = errors
        self._count = count or (lambda text: len(text) // 4)
        # pointers' tokens: every turn of a conversation read cold weighs the same candidate
        # runs again (at most _POINTERS short strings, then emptied)
        self._pointers: dict[str, int] = {}
        # a call's label and whether it reads a file, and a call's argument sources: functions of
        # the call as sent, which every turn of a conversation read cold resends (JSON to parse)
        self._calls: dict[tuple[str | None, str], tuple[str, bool]] = {}  # at most _CALLS, then emptied
        self._sources: TextMemo[tuple[Source, ...]] = TextMemo(_CALLS_BYTES)

    def message(self, conv: Conversation, blocks: list[Block], index: LineIndex, released: set[Block],
                held: set[Block], changes: dict[int, Change], events: dict[str, int]) -> tuple[Source, ...]:
        """Rewrite the released blocks of one message read now, and its file reads not ``held``
        whole by rule (a frozen prefix, token mode's recent results); return the sources it adds.

        ``changes`` hold what the compressors (and token mode's age rules) made of each block, by
        ``id`` of the block; a block with a pointer gets one more change (by ``dedup``) in ``conv``,
        which supersedes that one."""
        added: list[Source] = []
        seen: set[str] = set()
        for block in blocks:
            if block.kind is Kind.TOOL_CALL:
                for source in self._argument_sources(block):
                    index.add(source)
                    added.append(source)
                continue
            if block.kind is not Kind.TOOL_RESULT or block.tool_call_id in seen:
                continue
            change = changes.get(id(block))
            text = block.text if change is None else self._sent(block, change)
            # Codex's {"output": "..."}: its lines are those of the output string. A tagged wrapper
            # (<returncode>, <output>) is lines of the text itself, and counted as the model sees them.
            json_like = _looks_json(text)
            envelope = open_envelope(text) if json_like else None
            inner = text if envelope is None else envelope.inner
            lines = self.lines.lines(inner)
            limit = len(index.sources)
            label, reads = self._call(block.call, block.tool_name)
            read = block not in released and reads
            if block in released or (read and self.reads and block.writable and block not in held
                                     and id(block) not in changes):
                keep = self._guarded_lines(block, lines) \
                    if not read and not self.errors and self._guards(block) else frozenset()
                if not json_like:
                    if lines.wrapper is None:  # a function of the text alone: found once per text
                        lines.wrapper = _wrapper_lines(text)
                    keep |= lines.wrapper
                out = self._rewrite(inner, lines, index, limit, events, keep, earlier_only=read)
                if out is not None:
                    new_text, lines = out
                    inner = new_text
                    conv.replace(block, new_text if envelope is None else envelope.wrap(new_text), DEDUP)
            elif read:
                self._measure(lines, index, limit, events)
            if block.tool_call_id is not None:
                seen.add(block.tool_call_id)
                source = lines.source(f"the output of {block.tool_call_id}{label}", len(inner))
                index.add(source)
                added.append(source)
        return tuple(added)

    def _call(self, call: ToolCall | None, tool_name: str | None) -> tuple[str, bool]:
        """The label naming a call (``_label``), and whether its output is a file's text the policy
        keeps exact (a read or edit tool's, a file the shell printed); remembered by the tool and
        the arguments as sent when those are a string of JSON (an object needs no parsing)."""
        arguments = call.arguments if call is not None else None
        if not isinstance(arguments, str) or len(arguments) >= MEMO_CHARS:
            return _label(call, tool_name), self._protected(call, tool_name)
        found = self._calls.get((tool_name, arguments))
        if found is None:
            if len(self._calls) >= _CALLS:
                self._calls.clear()
            found = self._calls[(tool_name, arguments)] = (_label(call, tool_name), self._protected(call, tool_name))
        return found

    def _protected(self, call: ToolCall | None, tool_name: str | None) -> bool:
        name = (tool_name or "").lower()
        return name in self.protected_tools or (
            name in SHELL_TOOLS and file_read(name, call.input if call is not None else None) is not None)

    def _argument_sources(self, block: Block) -> tuple[Source, ...]:
        """``_argument_sources`` of a call block, remembered by its id, tool and text."""
        if not _may_span_lines(block):
            return ()
        return self._sources.recall(f"{block.tool_call_id}\n{block.tool_name or ''}\n{block.text}",
                                    lambda _: tuple(_argument_sources(block, self.lines)))

    def _sent(self, block: Block, change: Change | None) -> str:
        """The block's text as it goes out: a change costing no fewer tokens than the text it
        would replace is dropped (``compress.py``), and the text goes out as it came."""
        if change is None or self._count(change.new_text) >= self._count(block.text):
            return block.text
        return change.new_text

    def _worth(self, lines: Lines, run: Run, pointer: str) -> int:
        """The tokens the pointer saves over the run, or 0 when they fall short of the margin."""
        text = "\n".join(lines.lines[run.start:run.start + run.length])
        pointer_tokens = self._pointers.get(pointer)
        if pointer_tokens is None:
            if len(self._pointers) >= _POINTERS:
                self._pointers.clear()
            pointer_tokens = self._pointers[pointer] = self._count(pointer)
        needed = self.margin * pointer_tokens
        if len(text) < needed and len(text.encode("utf-8", "surrogatepass")) < needed:
            return 0  # a token is at least a byte (and a character at least a byte): too few need no count
        run_tokens = self._count(text)
        return run_tokens - pointer_tokens if run_tokens >= needed else 0

    @staticmethod
    def _guarded_lines(block: Block, lines: Lines) -> frozenset[int]:
        """The lines of a guarded block's text as sent that ``guard.py`` protects in its text."""
        envelope = _json_envelope(block.text)
        protected = Guard.of(block.text if envelope is None else envelope.inner).lines
        return frozenset(number for number, line in enumerate(lines.lines) if line in protected)

    def _rewrite(self, text: str, lines: Lines, index: LineIndex, limit: int, events: dict[str, int],
                 keep: frozenset[int] = frozenset(), earlier_only: bool = False) -> tuple[str, Lines] | None:
        """The text with its repeats replaced (never a line in ``keep``), and its lines as sent;
        None when nothing is. ``earlier_only`` (a file read): runs point into earlier messages only,
        never back into the same output, so a read's own lines all go out once."""
        sent = SentLines(lines)
        if earlier_only:
            sent.pointable = False
        runs = find_runs(lines, index, limit, sent, self._worth, keep)
        if not runs:
            return None
        out: list[str] = []
        position = 0
        for run in runs:
            out += lines.lines[position:run.start]
            out.append(run.pointer)
            position = run.start + run.length
        out += lines.lines[position:]
        new_text = "\n".join(out)
        _count(events, "dedup_saved_tokens", self._count(text) - self._count(new_text))
        _count(events, "dedup_runs", len(runs))
        return new_text, Lines.of(sent.lines, sent.keys, sent.wholes, sent.numbers, numbers_name_lines(sent.numbers))

    def _measure(self, lines: Lines, index: LineIndex, limit: int, events: dict[str, int]) -> None:
        """Count the tokens the repeats in a protected output hold; change nothing."""
        runs = find_runs(lines, index, limit, SentLines(lines), self._worth)
        if runs:
            _count(events, "dedup_protected_tokens", sum(run.saved for run in runs))


def _count(events: dict[str, int], name: str, amount: int) -> None:
    events[name] = events.get(name, 0) + amount


def _label(call: ToolCall | None, tool_name: str | None) -> str:
    """`` (cat -n src/app.py)``: the call's command or path, else its tool's name, one short line."""
    arguments = (call.input if call is not None else None) or {}
    what = None
    for key in _LABEL_KEYS:
        value = arguments.get(key)
        if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
            value = value[-1]  # ["bash", "-lc", "the command"]
        if isinstance(value, str) and value.strip():
            what = value.strip()
            break
    what = what or tool_name
    if not what:
        return ""
    line = what.split("\n", 1)[0]
    return _label_of(line) if len(line) <= _LABEL_MEMO_CHARS else _label_of.__wrapped__(line)


@lru_cache(maxsize=4096)
def _label_of(line: str) -> str:
    """`` (line)``, its spaces squeezed and shortened (``_label``); remembered (4096 lines of at
    most ``_LABEL_MEMO_CHARS``), as every turn of a conversation read cold resends its calls."""
    what = " ".join(line.split())
    what = _CD.sub("", what) or what  # "cd /testbed && grep ...": the grep is what names it
    if len(what) > _LABEL_CHARS:
        what = what[:_LABEL_CHARS - 3] + "..."
    return f" ({what})"


def _looks_json(text: str) -> bool:
    return text[:64].lstrip()[:1] == "{"


def _json_envelope(text: str) -> Envelope | None:
    """The envelope of a text that starts as JSON does (Codex's ``{"output": ...}``), else None."""
    return open_envelope(text) if _looks_json(text) else None


def _wrapper_lines(text: str) -> frozenset[int]:
    """The lines of a harness's header and trailing reminders around a command's output (Codex's
    ``Chunk ID`` .. ``Output:``, Claude Code's ``Exit code N`` and ``<system-reminder>``, the
    ``<returncode>`` tags): they describe this call (its exit status, its time), so no pointer
    covers them, as no compressor does (``envelope.py``)."""
    envelope = open_envelope(text)
    if envelope is None:
        return frozenset()
    head, tail = envelope.head, envelope.tail
    lines = set(range(head.count("\n") + (1 if head and not head.endswith("\n") else 0)))
    if tail:
        last = text.count("\n")
        first = text.count("\n", 0, len(text) - len(tail)) + (1 if tail.startswith("\n") else 0)
        lines.update(range(first, last + 1))
    return frozenset(lines)


def _may_span_lines(block: Block) -> bool:
    """Whether a call block's arguments may hold a string of several lines. Its text is their
    JSON, where a string's line break is written as an escape: with neither a backslash nor a line
    break, none does (and the arguments need not be parsed, every turn, for every call)."""
    return block.tool_call_id is not None and ("\\" in block.text or "\n" in block.text)


def _argument_sources(block: Block, cache: LinesCache) -> list[Source]:
    """The multi-line string arguments of a tool call (a file written, a heredoc, a patch)."""
    if not _may_span_lines(block):
        return []
    arguments = block.tool_input
    if not arguments:
        return []
    out = []
    for key, value in arguments.items():
        texts = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
            if isinstance(value, list) else []
        for text in texts:
            if text.count("\n") + 1 < MIN_LINES:
                continue
            out.append(cache.lines(text).source(
                f"the {key} argument of {block.tool_call_id}{_label(block.call, block.tool_name)}", len(text)))
            break  # one text per argument: its line numbers must name one text
    return out
