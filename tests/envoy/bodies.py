"""Agent-shaped request bodies for the three wire formats, and the check that only tool output
was compressed.

Each conversation carries what a coding agent sends: a system prompt, user text with non-ASCII
characters, tool calls, pretty-printed JSON tool output (tabulated or compacted), a worker log
(cut to its head, tail and the error), a protected file read (left alone even though it is
JSON), and the format's cache/thinking/reasoning markers. Builders return the body and the JSON
paths of the tool outputs expected to change.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.json_siblings import resolve as resolve_siblings

__all__ = [
    "SYSTEM", "USER_TEXT", "LOG_ERROR", "Path", "pretty_json_output", "log_output", "config_file_output",
    "anthropic_conversation", "chat_conversation", "responses_conversation",
    "big_anthropic_conversation", "changed_strings", "assert_only_tool_output_compressed",
    "assert_json_kept", "assert_lines_kept", "dumps",
]

Path = tuple[Any, ...]

SYSTEM = ("You are a careful SRE assistant. Use the tools; quote evidence; never guess.\n"
          "Escapes stay as written: \"quotes\", back\\slash, tab\there.")
USER_TEXT = "Why is the payments deploy failing in prod? Naïve guess: OOM ✓ — check the pods 🚀"
SIGNATURE = "EqQBCkYIBxgCKkDx9wJ3sYqW0n+7Zx/3kQ1hLmP2vR8tU5eY6oI4aS0dF=="


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON, the smallest a client could send without changing content."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def pretty_json_output(seed: int = 0, items: int = 25) -> str:
    """Pretty-printed JSON as ``kubectl -o json`` or an API would print it."""
    pods = [{
        "metadata": {"name": f"payments-{seed}-{i:03d}", "namespace": "prod",
                     "labels": {"app": "payments", "tier": "backend", "owner": "zoë"}},
        "status": {"phase": "Running" if i % 5 else "CrashLoopBackOff", "restarts": i % 5 * 3,
                   "cpu": 0.25 + i / 100, "memory_limit": "512Mi", "ratio": 1.10},
        "message": "OOMKilled: container \"app\" exceeded 512Mi\n" if i % 5 == 0 else None,
        "ready": bool(i % 5),
    } for i in range(items)]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}, indent=2)


LOG_ERROR = "2025-06-07T10:31:00Z ERROR worker[2] batch 61 failed: connection reset by peer"


def log_output(lines: int = 120) -> str:
    """A worker log: routine lines and one error, which the log compressor keeps with its context."""
    return "\n".join(
        LOG_ERROR if i == lines // 2 else
        f"2025-06-0{1 + i % 9}T10:{i % 60:02d}:00Z INFO  worker[{i % 4}] processed batch {i} "
        f"in {10 + i % 7}ms (queue depth {i * 3 % 17})" for i in range(lines))


def config_file_output() -> str:
    """A JSON file as a file-read tool returns it: protected, must stay byte-identical."""
    return json.dumps({"service": "payments", "resources": {"limits": {"memory": "512Mi"}},
                       "replicas": 3, "env": {f"FLAG_{i}": i % 2 == 0 for i in range(30)}}, indent=4)


def _schema(**props: str) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": "string", "description": v} for k, v in props.items()},
            "required": list(props)}


def anthropic_conversation() -> tuple[dict[str, Any], list[Path]]:
    """An Anthropic Messages body (thinking, cache_control, protected Read) and its compressible paths."""
    def call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": name, "input": args}]}

    body = {
        "model": "claude-opus-4-1",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Bash", "description": "Run a shell command", "input_schema": _schema(command="shell")},
                  {"name": "Read", "description": "Read a file", "input_schema": _schema(file_path="absolute path")}],
        "messages": [
            {"role": "user", "content": USER_TEXT},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Pods first, then logs.", "signature": SIGNATURE},
                {"type": "text", "text": "Let me look at the pods."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Bash",
                 "input": {"command": "kubectl get pods -n prod -o json", "timeout": 30}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A",
                                          "content": pretty_json_output(1)}]},
            call("toolu_01B", "Bash", {"command": "kubectl logs deploy/payments --tail 40"}),
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01B",
                                          "content": [{"type": "text", "text": log_output()}]}]},
            call("toolu_01C", "Read", {"file_path": "/srv/payments/config.json"}),
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01C",
                                          "content": config_file_output()}]},
            call("toolu_01D", "Bash", {"command": "curl -s http://deploys/api/v1/payments"}),
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01D", "cache_control": {"type": "ephemeral"},
                 "content": [{"type": "text", "text": pretty_json_output(2)}]},
                {"type": "text", "text": "What should we change? Keep it short."}]},
        ],
    }
    return body, [("messages", 2, "content", 0, "content"), ("messages", 4, "content", 0, "content", 0, "text"),
                  ("messages", 8, "content", 0, "content", 0, "text")]


def chat_conversation() -> tuple[dict[str, Any], list[Path]]:
    """An OpenAI Chat Completions body (tool_calls, protected read_file) and its compressible paths."""
    def call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}

    function = lambda name, **props: {"type": "function", "function": {  # noqa: E731
        "name": name, "description": f"{name} tool", "parameters": _schema(**props)}}
    body = {
        "model": "gpt-4.1",
        "temperature": 0.2,
        "tools": [function("run_shell", command="shell"), function("read_file", path="file path")],
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER_TEXT},
            call("call_1", "run_shell", {"command": "kubectl get pods -n prod -o json"}),
            {"role": "tool", "tool_call_id": "call_1", "content": pretty_json_output(1)},
            call("call_2", "run_shell", {"command": "kubectl logs deploy/payments --tail 40"}),
            {"role": "tool", "tool_call_id": "call_2", "content": log_output()},
            call("call_3", "read_file", {"path": "/srv/payments/config.json"}),
            {"role": "tool", "tool_call_id": "call_3", "content": config_file_output()},
            call("call_4", "run_shell", {"command": "curl -s http://deploys/api/v1/payments"}),
            {"role": "tool", "tool_call_id": "call_4", "content": [{"type": "text", "text": pretty_json_output(2)}]},
            {"role": "user", "content": [{"type": "text", "text": "What should we change? Keep it short."}]},
        ],
    }
    return body, [("messages", 3, "content"), ("messages", 5, "content"), ("messages", 9, "content", 0, "text")]


def responses_conversation() -> tuple[dict[str, Any], list[Path]]:
    """An OpenAI Responses body (reasoning item, function calls, protected read_file) and its compressible paths."""
    def call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"type": "function_call", "call_id": call_id, "name": name, "arguments": json.dumps(args)}

    def output(call_id: str, text: str) -> dict[str, Any]:
        return {"type": "function_call_output", "call_id": call_id, "output": text}

    function = lambda name, **props: {"type": "function", "name": name, "description": f"{name} tool",  # noqa: E731
                                      "parameters": _schema(**props), "strict": False}
    body = {
        "model": "gpt-5",
        "instructions": SYSTEM,
        "tools": [function("run_shell", command="shell"), function("read_file", path="file path")],
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": USER_TEXT}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Pods first."}],
             "encrypted_content": "gAAAAABo" + "x" * 64},
            call("call_1", "run_shell", {"command": "kubectl get pods -n prod -o json"}),
            output("call_1", pretty_json_output(1)),
            call("call_2", "run_shell", {"command": "kubectl logs deploy/payments --tail 40"}),
            output("call_2", log_output()),
            call("call_3", "read_file", {"path": "/srv/payments/config.json"}),
            output("call_3", config_file_output()),
            call("call_4", "run_shell", {"command": "curl -s http://deploys/api/v1/payments"}),
            output("call_4", pretty_json_output(2)),
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What now?"}]},
        ],
    }
    return body, [("input", 3, "output"), ("input", 5, "output"), ("input", 9, "output")]


def big_anthropic_conversation(target_bytes: int) -> tuple[dict[str, Any], list[Path]]:
    """A long agent session of at least ``target_bytes`` (compact JSON), alternating JSON and log output."""
    body, base = anthropic_conversation()
    messages = body["messages"]
    paths: list[Path] = []
    size, turn = len(dumps(body)), 0
    while size < target_bytes:
        call_id = f"toolu_big_{turn}"
        text = pretty_json_output(100 + turn, items=60) if turn % 3 else log_output(200)
        turn_messages = [
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": call_id, "name": "Bash", "input": {"command": f"step {turn}"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": text}]}]
        messages += turn_messages
        size += len(dumps(turn_messages)) - 1  # the list brackets go, a separating comma comes
        paths.append(("messages", len(messages) - 1, "content", 0, "content"))
        turn += 1
    messages.append({"role": "user", "content": "Summarise the session."})
    return body, [*base, *paths]


def changed_strings(sent: Any, got: Any, path: Path = ()) -> dict[Path, tuple[str, str]]:
    """String leaves that differ between two JSON values; anything else differing fails here."""
    if isinstance(sent, dict):
        assert isinstance(got, dict) and list(sent) == list(got), f"keys differ at {path}"
        out: dict[Path, tuple[str, str]] = {}
        for key in sent:
            out |= changed_strings(sent[key], got[key], (*path, key))
        return out
    if isinstance(sent, list):
        assert isinstance(got, list) and len(sent) == len(got), f"array differs at {path}"
        out = {}
        for index, (a, b) in enumerate(zip(sent, got)):
            out |= changed_strings(a, b, (*path, index))
        return out
    if isinstance(sent, str) and isinstance(got, str):
        return {} if sent == got else {path: (sent, got)}
    assert type(sent) is type(got) and sent == got, f"value differs at {path}: {sent!r} != {got!r}"
    return {}


def assert_only_tool_output_compressed(sent: Any, got: Any, expected: list[Path]) -> None:
    """Everything equal except the ``expected`` tool outputs, each shorter and faithful to the original."""
    changes = changed_strings(sent, got)
    assert sorted(changes, key=repr) == sorted(expected, key=repr)
    for path, (before, after) in changes.items():
        assert len(after) < len(before), path
        if before.lstrip()[:1] in ("{", "["):
            assert_json_kept(json.loads(before), json.loads(after), path)
        else:
            assert_lines_kept(before, after, path)


_OMITTED_ITEMS = re.compile(r"\[trimwire: (\d+) items? omitted \(.+\)\]")


def assert_json_kept(before: Any, after: Any, path: Path = ()) -> None:
    """``after`` is ``before`` with items written as differences put back, tables read back as objects
    and each marker standing for the items it says it omitted; every kept value is unchanged."""
    if isinstance(after, list):
        after = resolve_siblings(after)
    if isinstance(after, dict) and list(after) in (["__columns__", "__rows__"], ["__every_row__", "__columns__", "__rows__"]):
        after = {**after, "__rows__": resolve_siblings(after["__rows__"])}
        shared = after.get("__every_row__", {})
        after = [row if isinstance(row, str) else {**shared, **dict(zip(after["__columns__"], row))}
                 for row in after["__rows__"]]
    if isinstance(before, list):
        assert isinstance(after, list), path
        position = 0
        for item in after:
            marker = _OMITTED_ITEMS.fullmatch(item) if isinstance(item, str) else None
            if marker:
                position += int(marker.group(1))
                continue
            assert_json_kept(before[position], item, (*path, position))
            position += 1
        assert position == len(before), path
    elif isinstance(before, dict):
        assert isinstance(after, dict) and list(after) == list(before), path
        for key in before:
            assert_json_kept(before[key], after[key], (*path, key))
    else:
        assert after == before, path


def assert_lines_kept(before: str, after: str, path: Path = ()) -> None:
    """Every line of ``after`` is a ``[trimwire: ...]`` marker or the next kept line of ``before``, as it was."""
    remaining = iter(before.split("\n"))
    markers = 0
    for line in after.split("\n"):
        if line.startswith("[trimwire: ") and line.endswith("]"):
            markers += 1
        else:
            assert line in remaining, (path, line)  # consumes the iterator up to the match: order kept
    assert markers, path
