"""ANSI escape codes in tool output: colours and cursor moves, which carry no facts.

Build tools, test runners and app logs colour their output when a terminal is forced on them
(``--color=always``, ``FORCE_COLOR``, CI log exports, ``kubectl logs`` of an app that colours its
lines). Each ECMA-48 control sequence (``ESC [`` parameters, a final letter: ``\\x1b[31m``,
``\\x1b[0m``, ``\\x1b[2K``) costs the model a few tokens and says nothing a reader of the text
needs, and it hides a line's shape from the router (``\\x1b[31mERROR\\x1b[0m`` does not start
with ``ERROR``).

``strip_ansi`` takes them out before a released block is routed; the pipeline
compresses the plain text, and a block nothing else shrinks still goes out without them. Only
these CSI sequences are removed: an OSC sequence (a window title, or a hyperlink whose address
may be a fact) and any other escape stay as they are. Source code is left whole, escapes and all
(``pipeline/core.py``), since an edit of the file must match it byte for byte.
"""

from __future__ import annotations

import re

__all__ = ["ANSI", "strip_ansi"]

ANSI = "ansi"  # the name a block stripped of its codes and nothing else is changed by

# ECMA-48 CSI: ESC [, parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E.
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str | None:
    """``text`` without its CSI sequences, or None when it has none."""
    if "\x1b[" not in text:
        return None
    plain = _CSI.sub("", text)
    return plain if len(plain) < len(text) else None
