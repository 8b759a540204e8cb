"""Tool output that arrives wrapped: the harness's envelope around the text a command printed.

Agents rarely hand the model a command's output bare:

* Codex (``exec_command``, ``write_stdin``) puts a header of lines in front, ending ``Output:``::

      Chunk ID: 7c4332
      Wall time: 1.5674 seconds
      Process exited with code 1
      Original token count: 8625
      Output:

  and, when it cut the output, a preamble ``Warning: truncated output (original token count: N)``
  with ``Total output lines: N`` and a blank line. Older Codex sent a JSON object instead,
  ``{"output": "...", "metadata": {"exit_code": 0, ...}}``.
* Claude Code appends ``<system-reminder>...</system-reminder>`` blocks to a tool result (a token
  budget, a note about the file) and starts a failed command's result with ``Exit code N``.
* mini-swe-agent sends ``<returncode>0</returncode><output>...</output>``.

Classified whole, such a block reads as one small JSON object, as tag soup, or as text whose
first character is not the ``{`` of the JSON behind it, and the build log or listing inside
reaches no compressor. ``open_envelope`` finds the wrapped text; the pipeline routes and
compresses that text and ``Envelope.wrap`` puts the result back. Everything outside the wrapped
text (headers, reminders, tags, other JSON fields, their spacing) stays byte for byte, and a JSON
string is re-escaped the way the harness escaped it, so a block's treatment stays a pure
function of its own bytes. An agent's own truncation marker inside the output (``...
[N characters truncated] ...``, ``…N tokens truncated…``) is part of the wrapped text: the
compressors keep it.

``exit_status`` reads the exit status a wrapper reports without opening the rest of it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .cache import TextMemo

__all__ = ["Envelope", "open_envelope", "exit_status", "DEFAULT_MIN_SHARE"]

# The wrapped text must be most of the block: a JSON object with one long string among many
# fields (an API record with a description) is data, not an envelope.
DEFAULT_MIN_SHARE = 0.7

_TAGGED = re.compile(
    r"(?P<head>\A\s*(?:<returncode>(?P<code>-?\d+)</returncode>\s*)?<output>\n?)"
    r"(?P<inner>.*)"
    r"(?P<tail></output>\s*(?:<warning>.*</warning>\s*)?\Z)",
    re.DOTALL)
_KEY = r'"%s"\s*:\s*'

# Codex's header: known lines in any order (one of them the wall time), then "Output:". A result
# of the apply_patch command nests a second header ("Exit code: 0", "Wall time: 0 seconds").
_HEADER_LINE = (r"(?:(?:Chunk ID|Wall time|Original token count|Exit code|Total output lines): [^\n]{0,80}\n"
                r"|Process (?:exited with code -?\d+|running with session ID \d+)\n)")
_CODEX_HEADER = re.compile(rf"{_HEADER_LINE}{{1,8}}Output:\n")
_EXIT_CODE = re.compile(r"^(?:Process exited with code |Exit code:? )(-?\d+)$", re.MULTILINE)
_CODEX_CUT = re.compile(r"Warning: truncated output \(original token count: \d+\)\n(?:Total output lines: \d+\n)?\n")
_CLAUDE_EXIT = re.compile(r"Exit code (-?\d+)\n")
_REMINDER_OPEN, _REMINDER_CLOSE = "<system-reminder>", "</system-reminder>"
_JSON_EXIT_CODE = re.compile(r'"exit_code"\s*:\s*(-?\d+)')
_RETURNCODE = re.compile(r"<returncode>(-?\d+)</returncode>")
_HEAD_WINDOW = 512
# open_envelope's and exit_status's answers for texts under MEMO_CHARS, this many bytes at most
_OPENED: TextMemo[Envelope | None] = TextMemo(4 * 1024 * 1024)
_EXITS: TextMemo[int | None] = TextMemo(2 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The wrapped text of a block and what surrounds it; ``kind`` names the innermost wrapper."""

    kind: str              # "json", "tagged" or "text" (a header and/or trailing reminders)
    head: str
    inner: str
    tail: str
    ascii_escaped: bool = False
    exit_code: int | None = None   # the exit status the wrapper reports, when it does

    def wrap(self, new_inner: str) -> str:
        """The block's text with ``new_inner`` in place of the wrapped text."""
        if self.kind == "json":
            new_inner = json.dumps(new_inner, ensure_ascii=self.ascii_escaped)
        return self.head + new_inner + self.tail


def open_envelope(text: str, *, min_share: float = DEFAULT_MIN_SHARE) -> Envelope | None:
    """The envelope around ``text``'s real content, or None when the text is not wrapped.
    Remembered for texts under ``MEMO_CHARS`` (a pure function of the text, asked of every
    released block and dedup's outputs every turn of a conversation read cold)."""
    if min_share != DEFAULT_MIN_SHARE:
        return _opened(text, min_share)
    return _OPENED.recall(text, _opened, len(text))  # the parts it holds


def exit_status(text: str) -> int | None:
    """The exit status a wrapper reports (Codex's header or JSON metadata, Claude Code's
    ``Exit code N``, mini-swe-agent's returncode); None when it reports none. Reads only the head
    (and, for a JSON envelope, the tail) of the text; remembered as ``open_envelope`` is."""
    return _EXITS.recall(text, _exit_status)


def _opened(text: str, min_share: float = DEFAULT_MIN_SHARE) -> Envelope | None:
    start, code = _header_end(text)
    end = max(_reminders_start(text), start)  # the blank lines before a reminder may end the header
    body = text[start:end]
    inner = _whole_envelope(body, min_share)
    if inner is None:
        if start == 0 and end == len(text):
            return None
        return Envelope("text", text[:start], body, text[end:], exit_code=code)
    return Envelope(inner.kind, text[:start] + inner.head, inner.inner, inner.tail + text[end:],
                    inner.ascii_escaped, inner.exit_code if inner.exit_code is not None else code)


def _exit_status(text: str) -> int | None:
    head = text[:_HEAD_WINDOW]
    if head.startswith(("Chunk ID: ", "Wall time: ", "Exit code")):
        header = _CODEX_HEADER.match(head)
        found = _EXIT_CODE.search(header[0]) if header else _CLAUDE_EXIT.match(head)
        return int(found[1]) if found else None
    stripped = head.lstrip()
    if stripped.startswith("<returncode>"):
        found = _RETURNCODE.match(stripped)
        return int(found[1]) if found else None
    if stripped.startswith("{") and '"metadata"' in text[-_HEAD_WINDOW:]:
        found = _JSON_EXIT_CODE.search(text[-_HEAD_WINDOW:])
        return int(found[1]) if found else None
    return None


def _reminders_start(text: str) -> int:
    """Where the run of trailing ``<system-reminder>`` blocks (and the blank lines before them) starts;
    ``len(text)`` when the text does not end with one."""
    end = _trimmed(text, len(text), " \t\r\n")
    start = len(text)
    while text.endswith(_REMINDER_CLOSE, 0, end):
        opened = text.rfind(_REMINDER_OPEN, 0, end)
        # a reminder holds no other reminder; one that would is not Claude Code's
        if opened < 0 or text.find(_REMINDER_CLOSE, opened, end - len(_REMINDER_CLOSE)) >= 0:
            break
        start = _trimmed(text, opened, "\n")
        end = _trimmed(text, opened, " \t\r\n")
    return start


def _trimmed(text: str, end: int, chars: str) -> int:
    """``end`` moved back over any of ``chars`` (rstrip, copying only a short window of the text)."""
    window = text[max(0, end - 256):end]
    kept = window.rstrip(chars)
    if kept or end <= 256:
        return end - (len(window) - len(kept))
    return len(text[:end].rstrip(chars))  # a long run of blanks: rare


def _header_end(text: str) -> tuple[int, int | None]:
    """Where the output begins after Codex's header(s) and truncation preamble, or Claude Code's
    ``Exit code N`` line; 0 when there is none. Also the exit status the header reports."""
    position, code = 0, None
    while (header := _CODEX_HEADER.match(text, position)) is not None and "Wall time: " in header[0]:
        found = _EXIT_CODE.search(header[0])
        code = int(found[1]) if found and code is None else code
        position = header.end()
    if position and (cut := _CODEX_CUT.match(text, position)) is not None:
        position = cut.end()
    if position == 0 and (claude := _CLAUDE_EXIT.match(text)) is not None:
        return claude.end(), int(claude[1])
    return position, code


def _whole_envelope(text: str, min_share: float) -> Envelope | None:
    """A JSON or tagged envelope that is the whole of ``text``."""
    head = text[:64].lstrip()
    if head.startswith("{"):
        return _json_envelope(text, min_share)
    if head.startswith("<"):
        match = _TAGGED.match(text)
        if match and "<output>" not in match["inner"]:
            code = int(match["code"]) if match["code"] is not None else None
            return Envelope("tagged", match["head"], match["inner"], match["tail"], exit_code=code)
    return None


def _json_envelope(text: str, min_share: float) -> Envelope | None:
    """A JSON object one multi-line string field of which holds most of the text."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    strings = [(key, item) for key, item in value.items() if isinstance(item, str)]
    if not strings:
        return None
    key, inner = max(strings, key=lambda pair: len(pair[1]))
    if "\n" not in inner:
        return None
    metadata = value.get("metadata")
    code = metadata.get("exit_code") if isinstance(metadata, dict) else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    for ascii_escaped in (False, True):
        literal = json.dumps(inner, ensure_ascii=ascii_escaped)
        # the share is of the block's text, so the string counts as written (escapes and all)
        if len(literal) < min_share * len(text):
            continue
        for match in re.finditer(_KEY % re.escape(json.dumps(key)[1:-1]), text):
            if text.startswith(literal, match.end()):
                start, end = match.end(), match.end() + len(literal)
                return Envelope("json", text[:start], inner, text[end:], ascii_escaped, code)
    return None  # escaped some other way (e.g. "\/"): we could not put it back byte-exact
