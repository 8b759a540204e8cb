"""The request model every compressor works on, whatever the wire format.

A format adapter (``formats/``) turns a parsed body into a ``Conversation``: a flat list of
``Block``s in body order, each a piece of text with its role, kind, position, the path of its
string in the body, and for tool calls and their results the tool's name and parsed arguments
(``tool_input``), and for tool results the distinctive terms of the question they answer
(``focus``). Compressors never see JSON or protobufs; they ask the conversation to
``replace`` a block's text, which is *recorded*. ``compress.py`` then writes the new strings over
the old ones in the body's bytes (``rawjson.splice_bytes``); an unchanged request is never rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .rawjson import Path

__all__ = ["Kind", "Block", "Change", "Conversation", "ToolCall", "tool_input"]


class Kind(str, Enum):  # noqa: UP042  # a StrEnum would change str(Kind.X) from "Kind.X" to its value
    """What a block is, independent of the wire format."""

    TEXT = "text"                # user, assistant, system or developer prose
    TOOL_RESULT = "tool_result"  # output of a tool, the bulk of agent traffic
    TOOL_CALL = "tool_call"      # arguments of a call the model made: never touched
    THINKING = "thinking"        # reasoning blocks and their signatures: never touched


# Argument strings up to this long are parsed once per process (``_parsed``): every request resends
# the calls before it, and the policy, dedup and focus ask for the arguments of their results.
_MEMO_ARGUMENT_CHARS = 2048


def tool_input(arguments: Any) -> dict[str, Any] | None:
    """A call's arguments as an object: given as one, or as a string of JSON that parses to one.

    Parsed from a string, the object may be the one handed out for the same string before: read it,
    never change it (like an Anthropic call's ``input``, which is the body's own)."""
    if isinstance(arguments, str):
        arguments = _parsed(arguments) if len(arguments) <= _MEMO_ARGUMENT_CHARS else _parsed.__wrapped__(arguments)
    return arguments if isinstance(arguments, dict) else None


@functools.lru_cache(maxsize=2048)  # at most 2048 strings of _MEMO_ARGUMENT_CHARS and their values
def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except (ValueError, RecursionError):
        return None


class ToolCall:
    """A tool call as its results need it: the tool's name and its arguments, parsed when asked.

    Every request registers every call of the conversation, most of them answered long ago; only
    the age rules of token mode ever read ``input``.
    """

    __slots__ = ("name", "_arguments", "_input", "_parsed", "_digest")

    def __init__(self, name: str | None, arguments: Any = None) -> None:
        self.name = name
        self._arguments = arguments
        self._input: dict[str, Any] | None = None
        self._parsed = False
        self._digest: bytes | None = None

    @property
    def digest(self) -> bytes:
        """A digest of the arguments as sent (a command, a path): what its results' treatment
        depends on besides their text and the tool (the message cache's check, ``pipeline.cache``).
        Arguments that cannot be serialised get a digest no other call has."""
        if self._digest is None:
            arguments = self._arguments
            try:
                text = arguments if isinstance(arguments, str) else json.dumps(arguments, sort_keys=True)
                self._digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            except (TypeError, ValueError, RecursionError):
                self._digest = os.urandom(8)
        return self._digest

    @property
    def arguments(self) -> Any:
        """The arguments as sent: a string of JSON (OpenAI) or an object (Anthropic), or None."""
        return self._arguments

    @property
    def input(self) -> dict[str, Any] | None:
        if not self._parsed:
            self._input, self._parsed = tool_input(self._arguments), True
        return self._input


@dataclass(slots=True, eq=False)
class Block:
    """One piece of text in the conversation and how to write a new value back."""

    kind: Kind
    role: str
    text: str
    message_index: int
    tool_name: str | None = None
    tool_call_id: str | None = None
    is_error: bool = False
    # The tool call this block is (or answers); its ``tool_input`` is parsed only when asked.
    call: ToolCall | None = field(default=None, repr=False)
    # A tool result's question's terms (``pipeline.focus``); the call's are added when compressed.
    focus: tuple[str, ...] = field(default=(), repr=False)
    # Where the string sits in the body (keys and indices from the root); None: read-only.
    path: Path | None = field(default=None, repr=False)
    # The exit status a tool result's wrapper reports (Codex's "Process exited with code N",
    # Claude Code's "Exit code N"); None when it reports none. Set by the pipeline
    # (``pipeline.envelope.exit_status``) before the policy runs.
    exit_code: int | None = field(default=None, repr=False)

    @property
    def writable(self) -> bool:
        return self.path is not None

    @property
    def tool_input(self) -> dict[str, Any] | None:
        """The call's arguments when they parse as a JSON object."""
        return self.call.input if self.call is not None else None


@dataclass(frozen=True, slots=True)
class Change:
    """A replacement a compressor asked for."""

    block: Block
    new_text: str
    by: str


@dataclass(slots=True)
class Conversation:
    """A parsed request: its format, model, blocks and the changes recorded so far."""

    format: str
    model: str | None
    blocks: list[Block] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def add(self, block: Block) -> None:
        self.blocks.append(block)

    def replace(self, block: Block, new_text: str, by: str) -> None:
        """Record that ``block`` should read ``new_text``; nothing is written yet."""
        if block.path is None:
            raise ValueError(f"block {block.kind.value} at message {block.message_index} is read-only")
        self.changes.append(Change(block, new_text, by))
