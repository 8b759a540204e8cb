"""Small, realistic request bodies: agent turns whose tool output is pretty-printed JSON."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["service_listing", "service_index", "stale_read_body", "STALE_READ", "anthropic_body", "openai_body",
           "encode", "marked_body", "tool_output_of", "assert_only_tool_output_shrank"]

PROMPT = "Which services in prod are degraded, and since when?"


def service_listing(count: int = 30) -> str:
    """Pretty JSON as a tool would print it; the JSON compressors tabulate (and, when long, sample) it."""
    return json.dumps({"namespace": "prod", "services": _services(count)}, indent=2)


def service_index(count: int) -> str:
    """The same services keyed by id, thirty to a group: no long array and no map large enough to
    sample (``JsonSampler``'s ``min_map_keys``), so only layout whitespace goes."""
    services = _services(count)
    groups = {f"group-{start // 30:02d}": {s["id"]: s for s in services[start:start + 30]}
              for start in range(0, count, 30)}
    return json.dumps({"namespace": "prod", "services": groups}, indent=2)


def _services(count: int) -> list[dict[str, Any]]:
    return [{
        "id": f"svc-{index:04d}",
        "name": f"payments-worker-{index}",
        "status": "degraded" if index % 7 == 0 else "healthy",
        "replicas": {"desired": 3, "ready": 2 if index % 7 == 0 else 3},
        "labels": {"team": "payments", "tier": "backend", "region": "eu-west-1"},
        "last_deploy": f"2025-05-{1 + index % 28:02d}T10:15:00Z",
        "latency_ms": {"p50": 12.5, "p99": 180.10},
    } for index in range(count)]


def anthropic_body(tool_output: str, prompt: str = PROMPT, model: str = "claude-opus-4-1") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 1024,
        "system": "You are an SRE assistant.",
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me list the services."},
                {"type": "tool_use", "id": "toolu_01", "name": "list_services", "input": {"namespace": "prod"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": tool_output},
            ]},
        ],
    }


def openai_body(tool_output: str, prompt: str = PROMPT, model: str = "gpt-4o") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are an SRE assistant."},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_01", "type": "function",
                "function": {"name": "list_services", "arguments": "{\"namespace\": \"prod\"}"},
            }]},
            {"role": "tool", "tool_call_id": "call_01", "content": tool_output},
        ],
    }


STALE_READ = "[trimwire: earlier read of src/app.py omitted; the file was edited later]"


def stale_read_body() -> dict[str, Any]:
    """A Claude Code turn sequence: read src/app.py, edit it, then two more commands (token mode
    replaces the read with ``STALE_READ``; cache mode keeps it)."""
    source = "\n".join(f"{n:6d}\tdef step_{n}(chunk):\n        return chunk[:{n}]" for n in range(1, 40))
    turns = [("Read", {"file_path": "src/app.py"}, source),
             ("Edit", {"file_path": "src/app.py", "old_string": "[:1]", "new_string": "[:2]"}, "Updated src/app.py."),
             ("Bash", {"command": "ls"}, "app.py\nutil.py\n"), ("Bash", {"command": "pwd"}, "/repo\n")]
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    for number, (name, args, output) in enumerate(turns):
        call_id = f"toolu_{number}"
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": name, "input": args}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": output}]}]
    return {"model": "claude-opus-4-1", "max_tokens": 1024, "messages": messages}


def encode(body: dict[str, Any]) -> bytes:
    """Bytes as an SDK sends them (default json.dumps separators)."""
    return json.dumps(body).encode("utf-8")


def marked_body(marker: str) -> bytes:
    """A compressible Anthropic body whose tool output carries ``marker`` (see tests/grpc/faulty.py)."""
    listing = service_listing().replace('"namespace": "prod"', f'"namespace": "{marker}"')
    assert marker in listing
    return encode(anthropic_body(listing))


def tool_output_of(body: dict[str, Any]) -> str:
    """The tool output text of a body built by this module, whatever its format."""
    last = body["messages"][-1]
    if last["role"] == "tool":
        return last["content"]
    return last["content"][0]["content"]


def assert_only_tool_output_shrank(sent: dict[str, Any], received: bytes) -> None:
    """``received`` is valid JSON, identical to ``sent`` except for a shorter tool output.

    How the output shrinks is the compressors' business (tests/unit); this layer checks that what
    Envoy forwards is a well-formed body that only differs where compression is allowed.
    """
    got = json.loads(received)
    assert len(tool_output_of(got)) < len(tool_output_of(sent))
    assert {**got, "messages": got["messages"][:-1]} == {**sent, "messages": sent["messages"][:-1]}
    last_sent, last_got = sent["messages"][-1], got["messages"][-1]
    if last_sent["role"] == "tool":
        assert {**last_got, "content": ""} == {**last_sent, "content": ""}
    else:
        block_sent, block_got = last_sent["content"][0], last_got["content"][0]
        assert {**block_got, "content": ""} == {**block_sent, "content": ""}
