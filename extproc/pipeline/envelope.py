"""Tool output that arrives wrapped: the harness's envelope around the text a command printed.

Agents rarely hand the model a command's output bare. Codex's shell tool sends
``{"output": "...", "metadata": {"exit_code": 0, ...}}``; mini-swe-agent sends
``<returncode>0</returncode><output>...</output>``. Classified whole, such a block reads as one small
JSON object or as tag soup, and the build log or grep hits inside it reach no compressor.

``open_envelope`` finds the wrapped text; the pipeline routes and compresses that text and
``Envelope.wrap`` puts the result back. Everything outside the wrapped text (the other JSON
fields, the tags, their spacing) stays byte for byte, and the JSON string is re-escaped the way
the harness escaped it, so a block's treatment stays a pure function of its own bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["Envelope", "open_envelope", "DEFAULT_MIN_SHARE"]

# The wrapped text must be most of the block: a JSON object with one long string among many
# fields (an API record with a description) is data, not an envelope.
DEFAULT_MIN_SHARE = 0.7

_TAGGED = re.compile(
    r"(?P<head>\A\s*(?:<returncode>-?\d+</returncode>\s*)?<output>\n?)"
    r"(?P<inner>.*)"
    r"(?P<tail></output>\s*(?:<warning>.*</warning>\s*)?\Z)",
    re.DOTALL)
_KEY = r'"%s"\s*:\s*'


@dataclass(frozen=True, slots=True)
class Envelope:
    """The wrapped text of a block and what surrounds it; ``kind`` names the wrapper."""

    kind: str              # "json" or "tagged"
    head: str
    inner: str
    tail: str
    ascii_escaped: bool = False

    def wrap(self, new_inner: str) -> str:
        """The block's text with ``new_inner`` in place of the wrapped text."""
        if self.kind == "json":
            new_inner = json.dumps(new_inner, ensure_ascii=self.ascii_escaped)
        return self.head + new_inner + self.tail


def open_envelope(text: str, *, min_share: float = DEFAULT_MIN_SHARE) -> Envelope | None:
    """The envelope around ``text``'s real content, or None when the text is not wrapped."""
    head = text[:64].lstrip()
    if head.startswith("{"):
        return _json_envelope(text, min_share)
    if head.startswith("<"):
        match = _TAGGED.match(text)
        if match and "<output>" not in match["inner"]:
            return Envelope("tagged", match["head"], match["inner"], match["tail"])
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
    for ascii_escaped in (False, True):
        literal = json.dumps(inner, ensure_ascii=ascii_escaped)
        # the share is of the block's text, so the string counts as written (escapes and all)
        if len(literal) < min_share * len(text):
            continue
        for match in re.finditer(_KEY % re.escape(json.dumps(key)[1:-1]), text):
            if text.startswith(literal, match.end()):
                start, end = match.end(), match.end() + len(literal)
                return Envelope("json", text[:start], inner, text[end:], ascii_escaped)
    return None  # escaped some other way (e.g. "\/"): we could not put it back byte-exact
