"""Headroom's compression-service contract, as the clients in the field call it, aimed at trimwire's
HTTP API through real HTTP calls (httpx) on a real in-process server.

The cases are our own fixtures of Headroom's public contract (its docs and the callers' code):
the MaaS payload-processing plugin's three released variants and its readiness probe, the
TypeScript SDK's ``/health`` check, Headroom's own ``/v1/compress`` cases, and headroom-gateway's
``/stats`` and ``/health`` reads.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from extproc._proto import compressor_pb2 as api
from extproc._proto import compressor_pb2_grpc as api_grpc
from extproc.tokens import TokenCounter

from .bodies import anthropic_body, openai_body, service_listing
from .conftest import StartTrimwire
from .faulty import SLEEP, SLEEP_SECONDS, sleeping_factory
from .harness import Harness, sample_value

LOG = "\n".join([f"tests/test_api.py::test_case_{i} PASSED" for i in range(200)]
                + ["tests/test_api.py::test_refund FAILED", "E   AssertionError: refund 12 != 10",
                   "==== 1 failed, 200 passed in 3.21s ===="])
FIELDS = {"messages", "tokens_before", "tokens_after", "tokens_saved", "compression_ratio",
          "transforms_applied", "transforms_summary", "ccr_hashes"}


def base(harness: Harness) -> str:
    return f"http://127.0.0.1:{harness.server.api_port}"


async def call(harness: Harness, method: str, path: str, payload: Any = None, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
        if method == "GET":
            return await client.get(base(harness) + path)
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await client.post(base(harness) + path, content=content,
                                 headers={"content-type": "application/json", **headers})


class TestMaasPlugin:
    async def test_messages_and_model_with_username(self, trimwire: Harness) -> None:
        """Variant 1: {messages, model} and x-maas-username: compressed, every field Headroom sends."""
        body = openai_body(LOG)
        reply = await call(trimwire, "POST", "/v1/compress", {"messages": body["messages"], "model": "gpt-4o"},
                           **{"x-maas-username": "maas-user"})
        out = reply.json()
        assert reply.status_code == 200 and set(out) == FIELDS
        assert out["tokens_before"] > out["tokens_after"] > 0 and out["ccr_hashes"] == []
        assert out["transforms_summary"] == {"logs": 1}
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_tokens_saved_total", model="gpt-4o", user="maas-user") == out["tokens_saved"]

    async def test_helm_config_values_are_coerced_not_refused(self, trimwire: Harness) -> None:
        """Variant 2: a config from Helm values (strings, -1, Headroom-only keys) is a 200 with
        warnings, never a 400 that would make the plugin fail open on every request."""
        body = openai_body(LOG)
        config = {"protect_recent": "2", "frozen_message_count": -1, "mode": "ccr", "target_ratio": "0.5",
                  "compress_user_messages": "false"}
        reply = await call(trimwire, "POST", "/v1/compress",
                           {"messages": body["messages"], "model": "gpt-4o", "config": config})
        out = reply.json()
        assert reply.status_code == 200 and out["tokens_saved"] > 0
        assert out["warnings"] == [
            "config.frozen_message_count is not a non-negative integer; ignored",
            "config.mode names a Headroom mode with no trimwire equivalent; the configured mode is used",
            "config.target_ratio has no trimwire equivalent; ignored",
            "config.compress_user_messages has no trimwire equivalent; ignored",
        ]
        assert "-1" not in " ".join(out["warnings"]) and "ccr" not in " ".join(out["warnings"])  # fields, not values
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_api_config_ignored_total", key="frozen_message_count") == 1

    @pytest.mark.parametrize(("protect", "compressed"), [("0", True), ("1", False), (" 1 ", False), (0.0, True)])
    async def test_string_count_is_honoured(self, trimwire: Harness, protect: Any, compressed: bool) -> None:
        """"protect_recent": "1" is read as 1 (the setting's default is 2): in token mode the
        newest result stays whole with 1, and is compressed with 0."""
        body = openai_body(LOG)
        reply = await call(trimwire, "POST", "/v1/compress", {"messages": body["messages"], "model": "gpt-4o",
                                                              "config": {"mode": "Token", "protect_recent": protect}})
        out = reply.json()
        assert "warnings" not in out and (out["tokens_saved"] > 0) is compressed

    async def test_compress_raw(self, trimwire: Harness) -> None:
        """Variant 3: /v1/compress-raw compresses each text as tool output and counts both sides."""
        texts = [LOG, "short note", service_listing(60)]
        reply = await call(trimwire, "POST", "/v1/compress-raw", {"texts": texts}, **{"x-maas-username": "raw-user"})
        assert reply.status_code == 200
        results = reply.json()["results"]
        counter = TokenCounter()
        assert [r["original_tokens"] for r in results] == [counter.count(t) for t in texts]
        assert [r["compressed_tokens"] for r in results] == [counter.count(r["compressed"]) for r in results]
        assert "test_refund FAILED" in results[0]["compressed"] and len(results[0]["compressed"]) < len(LOG)
        assert results[1]["compressed"] == "short note"
        assert results[2]["compressed_tokens"] < results[2]["original_tokens"]
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_tokens_saved_total", model="unknown", user="raw-user") > 0

    async def test_compress_raw_needs_texts(self, trimwire: Harness) -> None:
        """A compress-raw body without a texts array of strings is a 400 with a JSON error."""
        reply = await call(trimwire, "POST", "/v1/compress-raw", {"texts": [1]})
        assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_request"

    @pytest.mark.parametrize("path", ["/readyz", "/health", "/livez"])
    async def test_probes_on_the_api_port(self, trimwire: Harness, path: str) -> None:
        """The sidecar's readiness probe and the SDK's health check answer on the API port."""
        reply = await call(trimwire, "GET", path)
        assert reply.status_code == 200
        assert reply.json() == ({"ready": True} if path == "/readyz"
                                else {"status": "healthy" if path == "/health" else "ok", "ready": True})


class TestHeadroomContract:
    async def test_bypass_without_model(self, trimwire: Harness) -> None:
        """x-headroom-bypass without a model: the messages as sent, zeroed metrics, 200."""
        body = openai_body(LOG)
        reply = await call(trimwire, "POST", "/v1/compress", {"messages": body["messages"]},
                           **{"x-headroom-bypass": "true"})
        assert reply.status_code == 200
        assert reply.json() == {"messages": body["messages"], "tokens_before": 0, "tokens_after": 0,
                                "tokens_saved": 0, "compression_ratio": 1.0, "transforms_applied": [],
                                "transforms_summary": {}, "ccr_hashes": []}

    async def test_missing_model_defaults(self, trimwire: Harness) -> None:
        """A call without a model is compressed and labelled with the default model."""
        body = anthropic_body(service_listing(60))
        out = (await call(trimwire, "POST", "/v1/compress", {"messages": body["messages"]})).json()
        assert out["tokens_saved"] > 0 and out["transforms_applied"] == ["json_sampler"]
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_tokens_saved_total", model="unknown", user="__unknown__") > 0

    async def test_empty_messages(self, trimwire: Harness) -> None:
        """An empty conversation is a 200 with nothing counted and a ratio of 1."""
        out = (await call(trimwire, "POST", "/v1/compress", {"messages": [], "model": "gpt-4o"})).json()
        assert out["messages"] == [] and out["tokens_before"] == 0 and out["compression_ratio"] == 1.0

    async def test_ratio_is_after_over_before(self, trimwire: Harness) -> None:
        """compression_ratio = tokens_after / tokens_before (lower is better), saved = before - after."""
        out = (await call(trimwire, "POST", "/v1/compress",
                          {"messages": openai_body(LOG)["messages"], "model": "gpt-4o"})).json()
        assert out["compression_ratio"] == round(out["tokens_after"] / out["tokens_before"], 4) < 1
        assert out["tokens_saved"] == out["tokens_before"] - out["tokens_after"]

    async def test_frozen_prefix_comes_back_byte_for_byte(self, trimwire: Harness) -> None:
        """frozen_message_count = len(messages) leaves every message as it was passed in."""
        body = openai_body(LOG)
        out = (await call(trimwire, "POST", "/v1/compress", {"messages": body["messages"], "model": "gpt-4o",
                                                             "config": {"frozen_message_count": 4}})).json()
        assert out["messages"] == body["messages"] and out["tokens_saved"] == 0 and "warnings" not in out

    async def test_responses_input_is_accepted(self, trimwire: Harness) -> None:
        """A Responses-API ``input`` array is compressed and comes back as ``input``."""
        items = [{"role": "user", "content": "why does the build fail?"},
                 {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"cmd\": \"make\"}"},
                 {"type": "function_call_output", "call_id": "c1", "output": LOG}]
        reply = await call(trimwire, "POST", "/v1/compress", {"input": items, "model": "gpt-5"})
        out = reply.json()
        assert reply.status_code == 200 and out["tokens_saved"] > 0 and "messages" not in out
        assert out["input"][:2] == items[:2] and "test_refund FAILED" in out["input"][2]["output"]

    async def test_responses_format_over_grpc(self, trimwire: Harness) -> None:
        """The gRPC Compressor takes format "responses" for the same items."""
        items = [{"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
                 {"type": "function_call_output", "call_id": "c1", "output": LOG}]
        reply = await api_grpc.CompressorStub(trimwire.channel).Compress(api.CompressRequest(
            messages_json=json.dumps(items).encode(), format="responses", model="gpt-5"))
        assert reply.outcome == "compressed" and reply.tokens_saved > 0
        assert "test_refund FAILED" in json.loads(reply.messages_json)[1]["output"]

    @pytest.mark.parametrize(("payload", "message"), [
        (b"{not json", "Invalid JSON in request body."),
        ({"model": "gpt-4o"}, "Missing required field: messages"),
    ])
    async def test_400_cases(self, trimwire: Harness, payload: Any, message: str) -> None:
        """Headroom's 400s that remain: a body that is not JSON, no messages."""
        reply = await call(trimwire, "POST", "/v1/compress", payload)
        assert reply.status_code == 400 and reply.json()["error"]["message"] == message

    async def test_user_id_header_is_a_fallback(self, trimwire: Harness) -> None:
        """x-headroom-user-id names the user when x-maas-username is absent."""
        out = (await call(trimwire, "POST", "/v1/compress",
                          {"messages": openai_body(LOG)["messages"], "model": "gpt-4o"},
                          **{"x-headroom-user-id": "hr-user"})).json()
        families = await trimwire.metrics()
        assert sample_value(families, "trimwire_tokens_saved_total", model="gpt-4o", user="hr-user") == out["tokens_saved"]

    async def test_deadline_fail_open_reports_counts_and_reason(self, start_trimwire: StartTrimwire) -> None:
        """A call past request_deadline_ms gets its messages back with the tokens counted and why."""
        harness = await start_trimwire(factory=sleeping_factory, workers=1, request_deadline_ms=1_000)
        assert SLEEP_SECONDS * 1000 > 1_000
        body = openai_body(json.dumps({"note": SLEEP, "rows": list(range(50))}, indent=2))
        out = (await call(harness, "POST", "/v1/compress", {"messages": body["messages"], "model": "gpt-4o"})).json()
        assert out["messages"] == body["messages"] and out["tokens_saved"] == 0
        assert out["tokens_before"] == out["tokens_after"] > 100
        assert out["compression_skipped"] is True and out["skip_reason"] == "compression_timeout"


class TestStats:
    async def test_stats_on_both_ports(self, trimwire: Harness) -> None:
        """/stats on the API and ops ports totals the calls per user and model, never prompt text."""
        body = openai_body(LOG)
        out = (await call(trimwire, "POST", "/v1/compress", {"messages": body["messages"], "model": "gpt-4o"},
                          **{"x-maas-username": "dana", "x-request-id": "req-1"})).json()
        api = (await call(trimwire, "GET", "/stats")).json()
        async with httpx.AsyncClient(trust_env=False) as client:
            ops = (await client.get(trimwire.ops_url + "/stats")).json()
        for document in (api, ops):
            assert document["totals"]["tokens_saved"] == out["tokens_saved"]
            assert document["users"]["dana"]["requests"] == 1
            assert document["models"]["gpt-4o"]["outcomes"] == {"compressed": 1}
            assert document["totals"]["transforms"] == {"logs": 1}
            [recent] = document["recent"]
            assert (recent["id"], recent["user"], recent["outcome"]) == ("req-1", "dana", "compressed")
            assert "test_refund" not in json.dumps(document)

    async def test_price_table_gives_money_saved(self, start_trimwire: StartTrimwire) -> None:
        """With a price table, /stats says the dollars saved per model and in total."""
        harness = await start_trimwire(prices=["claude-*=15", "gpt-4o*=2.5"])
        out = (await call(harness, "POST", "/v1/compress",
                          {"messages": openai_body(LOG)["messages"], "model": "gpt-4o"})).json()
        stats = (await call(harness, "GET", "/stats")).json()
        assert stats["models"]["gpt-4o"]["usd_saved"] == round(out["tokens_saved"] * 2.5 / 1e6, 6)
        assert stats["totals"]["usd_saved"] == stats["models"]["gpt-4o"]["usd_saved"] > 0
