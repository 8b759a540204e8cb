"""Is this tool call a file read? One answer for the policy (a read's output stays exact) and for
token mode's stale-read rules (``age.py``).

A read is a call of a file-read tool (``READ_TOOLS``, or an editor tool with command ``view``), or
a shell command that only prints a file: ``cat``, ``nl``, ``head``, ``tail`` or ``sed -n 'A,Bp'``
on a path, optionally after ``cd DIR &&``, with nothing redirected after it and piped only into
programs that pick or number lines by position (``nl -ba f | sed -n '40,90p'``, ``cat -n f | head
-80``: a part of the file, as the model reads it). Agents
without a read tool (Codex, SWE-agent, mini-swe-agent) read files that way, and a later edit is
built from what they saw, so the text must reach the model as the file holds it. A log file
(``*.log``, ``*.log.N``) printed so is not a read: nobody edits one, and it is the bulk the log
compressor is for (a ``cat tests.log`` is a test run read back).

It is told from the call's own arguments: the shell command in Claude Code's ``Bash``
``{"command"}``, Codex's ``exec_command`` ``{"cmd"}`` or ``shell`` ``{"command": [argv]}``, and the
``command`` of SWE-agent-style ``bash`` tools.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["FileRead", "READ_TOOLS", "EDITOR_TOOLS", "SHELL_TOOLS", "PATH_KEYS", "file_read", "tool_path"]

READ_TOOLS = frozenset({"read", "read_file", "view", "view_file"})
EDITOR_TOOLS = frozenset({"str_replace_editor", "str_replace_based_edit_tool"})  # one tool, a command each
SHELL_TOOLS = frozenset({"bash", "exec_command", "shell", "shell_command", "local_shell", "execute_bash",
                         "run_shell_command", "run_command", "run_terminal_cmd", "terminal", "execute_command"})
PATH_KEYS = ("file_path", "path", "target_file", "notebook_path", "filename")
# Arguments that make a read cover part of a file (Claude Code, editor tools, Cursor, others).
_RANGE_KEYS = ("offset", "limit", "view_range", "start_line", "end_line", "start_line_one_indexed",
               "end_line_one_indexed_inclusive", "line_start", "line_end")
_SHELLS = frozenset({"bash", "sh", "zsh", "dash"})
_PRINTERS = frozenset({"cat", "nl", "head", "tail", "sed"})
_SED_PRINT = re.compile(r"\d+(?:,\d+)?p")
# A stage after a pipe that keeps the read a read: it picks lines by position or numbers them.
_LINE_PICKERS = frozenset({"head", "tail", "sed", "nl", "cat"})
_MAX_COMMAND_CHARS = 1000  # a longer command is a script, not a read
_LOG_FILE = re.compile(r"\.log(?:\.\d+)?$")


@dataclass(frozen=True, slots=True)
class FileRead:
    path: str
    full: bool   # the whole file was asked for


def file_read(tool_name: str | None, args: dict[str, Any] | None) -> FileRead | None:
    """The file a call reads, or None when the call is not a file read."""
    name, args = (tool_name or "").lower(), args or {}
    if name in READ_TOOLS or (name in EDITOR_TOOLS and args.get("command") == "view"):
        path = tool_path(args)
        if path is None:
            return None
        partial = any(args.get(key) not in (None, "", []) for key in _RANGE_KEYS)
        return FileRead(path, not partial and args.get("should_read_entire_file") is not False)
    if name in SHELL_TOOLS:
        command, workdir = args.get("cmd", args.get("command")), args.get("workdir")
        if isinstance(command, str) and (workdir is None or isinstance(workdir, str)):
            return _command_read(command, workdir)
        argv = _command_argv(args)
        return _shell_read(argv, workdir) if argv else None
    return None


@lru_cache(maxsize=4096)
def _command_read(command: str, workdir: str | None) -> FileRead | None:
    """``file_read`` of a shell command given as one string. Remembered (4096 commands at most):
    every request resends the calls before it, and the policy and dedup ask of each."""
    argv = _command_argv({"command": command})
    return _shell_read(argv, workdir) if argv else None


def tool_path(args: dict[str, Any]) -> str | None:
    """The path a file tool's arguments name, normalised."""
    for key in PATH_KEYS:
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            return posixpath.normpath(value.strip())
    return None


def _command_argv(args: dict[str, Any]) -> list[str] | None:
    """The shell command's words (shell operators as words of their own), or None."""
    command = args.get("cmd", args.get("command"))
    if isinstance(command, list) and all(isinstance(word, str) for word in command):
        if len(command) == 3 and posixpath.basename(command[0]) in _SHELLS and command[1] in ("-c", "-lc"):
            command = command[2]   # Codex's shell tool: ["bash", "-lc", "cat x"]
        else:
            return list(command)
    if not isinstance(command, str) or len(command) > _MAX_COMMAND_CHARS:
        return None
    words = _split(command)
    return list(words) if words is not None else None


@lru_cache(maxsize=4096)
def _split(command: str) -> tuple[str, ...] | None:
    """A command's shell words. Remembered: every request resends the calls before it, and both
    the policy and dedup ask of each (shlex is by far the dearest step of either)."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        return tuple(lexer)
    except ValueError:  # unbalanced quotes: not a plain read
        return None


def _shell_read(argv: list[str], workdir: Any) -> FileRead | None:
    """``cat``/``nl``/``head``/``tail``/``sed -n`` on one path, then only line pickers after ``|``."""
    if len(argv) > 3 and argv[0] == "cd" and argv[2] == "&&":
        workdir, argv = argv[1], argv[3:]
    stages = _stages(argv)
    if stages is None or not all(_picks_lines(stage) for stage in stages[1:]):
        return None
    read = _printed_path(stages[0])
    if read is None:
        return None
    path, full = read
    if isinstance(workdir, str) and workdir and not path.startswith("/"):
        path = posixpath.join(workdir, path)
    # a picker after the pipe that only numbers lines (nl, cat -n) leaves a whole file whole
    full = full and all(stage[0] in ("nl", "cat") for stage in stages[1:])
    return FileRead(posixpath.normpath(path), full)


def _stages(argv: list[str]) -> list[list[str]] | None:
    """The command's pipeline stages, or None when it holds any other operator (``;``, ``>``, ``&&``)."""
    stages: list[list[str]] = [[]]
    for word in argv:
        if word == "|":
            stages.append([])
        elif word and word[0] in ";&|<>()":
            return None
        else:
            stages[-1].append(word)
    return stages if all(stages) else None


def _picks_lines(stage: list[str]) -> bool:
    """A stage after a pipe that reads no file of its own and keeps or numbers lines by position."""
    if stage[0] not in _LINE_PICKERS:
        return False
    operands = [word for word in stage[1:] if not word.startswith("-")]
    if stage[0] == "sed":
        return [w for w in stage[1:] if w.startswith("-")] == ["-n"] and len(operands) == 1 \
            and _SED_PRINT.fullmatch(operands[0]) is not None
    if stage[0] in ("head", "tail"):
        return all(word.isdigit() for word in operands)
    return not operands  # nl, cat: numbering (-ba, -n) only


def _printed_path(argv: list[str]) -> tuple[str, bool] | None:
    """(path, whole file) that a ``cat``/``nl``/``head``/``tail``/``sed -n`` command prints."""
    if argv[0] not in _PRINTERS:
        return None
    program = argv[0]
    options, paths = [w for w in argv[1:] if w.startswith("-")], [w for w in argv[1:] if not w.startswith("-")]
    full = True
    if program == "sed":
        if options != ["-n"] or len(paths) != 2 or not _SED_PRINT.fullmatch(paths[0]):
            return None
        paths, full = paths[1:], False
    elif program in ("head", "tail"):
        # "-n 20" puts its count among the words: a number is a count, not a path
        paths, full = [word for word in paths if not word.isdigit()], False
    if len(paths) != 1 or _LOG_FILE.search(paths[0]):
        return None
    return paths[0], full
