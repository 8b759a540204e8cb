"""Coding-agent sessions that grow turn by turn, in each wire format and each agent's tool style.

A session is a list of ``Turn``s (one tool call and its result); ``build`` writes the request an
agent sends after the first k turns, so ``requests`` gives the growing prefixes of one
conversation, each ending after a tool result. Tool styles: Claude Code (Read/Edit/Bash),
SWE-agent (str_replace_editor/bash), Cursor (read_file/edit_file/run_terminal_cmd) and Codex
(shell, read_file, apply_patch as a free-form custom tool).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .compressors import load

__all__ = ["Turn", "Tools", "TOOLS", "STYLES", "source", "numbered", "coding_session", "prose_session", "build",
           "requests"]

SYSTEM = "You are a coding agent. Read files before editing them; run the tests."
TASK = "The upload worker drops the last chunk. Find out why and fix it."


@dataclass(frozen=True)
class Turn:
    tool: str
    args: dict[str, Any] | str      # a string: a free-form custom tool's input (responses only)
    output: str
    is_error: bool = False


@dataclass(frozen=True)
class Tools:
    """How one agent (``style``) reads, edits and runs commands."""

    style: str
    read_name: str
    edit_name: str
    shell_name: str

    def read(self, path: str, output: str, lines: tuple[int, int] | None = None) -> Turn:
        first, last = lines or (0, 0)
        if self.style == "claude_code":
            args = {"file_path": path} | ({"offset": first, "limit": last - first + 1} if lines else {})
        elif self.style == "swe_agent":
            args = {"command": "view", "path": path} | ({"view_range": [first, last]} if lines else {})
        elif self.style == "cursor":
            args = {"target_file": path, "should_read_entire_file": not lines} | (
                {"start_line_one_indexed": first, "end_line_one_indexed_inclusive": last} if lines else {})
        else:
            args = {"path": path} | ({"start_line": first, "end_line": last} if lines else {})
        return Turn(self.read_name, args, output)

    def edit(self, path: str, old: str, new: str, *, fails: bool = False) -> Turn:
        output = f"Error: no match for the old text in {path}" if fails else f"The file {path} has been updated."
        args: dict[str, Any] | str
        if self.style == "codex":
            args = f"*** Begin Patch\n*** Update File: {path}\n@@\n-{old}\n+{new}\n*** End Patch\n"
        elif self.style == "swe_agent":
            args = {"command": "str_replace", "path": path, "old_str": old, "new_str": new}
        elif self.style == "cursor":
            args = {"target_file": path, "instructions": "fix the chunk size", "code_edit": new}
        else:
            args = {"file_path": path, "old_string": old, "new_string": new}
        return Turn(self.edit_name, args, output, is_error=fails)

    def shell(self, command: str, output: str) -> Turn:
        args = {"command": ["bash", "-lc", command]} if self.style == "codex" else {"command": command}
        return Turn(self.shell_name, args, output)


TOOLS = {
    "claude_code": Tools("claude_code", "Read", "Edit", "Bash"),
    "swe_agent": Tools("swe_agent", "str_replace_editor", "str_replace_editor", "bash"),
    "cursor": Tools("cursor", "read_file", "edit_file", "run_terminal_cmd"),
    "codex": Tools("codex", "read_file", "apply_patch", "shell"),
}
# (wire format, tool style) pairs the session tests run over.
STYLES = [("anthropic", "claude_code"), ("openai", "swe_agent"), ("openai", "cursor"), ("responses", "codex")]


def source(name: str, lines: int, version: int = 1) -> str:
    """A plausible Python module of ``lines`` lines (different for each name and version)."""
    body = [f'"""{name}: part of the upload worker (v{version})."""', "", "import os", ""]
    for index in range(len(body), lines):
        body.append(f"def step_{index}(chunk, size={index * version}):\n    return chunk[:size] + os.sep"
                    if index % 3 == 0 else f"# {name} note {index}: keep chunks aligned to {index * 64} bytes")
    return "\n".join(body[:lines])


def numbered(text: str, start: int = 1) -> str:
    """``text`` as a file-read tool shows it: right-aligned line numbers and a tab."""
    return "\n".join(f"{number:6d}\t{line}" for number, line in enumerate(text.split("\n"), start))


def coding_session(style: str) -> list[Turn]:
    """Twelve turns: tests, a search, reads, a JSON listing, edits (one failing), a diff and a docs page."""
    tools = TOOLS[style]
    app, util, config = source("app.py", 60), source("util.py", 80), source("config.py", 30)
    util_head = "\n".join(util.split("\n")[:40])
    return [
        tools.shell("pytest -v", load("pytest_verbose.txt")),
        tools.shell("grep -rn chunk src", load("grep_rn.txt")),
        tools.read("src/app.py", numbered(app)),
        tools.read("src/util.py", numbered(util_head), lines=(1, 40)),
        tools.shell("kubectl get pods -o json", load("kubectl_pods.json")),
        tools.edit("src/app.py", "return chunk[:size]", "return chunk[:size + 1]"),
        tools.read("src/util.py", numbered(util)),
        tools.shell("git diff", load("git_diff.txt")),
        tools.read("src/config.py", numbered(config)),
        tools.edit("src/config.py", "no such line", "x = 1", fails=True),
        tools.shell("curl -s https://docs.example.com/retries", load("docs_page.html")),
        tools.shell("python -m upload --check", "ok: 14 chunks uploaded, last chunk 512 bytes\n" * 5),
    ]


def prose_session(style: str) -> list[Turn]:
    """A coding session that reads prose: the first turns of ``coding_session``, an issue thread
    (Kompress thins it) read twice, and the rest."""
    turns = coding_session(style)
    thread = TOOLS[style].shell("gh issue view 1482 --comments", load("issue_thread.txt"))
    return turns[:3] + [thread] + turns[3:8] + [thread] + turns[8:]


def build(fmt: str, turns: list[Turn]) -> dict[str, Any]:
    """The request body an agent sends after ``turns``, in wire format ``fmt``."""
    return {"openai": _chat, "anthropic": _anthropic, "responses": _responses}[fmt](turns)


def requests(fmt: str, turns: list[Turn]) -> list[dict[str, Any]]:
    """Every request of the conversation: after the first turn, the first two, ... all of them."""
    return [build(fmt, turns[:count]) for count in range(1, len(turns) + 1)]


def _chat(turns: list[Turn]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
    for number, turn in enumerate(turns):
        call = {"id": f"call_{number}", "type": "function",
                "function": {"name": turn.tool, "arguments": json.dumps(turn.args)}}
        messages += [{"role": "assistant", "content": f"Step {number}.", "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": f"call_{number}", "content": turn.output}]
    return {"model": "gpt-4.1", "messages": messages}


def _anthropic(turns: list[Turn]) -> dict[str, Any]:
    """Claude Code style: the cache breakpoint moves to the newest tool result on every request."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": TASK}]
    for number, turn in enumerate(turns):
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": f"toolu_{number}", "content": turn.output}
        if turn.is_error:
            result["is_error"] = True
        if number == len(turns) - 1:
            result["cache_control"] = {"type": "ephemeral"}
        messages += [{"role": "assistant", "content": [
                          {"type": "text", "text": f"Step {number}."},
                          {"type": "tool_use", "id": f"toolu_{number}", "name": turn.tool, "input": turn.args}]},
                     {"role": "user", "content": [result]}]
    return {"model": "claude-sonnet-4-5", "max_tokens": 4096,
            "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
            "messages": messages}


def _responses(turns: list[Turn]) -> dict[str, Any]:
    items: list[dict[str, Any]] = [{"role": "user", "content": TASK}]
    for number, turn in enumerate(turns):
        if isinstance(turn.args, str):
            items += [{"type": "custom_tool_call", "call_id": f"call_{number}", "name": turn.tool, "input": turn.args},
                      {"type": "custom_tool_call_output", "call_id": f"call_{number}", "output": turn.output}]
        else:
            items += [{"type": "function_call", "call_id": f"call_{number}", "name": turn.tool,
                       "arguments": json.dumps(turn.args)},
                      {"type": "function_call_output", "call_id": f"call_{number}", "output": turn.output}]
    return {"model": "gpt-5-codex", "instructions": SYSTEM, "input": items}
