"""The compression APIs: HTTP POST /v1/compress (httpx) and gRPC trimwire.v1.Compressor (a stub),
against a real in-process server, and the same answer from all three entry points."""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import pytest

from extproc._proto import compressor_pb2 as api
from extproc._proto import compressor_pb2_grpc as api_grpc

from .bodies import anthropic_body, openai_body, service_listing
from .conftest import StartTrimwire
from .envoy_stream import OPENAI_PATH, common
from .faulty import EXPLODE, raising_factory
from .harness import Harness, sample_value

LOG = "\n".join([f"tests/test_api.py::test_case_{i} PASSED" for i in range(200)]
                + ["tests/test_api.py::test_refund FAILED", "E   AssertionError: refund 12 != 10",
                   "==== 1 failed, 200 passed in 3.21s ===="])


def api_url(harness: Harness) -> str:
    return f"http://127.0.0.1:{harness.server.api_port}/v1/compress"


async def post(harness: Harness, payload: Any, **headers: str) -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with httpx.AsyncClient() as client:
        return await client.post(api_url(harness), content=content,
                                 headers={"content-type": "application/json", **headers})


def grpc_stub(harness: Harness) -> api_grpc.CompressorStub:
    return api_grpc.CompressorStub(harness.channel)


class TestHttpCompress:
    async def test_compresses_and_reports_savings(self, trimwire: Harness) -> None:
        """Tool output shrinks, the statistics add up and name the compressor that worked."""
        body = openai_body(LOG)
        reply = await post(trimwire, {"messages": body["messages"], "model": "gpt-4o"})
        assert reply.status_code == 200
        out = reply.json()
        assert set(out) == {"messages", "tokens_before", "tokens_after", "tokens_saved",
                            "compression_ratio", "transforms_applied", "transforms_summary", "ccr_hashes"}
        assert out["transforms_summary"] == {"logs": 1} and out["ccr_hashes"] == []
        assert out["tokens_before"] > out["tokens_after"] > 0
        assert out["tokens_saved"] == out["tokens_before"] - out["tokens_after"]
        assert out["compression_ratio"] == round(out["tokens_after"] / out["tokens_before"], 4)
        assert out["transforms_applied"] == ["logs"]
        assert out["messages"][:3] == body["messages"][:3]
        assert "test_refund FAILED" in out["messages"][3]["content"]
        assert len(out["messages"][3]["content"]) < len(LOG)

    async def test_anthropic_messages_are_detected(self, trimwire: Harness) -> None:
        """Messages with tool_result blocks are read as Anthropic messages without being told."""
        body = anthropic_body(service_listing(60))
        out = (await post(trimwire, {"messages": body["messages"], "model": body["model"]})).json()
        assert out["tokens_saved"] > 0 and out["transforms_applied"] == ["json_sampler"]

    async def test_savings_are_counted_for_the_user(self, trimwire: Harness) -> None:
        """x-maas-username attributes the savings exactly as on the ext_proc path."""
        body = openai_body(LOG)
        out = (await post(trimwire, {"messages": body["messages"], "model": "gpt-4o"},
                          **{"x-maas-username": "bob"})).json()
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_tokens_saved_total", model="gpt-4o", user="bob") == out["tokens_saved"]
        assert sample_value(families, "trimwire_requests_total", format="openai", outcome="compressed") == 1
        assert sample_value(families, "trimwire_api_calls_total", api="http", status="200") == 1

    @pytest.mark.parametrize("header", ["x-headroom-bypass", "x-trimwire-bypass"])
    async def test_bypass_returns_messages_unchanged(self, trimwire: Harness, header: str) -> None:
        """Either bypass header gives the messages back as sent, with nothing saved."""
        body = openai_body(LOG)
        out = (await post(trimwire, {"messages": body["messages"], "model": "gpt-4o"}, **{header: "true"})).json()
        assert out == {"messages": body["messages"], "tokens_before": 0, "tokens_after": 0, "tokens_saved": 0,
                       "compression_ratio": 1.0, "transforms_applied": [], "transforms_summary": {},
                       "ccr_hashes": []}

    @pytest.mark.parametrize("header", ["x-headroom-bypass", "x-trimwire-bypass"])
    @pytest.mark.parametrize(("settings", "user", "bypassed"), [
        ({"bypass_users": ["alice"]}, "alice", True),
        ({"bypass_users": ["alice"]}, "bob", False),
        ({"bypass_users": ["alice"]}, None, False),
        ({"bypass_enabled": False}, "alice", False),
    ], ids=["listed", "unlisted", "no-user", "disabled"])
    async def test_bypass_follows_the_ext_proc_rule(self, start_trimwire: StartTrimwire, header: str,
                                                     settings: dict, user: str | None, bypassed: bool) -> None:
        """Either bypass header is granted only as on the ext_proc path: with bypass_enabled, and
        with bypass_users only for a listed user; anyone else gets the messages compressed."""
        harness = await start_trimwire(**settings)
        body = openai_body(LOG)
        headers = {header: "true", **({"x-maas-username": user} if user else {})}
        out = (await post(harness, {"messages": body["messages"], "model": "gpt-4o"}, **headers)).json()
        if bypassed:
            assert out["messages"] == body["messages"] and out["tokens_saved"] == 0
        else:
            assert out["tokens_saved"] > 0 and out["transforms_applied"] == ["logs"]
        # A bypass is decided before the messages' format is read, so it is counted under unknown.
        fmt, outcome = ("unknown", "bypassed") if bypassed else ("openai", "compressed")
        assert sample_value(await harness.metrics(), "trimwire_requests_total", format=fmt, outcome=outcome) == 1

    async def test_frozen_prefix_and_config_keys(self, trimwire: Harness) -> None:
        """frozen_message_count keeps earlier messages byte for byte; keys without an equivalent are counted."""
        body = openai_body(LOG)
        config = {"frozen_message_count": 4, "target_ratio": 0.5, "something_new": 1}
        out = (await post(trimwire, {"messages": body["messages"], "model": "gpt-4o", "config": config})).json()
        assert out["messages"] == body["messages"] and out["tokens_saved"] == 0
        assert out["warnings"] == ["config.target_ratio has no trimwire equivalent; ignored",
                                   "config.something_new is unknown; ignored"]
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_api_config_ignored_total", key="target_ratio") == 1
        assert sample_value(families, "trimwire_api_config_ignored_total", key="other") == 1

    @pytest.mark.parametrize(("payload", "message"), [
        (b"{not json", "Invalid JSON in request body."),
        (b"[1, 2]", "Request body must be a JSON object."),
        ({"model": "m"}, "Missing required field: messages"),
        ({"messages": "hi", "model": "m"}, "Field messages must be an array of message objects."),
        ({"messages": [1], "model": "m"}, "Field messages must be an array of message objects."),
    ])
    async def test_bad_requests_are_400_with_a_json_error(self, trimwire: Harness, payload: Any, message: str) -> None:
        """A body without usable messages gets a 400 whose JSON error says what is wrong (config
        and model never do: tests/grpc/test_headroom_contract.py)."""
        reply = await post(trimwire, payload)
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error["type"] == "invalid_request" and error["message"].startswith(message)

    async def test_oversized_body_is_413(self, start_trimwire: StartTrimwire) -> None:
        """A body above max_body_bytes is refused with 413 and a JSON error."""
        harness = await start_trimwire(max_body_bytes=4096)
        body = openai_body(LOG)
        reply = await post(harness, {"messages": body["messages"], "model": "gpt-4o"})
        assert reply.status_code == 413 and reply.json()["error"]["type"] == "too_large"

    async def test_compression_failure_fails_open(self, start_trimwire: StartTrimwire) -> None:
        """A compressor that raises gives the original messages back with 200 and nothing saved,
        through the ext_proc path's one fail-open path (it times the call as stage ``total`` too)."""
        harness = await start_trimwire(factory=raising_factory)
        body = openai_body(json.dumps({"note": EXPLODE, "rows": list(range(50))}, indent=2))
        reply = await post(harness, {"messages": body["messages"], "model": "gpt-4o"})
        assert reply.status_code == 200
        out = reply.json()
        assert out["messages"] == body["messages"] and out["tokens_saved"] == 0
        families = await harness.metrics()
        assert sample_value(families, "trimwire_failed_open_total", reason="RuntimeError") == 1
        assert sample_value(families, "trimwire_requests_total", format="openai", outcome="failed_open") == 1
        assert sample_value(families, "trimwire_stage_seconds_count", stage="total") == 1

    async def test_lone_surrogates_survive(self, trimwire: Harness) -> None:
        """A \\ud800 escape in a message (valid JSON, not valid UTF-8 text) is compressed around, not a 500."""
        body = openai_body(LOG)
        body["messages"][1]["content"] = "odd \ud800 text"
        payload = json.dumps({"messages": body["messages"], "model": "gpt-4o"}).encode()  # ASCII, escaped
        reply = await post(trimwire, payload)
        assert reply.status_code == 200
        out = reply.json()
        assert out["messages"][1]["content"] == "odd \ud800 text" and out["tokens_saved"] > 0

    async def test_disabled_api_listens_nowhere(self, start_trimwire: StartTrimwire) -> None:
        """api_enabled=false starts no HTTP API."""
        harness = await start_trimwire(api_enabled=False)
        assert harness.server.api_port is None and harness.server.api_runner is None


class TestGrpcCompress:
    async def test_compresses_like_http(self, trimwire: Harness) -> None:
        """The gRPC answer carries the same messages and statistics as the HTTP one."""
        body = openai_body(LOG)
        http = (await post(trimwire, {"messages": body["messages"], "model": "gpt-4o"})).json()
        reply = await grpc_stub(trimwire).Compress(api.CompressRequest(
            messages_json=json.dumps(body["messages"]).encode(), model="gpt-4o", user="carol"))
        assert json.loads(reply.messages_json) == http["messages"]
        assert (reply.tokens_before, reply.tokens_after, reply.tokens_saved) == (
            http["tokens_before"], http["tokens_after"], http["tokens_saved"])
        assert reply.compression_ratio == http["compression_ratio"] and reply.outcome == "compressed"
        assert list(reply.transforms_applied) == ["logs"]
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_tokens_saved_total", model="gpt-4o", user="carol") == reply.tokens_saved

    async def test_bypass_and_unchanged_return_the_callers_bytes(self, trimwire: Harness) -> None:
        """Messages that are not changed come back as the very bytes that were sent."""
        sent = json.dumps(openai_body(LOG)["messages"], indent=1).encode()
        reply = await grpc_stub(trimwire).Compress(api.CompressRequest(messages_json=sent, bypass=True))
        assert reply.messages_json == sent and reply.outcome == "bypassed" and reply.tokens_saved == 0
        small = json.dumps([{"role": "user", "content": "hi"}]).encode()
        reply = await grpc_stub(trimwire).Compress(api.CompressRequest(messages_json=small, format="openai"))
        assert reply.messages_json == small and reply.outcome == "unchanged"

    @pytest.mark.parametrize(("user", "outcome"), [("alice", "bypassed"), ("bob", "compressed"), ("", "compressed")])
    async def test_bypass_field_only_for_listed_users(self, start_trimwire: StartTrimwire, user: str,
                                                      outcome: str) -> None:
        """With bypass_users set, the bypass field is granted for a listed user field only."""
        harness = await start_trimwire(bypass_users=["alice"])
        sent = json.dumps(openai_body(LOG)["messages"]).encode()
        reply = await grpc_stub(harness).Compress(api.CompressRequest(messages_json=sent, user=user, bypass=True))
        assert reply.outcome == outcome and (reply.messages_json == sent) is (outcome == "bypassed")

    @pytest.mark.parametrize(("request_fields", "code"), [
        ({"messages_json": b"{not json"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"messages_json": b'{"role": "user"}'}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"messages_json": b"[]", "format": "gemini"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"messages_json": b"[]", "mode": "fast"}, grpc.StatusCode.INVALID_ARGUMENT),
    ])
    async def test_bad_requests(self, trimwire: Harness, request_fields: dict, code: grpc.StatusCode) -> None:
        """Malformed requests end with INVALID_ARGUMENT, counted by code."""
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await grpc_stub(trimwire).Compress(api.CompressRequest(**request_fields))
        assert failure.value.code() is code
        assert sample_value(await trimwire.metrics(), "trimwire_api_calls_total", api="grpc", status=code.name) == 1

    async def test_oversized_is_resource_exhausted(self, start_trimwire: StartTrimwire) -> None:
        """messages_json above max_body_bytes is refused with RESOURCE_EXHAUSTED."""
        harness = await start_trimwire(max_body_bytes=4096)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await grpc_stub(harness).Compress(api.CompressRequest(
                messages_json=json.dumps(openai_body(LOG)["messages"]).encode()))
        assert failure.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


class TestThreeEntryPoints:
    @pytest.mark.parametrize("tool_output", [LOG, service_listing(60)], ids=["log", "json"])
    async def test_same_messages_from_ext_proc_http_and_grpc(self, trimwire: Harness, tool_output: str) -> None:
        """ext_proc, HTTP and gRPC give byte-identical compressed messages for the same input."""
        body = openai_body(tool_output)
        stream = trimwire.stream()
        await stream.request_headers(OPENAI_PATH)
        via_ext_proc = json.loads(common(await stream.body(json.dumps(body).encode())).body_mutation.body)["messages"]
        await stream.response_headers()
        await stream.finish()
        via_http = (await post(trimwire, {"messages": body["messages"], "model": body["model"]})).json()["messages"]
        reply = await grpc_stub(trimwire).Compress(api.CompressRequest(
            messages_json=json.dumps(body["messages"]).encode(), model=body["model"]))
        canonical = [json.dumps(m, sort_keys=False, ensure_ascii=False) for m in via_ext_proc]
        assert [json.dumps(m, ensure_ascii=False) for m in via_http] == canonical
        assert [json.dumps(m, ensure_ascii=False) for m in json.loads(reply.messages_json)] == canonical
        assert via_ext_proc != body["messages"]
