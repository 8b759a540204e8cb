"""Small, real-shaped request bodies for the three wire formats, and helpers to compare them.

Each builder returns a fresh dict, so a test may parse, compress and apply without copying. Tool
outputs are pretty-printed JSON long enough (> 200 chars) for the default policy to release them.
"""

from __future__ import annotations

import json
from typing import Any

from extproc import rawjson

# What a search tool, a test runner and a directory listing print: pretty JSON, a few hundred bytes.
SEARCH_RESULTS = json.dumps({
    "total": 3,
    "items": [
        {"number": 4182, "title": "Timeout in upload worker", "state": "open", "score": 1.10},
        {"number": 3977, "title": "Retry storm after 503", "state": "closed", "score": 0.85},
        {"number": 3501, "title": "Socket \"half-open\" on resume", "state": "open", "score": 0.5},
    ],
}, indent=2)

TEST_REPORT = json.dumps({
    "summary": {"passed": 41, "failed": 2, "skipped": 1, "duration_s": 12.5},
    "failed": [
        {"test": "tests/test_upload.py::test_resume", "message": "AssertionError: 206 != 200"},
        {"test": "tests/test_upload.py::test_retry", "message": "assert 3 == 5\n  where 3 = calls"},
    ],
    "env": {"python": "3.12.4", "platform": "linux", "path": "C:\\repo\\tests"},
}, indent=2)

DIRECTORY_LISTING = json.dumps({
    "path": "/repo/src",
    "entries": [
        {"name": "app.py", "type": "file", "size": 4211},
        {"name": "upload", "type": "dir", "size": 0},
        {"name": "settings.toml", "type": "file", "size": 388},
        {"name": "README.md", "type": "file", "size": 1290},
    ],
}, indent=2)

FILE_BODY = json.dumps({"path": "src/app.py", "content": "import os\n\n\ndef main():\n    pass\n" * 6},
                       indent=2)

TRACEBACK = ('{\n  "stderr": "Traceback (most recent call last):\\n  File \\"app.py\\", line 3\\n'
             'ZeroDivisionError: division by zero",\n  "exit_code": 1,\n  "stdout": "' + "." * 200 + '"\n}')


def openai_chat_body() -> dict[str, Any]:
    """A chat completion mid agent loop: developer + system, image part, three tool calls."""
    return {
        "model": "gpt-4o-2024-08-06",
        "messages": [
            {"role": "developer", "content": "You are a terse coding assistant."},
            {"role": "system", "content": "Use tools when they help."},
            {"role": "user", "content": [
                {"type": "text", "text": "Why does the upload time out? Screenshot attached."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=",
                                                    "detail": "low"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_search_1", "type": "function",
                 "function": {"name": "search_issues", "arguments": "{\"query\": \"timeout\", \"limit\": 3}"}},
                {"id": "call_read_2", "type": "function",
                 "function": {"name": "read_file", "arguments": "{\"path\": \"src/app.py\"}"}},
                {"id": "call_ls_3", "type": "function",
                 "function": {"name": "list_dir", "arguments": "{\"path\":  \"src\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_search_1", "content": SEARCH_RESULTS},
            {"role": "tool", "tool_call_id": "call_read_2", "content": FILE_BODY},
            {"role": "tool", "tool_call_id": "call_ls_3",
             "content": [{"type": "text", "text": DIRECTORY_LISTING}]},
            {"role": "assistant", "content": "Issue 4182 matches; checking the worker."},
        ],
        "tools": [
            {"type": "function", "function": {"name": "search_issues", "description": "Search issues.",
                                              "parameters": {"type": "object", "properties": {
                                                  "query": {"type": "string"}, "limit": {"type": "integer"}}}}},
            {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "list_dir", "parameters": {"type": "object"}}},
        ],
        "tool_choice": "auto",
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "x_gateway_trace": {"id": "trace-7f3a", "sampled": False},
    }


def anthropic_body() -> dict[str, Any]:
    """A Claude Code turn: cached system blocks, thinking, four tool uses and their results."""
    return {
        "model": "claude-opus-4-1-20250805",
        "max_tokens": 4096,
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Repository rules: run tests before committing."},
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "The build fails, see the screenshot and log."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "document", "title": "build.log",
                 "source": {"type": "text", "media_type": "text/plain", "data": "make: *** [all] Error 2"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Run the tests first, then read the config.",
                 "signature": "EqQBCkYIBxgCKkDx1cM2s0Zm"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
                {"type": "text", "text": "Running the tests."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "pytest -q --json"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "Read",
                 "input": {"file_path": "/repo/src/app.py"}},
                {"type": "tool_use", "id": "toolu_01C", "name": "WebSearch", "input": {"query": "upload timeout"}},
                {"type": "tool_use", "id": "toolu_01D", "name": "Bash", "input": {"command": "python app.py"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": TEST_REPORT,
                 "cache_control": {"type": "ephemeral"}},
                {"type": "tool_result", "tool_use_id": "toolu_01B",
                 "content": [{"type": "text", "text": FILE_BODY}]},
                {"type": "tool_result", "tool_use_id": "toolu_01C", "content": [
                    {"type": "text", "text": SEARCH_RESULTS},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/chart.png"}},
                ]},
                {"type": "tool_result", "tool_use_id": "toolu_01D", "is_error": True,
                 "content": DIRECTORY_LISTING},
                {"type": "text", "text": "Continue."},
            ]},
        ],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}},
                  {"name": "Read", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "user_42"},
        "stream": True,
    }


def openai_responses_body() -> dict[str, Any]:
    """A Codex turn: instructions, typed and untyped messages, calls, outputs and reasoning."""
    return {
        "model": "gpt-5-codex",
        "instructions": "You are Codex, a coding agent running in a sandbox.",
        "input": [
            {"role": "user", "content": "Which tests fail?"},
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "Sandbox: read-only."}]},
            {"type": "reasoning", "id": "rs_01", "summary": [{"type": "summary_text", "text": "Run the suite."}],
             "encrypted_content": "gAAAAABo3xKz"},
            {"type": "function_call", "id": "fc_01", "call_id": "call_A", "name": "shell",
             "arguments": "{\"command\": [\"pytest\", \"-q\"]}"},
            {"type": "function_call_output", "call_id": "call_A", "output": TEST_REPORT},
            {"type": "custom_tool_call", "id": "ctc_01", "call_id": "call_B", "name": "apply_patch",
             "input": "*** Begin Patch\n*** Update File: app.py\n@@\n-x = 1\n+x = 2\n*** End Patch"},
            {"type": "custom_tool_call_output", "call_id": "call_B", "output": FILE_BODY},
            {"type": "function_call", "id": "fc_02", "call_id": "call_C", "name": "list_dir",
             "arguments": "{\"path\": \"src\"}"},
            {"type": "function_call_output", "call_id": "call_C",
             "output": [{"type": "input_text", "text": DIRECTORY_LISTING}]},
            {"type": "message", "role": "assistant", "id": "msg_01", "status": "completed",
             "content": [{"type": "output_text", "text": "Two tests fail.", "annotations": []}]},
        ],
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}},
                  {"type": "custom", "name": "apply_patch"}],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "session-19c2",
    }


def diff_paths(before: Any, after: Any, path: tuple = ()) -> set[tuple]:
    """Every path (keys and indexes) at which two JSON values differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[tuple] = set()
        for key in before.keys() | after.keys():
            if key not in before or key not in after:
                out.add(path + (key,))
            else:
                out |= diff_paths(before[key], after[key], path + (key,))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = set()
        for index, (left, right) in enumerate(zip(before, after)):
            out |= diff_paths(left, right, path + (index,))
        return out
    if type(before) is not type(after) or before != after:
        return {path}
    return set()


def apply(body: dict[str, Any], conv) -> dict[str, Any]:
    """``body`` as the upstream reads it once ``conv``'s recorded changes are spliced in, by the
    means compress.py uses: the span of each changed block's path in the body's text, written over
    in its UTF-8 bytes."""
    text = json.dumps(body, ensure_ascii=False)
    doc = rawjson.scan(text, items_key="")  # no item spans: every path is walked from the root
    edits = []
    for change in conv.changes:
        start, end = doc.span_of(change.block.path)
        byte_start = rawjson.utf8_length(text, 0, start)
        edits.append((byte_start, byte_start + rawjson.utf8_length(text, start, end),
                      json.dumps(change.new_text, ensure_ascii=False).encode()))
    return json.loads(rawjson.splice_bytes(text.encode(), edits))


def summary(conv) -> list[tuple]:
    """(kind, role, tool_name, tool_call_id, is_error, writable) per block."""
    return [(b.kind.value, b.role, b.tool_name, b.tool_call_id, b.is_error, b.writable)
            for b in conv.blocks]
