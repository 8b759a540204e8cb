"""A fixed corpus of hostile and malformed bodies, each with its defined outcome (docs/reliability.md).

Every case runs through ``BodyEngine.run``, the whole compression path of one request. None may
raise. A body that passes through must be handed back untouched (``body is None``), and a
rewritten body must keep every protected field byte for byte. ``CASES`` is counted into
docs/reliability.md; the property tests in test_properties*.py add generated cases on top.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
import zstandard

from extproc import BodyRequest, Settings, build_engine
from tests.shelf import SHELF

from .bodies import anthropic_body, openai_chat_body

LOG = "\n".join(f"tests/test_api.py::test_case_{i} PASSED" for i in range(120)) + "\n== 1 failed, 119 passed =="


def chat(**extra: Any) -> dict[str, Any]:
    body = openai_chat_body()
    body.update(extra)
    return body


def compact(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def with_tool_output(output: str, **extra: Any) -> dict[str, Any]:
    body = chat(**extra)
    body["messages"].append({"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_x", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]})
    body["messages"].append({"role": "tool", "tool_call_id": "call_x", "content": output})
    return body


def bomb(encoding: str) -> bytes:
    data = b'{"messages":[' + b" " * (80 * 1024 * 1024) + b"]}"
    return gzip.compress(data) if encoding == "gzip" else zstandard.ZstdCompressor().compress(data)


# (id, body bytes, format, content-encoding, expected outcome, expected reason or None)
CASES: list[tuple[str, bytes, str, str, str, str | None]] = [
    ("not json", b"{messages: [}", "openai", "identity", "passthrough", "invalid_json"),
    ("empty body", b"", "openai", "identity", "passthrough", "invalid_json"),
    ("truncated json", compact(chat())[:-7], "openai", "identity", "passthrough", "invalid_json"),
    ("invalid utf-8", b'{"messages":[{"role":"user","content":"\xc3\x28"}]}', "openai", "identity",
     "passthrough", "invalid_json"),
    ("utf-8 bom", b"\xef\xbb\xbf" + compact(chat()), "openai", "identity", "passthrough", "invalid_json"),
    ("utf-16", json.dumps(chat()).encode("utf-16"), "openai", "identity", "passthrough", "invalid_json"),
    ("duplicate keys", b'{"model":"a","model":"b","messages":[]}', "openai", "identity", "passthrough",
     "duplicate_keys"),
    ("nan", b'{"messages":[],"temperature":NaN}', "openai", "identity", "passthrough", "invalid_json"),
    ("100k nested arrays", b'{"messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "openai", "identity",
     "passthrough", "invalid_json"),
    ("100k nested objects", b'{"messages":[],"x":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
     "openai", "identity", "passthrough", "invalid_json"),
    ("5000-digit integer", b'{"messages":[],"seed":' + b"7" * 5000 + b"}", "openai", "identity",
     "passthrough", "invalid_json"),
    ("gzip bomb", bomb("gzip"), "openai", "gzip", "passthrough", "too_large"),
    ("zstd bomb", bomb("zstd"), "openai", "zstd", "passthrough", "too_large"),
    ("truncated gzip", gzip.compress(compact(chat()))[:-20], "openai", "gzip", "passthrough", "corrupt_encoding"),
    ("truncated zstd", zstandard.ZstdCompressor().compress(compact(chat()))[:-9], "openai", "zstd",
     "passthrough", "corrupt_encoding"),
    ("unknown encoding", compact(chat()), "openai", "br", "passthrough", "unsupported_encoding"),
    ("top-level array", b"[1,2,3]", "openai", "identity", "passthrough", "unsupported_body"),
    ("top-level string", b'"hello"', "anthropic", "identity", "passthrough", "unsupported_body"),
    ("messages not a list", b'{"messages":{"role":"user"}}', "openai", "identity", "passthrough",
     "unsupported_body"),
    ("responses input a number", b'{"input":7}', "responses", "identity", "passthrough", "unsupported_body"),
    # Odd but readable: defined outcomes that never touch a protected byte.
    ("lone surrogate in a tool output", compact(with_tool_output("odd \ud800 bytes\n" + LOG)), "openai",
     "identity", "compressed", None),
    ("lone surrogate in user text", compact(chat(messages=[{"role": "user", "content": "x\udfff"}])), "openai",
     "identity", "unchanged", None),
    ("huge numbers beside a compressed log",
     compact(with_tool_output(LOG))[:-1] + b',"n":[1e400,1E+2,1.10,-0,' + b"9" * 300 + b"]}",
     "openai", "identity", "compressed", None),
    ("wrong types in every message field", compact({"model": 7, "messages": [
        {"role": 3, "content": 5}, {"role": "user", "content": [1, None, {"type": 9}]},
        {"role": "assistant", "content": None, "tool_calls": "call"},
        {"role": "tool", "tool_call_id": ["x"], "content": {"a": 1}}, "not a message", None, [],
    ]}), "openai", "identity", "passthrough", "unsupported_body"),
    ("wrong types inside message objects", compact({"model": 7, "messages": [
        {"role": 3, "content": 5}, {"role": "user", "content": [1, None, {"type": 9}]},
        {"role": "assistant", "content": None, "tool_calls": "call"},
        {"role": "tool", "tool_call_id": ["x"], "content": {"a": 1}}]}), "openai", "identity", "unchanged", None),
    ("wrong types in anthropic blocks", compact({"model": "m", "messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": 5, "content": [{"type": "text"}]},
                                     {"type": "tool_use", "input": "x"}, {"type": None}, 3]},
        {"role": "assistant", "content": {"type": "text"}}], "system": 12}), "anthropic", "identity",
     "unchanged", None),
    ("responses items of every odd shape", compact({"input": [
        {"type": "function_call_output", "output": 3}, {"type": "message", "content": "x"}, 5, None,
        {"type": "function_call", "arguments": {"a": 1}}, {"type": "reasoning", "encrypted_content": "e"}]}),
     "responses", "identity", "passthrough", "unsupported_body"),
    ("responses items with odd fields", compact({"input": [
        {"type": "function_call_output", "output": 3}, {"type": "message", "content": "x"},
        {"type": "function_call", "arguments": {"a": 1}}, {"type": "reasoning", "encrypted_content": "e"}]}),
     "responses", "identity", "unchanged", None),
    ("empty messages", b'{"model":"m","messages":[]}', "anthropic", "identity", "unchanged", None),
    ("real anthropic turn", compact(anthropic_body()), "anthropic", "identity", "compressed", None),
]


@pytest.fixture(scope="module")
def compressor():
    return build_engine(Settings(workers=0, block_cache_bytes=0), shelf=SHELF)


@pytest.mark.parametrize(("data", "fmt", "encoding", "outcome", "reason"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_defined_outcome(compressor, data, fmt, encoding, outcome, reason):
    """Each hostile body gets its defined outcome and never raises; a passthrough hands nothing back."""
    result = compressor.run(data, BodyRequest(fmt, encoding))
    assert result.outcome == outcome
    if reason is not None:
        assert result.reason == reason
    assert (result.body is None) is (outcome != "compressed")


def without_tool_output(body: dict[str, Any]) -> dict[str, Any]:
    """The body with every tool result's content blanked: what must come back exactly as sent."""
    body = json.loads(json.dumps(body))
    for message in body["messages"]:
        if message.get("role") == "tool":
            message["content"] = None
        for block in message.get("content") if isinstance(message.get("content"), list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result":
                block["content"] = None
    return body


@pytest.mark.parametrize(("data", "fmt"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES
                                           if c[4] == "compressed" and c[3] == "identity"])
def test_rewritten_bodies_keep_every_protected_byte(compressor, data, fmt):
    """In every rewritten hostile body only tool output changed, and odd numbers keep their spelling."""
    result = compressor.run(data, BodyRequest(fmt))
    assert without_tool_output(json.loads(result.body)) == without_tool_output(json.loads(data))
    if b"1e400" in data:
        assert b'"n":[1e400,1E+2,1.10,-0,' + b"9" * 300 + b"]" in result.body


def test_fifty_megabyte_body_passes_through_unread():
    """A 50 MB body, above max_body_bytes (48 MiB), is not decoded at all: passthrough too_large."""
    compressor = build_engine(Settings(workers=0), shelf=SHELF)
    data = compact(with_tool_output("x" * (50 * 1024 * 1024)))
    result = compressor.run(data, BodyRequest("openai"))
    assert (result.outcome, result.reason, result.body) == ("passthrough", "too_large", None)
