"""What a compressor may touch, and under which guarantee. Everything not released here reaches
the model byte for byte.

Released: tool results that do not come from a tool whose output must stay exact (file reads and
edits, ``protected_tools``) or from a shell command that reads a file (``reads.py``: ``cat``,
``sed -n``, ``head``, ``tail``, ``nl`` on a path), and are long enough to be worth it. A result
flagged as an error (``is_error``) or holding a traceback is *guarded* (``guards``): it is released
only under ``guard.py``'s guarantee that every traceback and error line of it reaches the model
verbatim. With ``compress_errors`` off such results are not released at all (the rule before the
guard existed).
Never released: user, system, developer and assistant text, tool-call arguments, thinking.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..conversation import Block, Kind
from .reads import SHELL_TOOLS, file_read

__all__ = ["Policy"]

_TRACEBACK_SIGNS: tuple[str, ...] = ("Traceback (most recent call last)", "\n    at ", "\n\tat ", "panicked at ",
                                     "Exception in thread")
# The same signs as they read inside a JSON string (Codex's {"output": "..."}, a log record's
# "stack"), line breaks and tabs escaped.
_TRACEBACK_SIGNS += tuple(sign.replace("\n", "\\n").replace("\t", "\\t") for sign in _TRACEBACK_SIGNS if "\n" in sign)


class Policy:
    def __init__(self, *, protected_tools: Iterable[str], min_block_chars: int, compress_errors: bool = True) -> None:
        self.protected_tools = frozenset(name.lower() for name in protected_tools)
        self.min_block_chars = min_block_chars
        self.compress_errors = compress_errors

    def releases(self, block: Block) -> bool:
        if block.kind is not Kind.TOOL_RESULT or block.path is None:  # read-only: not writable
            return False
        if len(block.text) < self.min_block_chars:
            return False
        name = block.tool_name.lower() if block.tool_name else None
        if name is not None and name in self.protected_tools:
            return False
        if name is not None and name in SHELL_TOOLS and file_read(block.tool_name, block.tool_input):
            return False  # a file printed by the shell: an edit will be built from it
        return self.compress_errors or not self.guards(block)

    def guards(self, block: Block) -> bool:
        """Is the block a failure's output (flagged, or holding a traceback), compressed only under
        the guard? A pure function of the block's own text and flags, so cache-safe."""
        if block.is_error or getattr(block, "exit_code", None):
            return True
        text = block.text
        for sign in _TRACEBACK_SIGNS:  # noqa: SIM110  # a plain loop: any() over a generator costs more per block
            if sign in text:
                return True
        return False
