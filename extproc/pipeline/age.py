"""Token mode's age rules: which tool results are recent enough to stay whole, and which file reads
something later in the conversation has made stale.

Cache mode never runs these: they look at what comes later, so a message would read differently
in the next request and the provider's prompt cache would miss from there on.

A read is the result of a call ``reads.file_read`` calls one: a file-read tool, an editor tool with
command ``view``, or a shell command that only prints a file (``cat``, ``sed -n``, ``head``, ``tail``,
``nl``); its path comes from the call's arguments. It is stale when, after its result, the model
edits or writes the same path (``EDIT_TOOLS``, an editor tool with a writing command, or an
``apply_patch`` patch naming the file) and that call did not fail, or reads the whole file again
and gets at least as much text back (a shorter re-read may be a "file unchanged" stub pointing
back at this one). A relative path names the same file as an absolute one that ends with it (a
shell ``cat notes.txt`` and a patch or ``Edit`` of ``/repo/notes.txt``). A result whose wrapper
reports a non-zero exit status failed. Each text block of a stale read becomes one marker line, e.g.
``[trimwire: earlier read of src/app.py omitted; the file was edited later]``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..conversation import Block, Conversation, Kind
from .reads import EDITOR_TOOLS, READ_TOOLS, file_read, tool_path

__all__ = ["READ_TOOLS", "EDIT_TOOLS", "EDITOR_TOOLS", "recent_tool_results", "stale_reads"]

EDIT_TOOLS = frozenset({"edit", "multiedit", "write", "write_file", "edit_file", "create_file", "notebookedit"})
_EDITOR_WRITES = frozenset({"create", "str_replace", "insert", "undo_edit"})
_PATCH_FILE = re.compile(r"^\*\*\* (?:Update|Add|Delete) File: (.+?)\s*$|^\*\*\* Move to: (.+?)\s*$", re.MULTILINE)
_EDITED, _REREAD = "the file was edited later", "the file is read again in full later"


@dataclass(slots=True)
class _Read:
    blocks: list[Block]
    path: str
    full: bool      # the whole file was asked for and the read did not fail
    chars: int


def recent_tool_results(conv: Conversation, count: int) -> set[Block]:
    """The blocks of the last ``count`` tool results (a result may span several text blocks)."""
    groups = list(_results(conv.blocks))
    recent = groups[max(0, len(groups) - count):] if count > 0 else []
    return {block for group in recent for block in group}


def stale_reads(conv: Conversation) -> dict[Block, str]:
    """Each text block of a stale file read, with the marker line that replaces it."""
    failed = {b.tool_call_id for b in conv.blocks if b.kind is Kind.TOOL_RESULT and b.tool_call_id and _failed(b)}
    reads: dict[str, list[_Read]] = {}
    stale: dict[Block, str] = {}
    for event in _events(conv.blocks):
        if isinstance(event, Block):  # a tool call: earlier reads of each file it changes are stale
            for path in [] if event.tool_call_id in failed else _edited_paths(event):
                for known in [known for known in reads if _same_file(known, path)]:
                    for old in reads.pop(known):
                        _mark(stale, old, _EDITED)
        elif (read := _read_of(event)) is not None:
            known = next((known for known in reads if _same_file(known, read.path)), read.path)
            earlier = reads.setdefault(known, [])
            if read.full:  # covers the earlier reads of this file that returned no more text
                for old in [old for old in earlier if old.chars <= read.chars]:
                    _mark(stale, old, _REREAD)
                    earlier.remove(old)
            earlier.append(read)
    return stale


def _events(blocks: list[Block]) -> Iterator[Block | list[Block]]:
    """Tool calls (a Block) and tool results (a list of Blocks), in conversation order."""
    results = _results(blocks)
    pending = next(results, None)
    for block in blocks:
        if pending is not None and block is pending[0]:
            yield pending
            pending = next(results, None)
        elif block.kind is Kind.TOOL_CALL:
            yield block


def _results(blocks: list[Block]) -> Iterator[list[Block]]:
    """Tool results in order, each the run of blocks sharing a message and a call id."""
    group: list[Block] = []
    for block in blocks:
        if block.kind is not Kind.TOOL_RESULT:
            continue
        if group and (block.message_index, block.tool_call_id) != (group[0].message_index, group[0].tool_call_id):
            yield group
            group = []
        group.append(block)
    if group:
        yield group


def _mark(stale: dict[Block, str], read: _Read, why: str) -> None:
    if not read.blocks[0].writable or _failed(read.blocks[0]):
        return
    marker = f"[trimwire: earlier read of {read.path} omitted; {why}]"
    for block in read.blocks:
        if len(marker) < len(block.text):
            stale.setdefault(block, marker)


def _failed(block: Block) -> bool:
    """A result flagged as an error, one whose wrapper reports a non-zero exit status, or one that
    says so in its first word (formats without a flag)."""
    return block.is_error or bool(block.exit_code) or block.text.lstrip()[:5].lower() == "error"


def _same_file(a: str, b: str) -> bool:
    """The same path, or a relative one and an absolute one that ends with it."""
    if a == b:
        return True
    if a.startswith("/") == b.startswith("/"):
        return False
    relative, absolute = (a, b) if b.startswith("/") else (b, a)
    return not relative.startswith("..") and absolute.endswith("/" + relative)


def _read_of(result: list[Block]) -> _Read | None:
    """``result`` as a file read (path, whole file or not, length), or None when it is none."""
    block = result[0]
    read = file_read(block.tool_name, block.tool_input)
    if read is None:
        return None
    return _Read(result, read.path, read.full and not _failed(block), sum(len(part.text) for part in result))


def _edited_paths(call: Block) -> list[str]:
    """The paths a tool call writes: an edit tool's path, or the files an apply_patch patch names."""
    name, args = (call.tool_name or "").lower(), call.tool_input or {}
    if name in EDIT_TOOLS or (name in EDITOR_TOOLS and args.get("command") in _EDITOR_WRITES):
        path = tool_path(args)
        return [path] if path else []
    texts = _strings(args) if call.tool_input is not None else [call.text]
    return [posixpath.normpath(a or b) for text in texts if "*** Begin Patch" in text
            for a, b in _PATCH_FILE.findall(text)]


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value (a patch may sit in ``input``, ``patch`` or a command list)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for child in value.values() for text in _strings(child)]
    if isinstance(value, list):
        return [text for child in value for text in _strings(child)]
    return []
