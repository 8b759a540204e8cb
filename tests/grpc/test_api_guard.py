"""The compression APIs under hostile input (issue 20): bounded work in flight, valid JSON out, and
the caller's bytes kept as ext_proc keeps them (api_guard.py)."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from extproc._proto import compressor_pb2 as api
from extproc.http_api import ADMISSION

from .bodies import openai_body
from .conftest import StartTrimwire
from .envoy_stream import OPENAI_PATH, common
from .faulty import SLEEP, sleeping_factory
from .harness import Harness, sample_value
from .test_compress_api import LOG, grpc_stub, post

# A tool call whose arguments hold numbers any re-serialisation would respell, then a log to compress.
_ODD_NUMBERS = '{"a":1.10,"b":1E+2,"c":-0,"d":1e999999,"e":12345678901234567890123}'


def _anthropic_messages_text(log: str) -> str:
    return ('[{"role":"user","content":"Run the tests."},'
            '{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":'
            + _ODD_NUMBERS + '}]},'
            '{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":'
            + json.dumps(log) + '}]}]')


class TestTheCallersBytes:
    async def test_http_keeps_numbers_as_spelled_and_answers_valid_json(self, trimwire: Harness) -> None:
        """Numbers in tool_use.input come back spelled as sent (1.10, 1E+2, -0, 1e999999), the log is
        compressed, and the answer is strict JSON (1e999999 once came back as Infinity)."""
        messages = _anthropic_messages_text(LOG)
        raw = ('{"model":"claude-sonnet-4-5","messages":' + messages + "}").encode()
        reply = await post(trimwire, raw)
        assert reply.status_code == 200
        assert _ODD_NUMBERS.encode() in reply.content
        out = json.loads(reply.content, parse_constant=lambda name: pytest.fail(f"{name} in the answer"))
        assert out["tokens_saved"] > 0

    async def test_grpc_keeps_numbers_as_spelled(self, trimwire: Harness) -> None:
        messages = _anthropic_messages_text(LOG).encode()
        reply = await grpc_stub(trimwire).Compress(api.CompressRequest(messages_json=messages, model="m"))
        assert reply.tokens_saved > 0 and _ODD_NUMBERS.encode() in reply.messages_json

    async def test_the_same_bytes_as_ext_proc(self, trimwire: Harness) -> None:
        """ext_proc, HTTP and gRPC give the same messages bytes, odd numbers and all."""
        messages = _anthropic_messages_text(LOG)
        raw = ('{"model":"m","messages":' + messages + "}").encode()
        stream = trimwire.stream()
        await stream.request_headers("/v1/messages")
        via_ext_proc = common(await stream.body(raw)).body_mutation.body
        await stream.response_headers()
        await stream.finish()
        assert via_ext_proc.startswith(b'{"model":"m","messages":') and via_ext_proc != raw
        expected = via_ext_proc[len(b'{"model":"m","messages":'):-1]
        via_http = (await post(trimwire, raw)).content
        assert via_http.startswith(b'{"messages":' + expected + b",")
        reply = await grpc_stub(trimwire).Compress(api.CompressRequest(messages_json=messages.encode(), model="m"))
        assert reply.messages_json == expected

    @pytest.mark.parametrize("raw", [
        b'{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":NaN}',
        b'{"model":"m","messages":[{"role":"user","content":"hi","extra":Infinity}]}',
        b'{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}',
        b'{"model":"m","model":"n","messages":[]}',
    ], ids=["nan", "infinity", "duplicate-in-message", "duplicate-top-level"])
    async def test_what_cannot_be_kept_is_refused(self, trimwire: Harness, raw: bytes) -> None:
        """NaN and Infinity (not JSON) and duplicate keys (parsers disagree which wins) are a 400."""
        reply = await post(trimwire, raw)
        assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_request"

    async def test_grpc_refuses_nan_and_duplicate_keys(self, trimwire: Harness) -> None:
        for messages in (b'[{"role":"user","content":"hi","x":NaN}]', b'[{"role":"user","role":"user"}]'):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await grpc_stub(trimwire).Compress(api.CompressRequest(messages_json=messages, model="m"))
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    async def test_errors_name_the_field_never_its_value(self, trimwire: Harness) -> None:
        """A 400 says which field is wrong and never echoes what the client sent there."""
        canary = "CANARY-7f3a9"
        for raw in (json.dumps({"messages": canary, "model": "m"}).encode(),
                    json.dumps({"messages": [canary], "model": "m"}).encode(),
                    json.dumps([canary]).encode(),
                    b'{"model":"m","messages":[{"role":"user","content":"' + canary.encode() + b'"}],',
                    b'{"model":"' + canary.encode() + b'","model":"x","messages":[]}'):
            reply = await post(trimwire, raw)
            assert reply.status_code == 400 and canary not in reply.text, raw


class TestAdmission:
    async def test_past_the_calls_in_flight_it_is_503_with_retry_after(self, start_trimwire: StartTrimwire) -> None:
        """With one call in flight (api_max_inflight 1) a second is refused at once with 503 and
        Retry-After; once the first is done the next is served."""
        harness = await start_trimwire(factory=sleeping_factory, api_max_inflight=1, workers=2,
                                       request_deadline_ms=10_000)
        slow = openai_body(json.dumps({"note": SLEEP, "rows": list(range(50))}, indent=2))
        first = asyncio.create_task(post(harness, {"messages": slow["messages"], "model": "m"}))
        await _until_in_flight(harness)
        quick = openai_body(LOG)
        refused = await post(harness, {"messages": quick["messages"], "model": "m"})
        assert refused.status_code == 503 and refused.json()["error"]["type"] == "overloaded"
        assert int(refused.headers["retry-after"]) >= 1
        assert (await first).status_code == 200
        assert (await post(harness, {"messages": quick["messages"], "model": "m"})).status_code == 200
        metrics = await harness.metrics()
        assert sample_value(metrics, "trimwire_api_calls_total", api="http", status="503") == 1

    async def test_past_the_bytes_in_flight_it_is_503(self, start_trimwire: StartTrimwire) -> None:
        """A call whose body would take the bytes in flight past api_max_inflight_bytes is refused
        before its body is read; one call alone is always let in."""
        harness = await start_trimwire(factory=sleeping_factory, api_max_inflight=4, workers=2,
                                       api_max_inflight_bytes=200_000, request_deadline_ms=10_000)
        slow = openai_body(json.dumps({"note": SLEEP, "rows": list(range(50))}, indent=2))
        first = asyncio.create_task(post(harness, {"messages": slow["messages"], "model": "m"}))
        await _until_in_flight(harness)
        big = openai_body(LOG * 30)
        assert len(json.dumps(big)) > 200_000
        refused = await post(harness, {"messages": big["messages"], "model": "m"})
        assert refused.status_code == 503 and "retry-after" in refused.headers
        assert (await first).status_code == 200
        assert (await post(harness, {"messages": big["messages"], "model": "m"})).status_code == 200

    async def test_the_api_leaves_ext_proc_a_worker(self, start_trimwire: StartTrimwire) -> None:
        """By default the API runs half the workers' worth of calls: with two workers and one slow
        API call in flight, a second API call is refused while an ext_proc request is compressed."""
        harness = await start_trimwire(factory=sleeping_factory, workers=2, request_deadline_ms=10_000)
        slow = openai_body(json.dumps({"note": SLEEP, "rows": list(range(50))}, indent=2))
        first = asyncio.create_task(post(harness, {"messages": slow["messages"], "model": "m"}))
        await _until_in_flight(harness)
        quick = openai_body(json.dumps({"rows": list(range(50))}, indent=2))
        assert (await post(harness, {"messages": quick["messages"], "model": "m"})).status_code == 503
        stream = harness.stream()
        await stream.request_headers(OPENAI_PATH)
        reply = common(await stream.body(json.dumps(quick).encode()))
        assert reply.HasField("body_mutation")
        await stream.response_headers()
        await stream.finish()
        assert (await first).status_code == 200


async def _until_in_flight(harness: Harness) -> None:
    """Wait until the server has a request in flight (the slow call reached a worker)."""
    admission = harness.server.api_runner.app[ADMISSION]  # type: ignore[union-attr]
    for _ in range(200):
        if admission.calls > 0:
            await asyncio.sleep(0.2)  # past reading the body: on its way to a worker
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the first call never got in flight")

