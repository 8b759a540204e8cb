"""The real OpenAI and Anthropic SDK clients talking through Envoy and trimwire to a recording
upstream: chat completions, messages and responses, each streamed and not.

One exchange per (API, stream) is made once per module; the tests below read different facts
off it: what the SDK parsed, what the upstream received, which headers travelled where.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.upstream import Recorded, RecordingUpstream

from .bodies import (
    Path,
    anthropic_conversation,
    assert_only_tool_output_compressed,
    chat_conversation,
    dumps,
    responses_conversation,
)
from .stack import TEST_ID_HEADER, EnvoyProcess, RequestCapture, TrimwireProcess, metric_value, recorded, wait_until

pytestmark = pytest.mark.envoy

API_KEY = "sk-test-0123456789abcdef"
SPOOFED = {"x-trimwire-tokens-saved": "999999", "x-trimwire-outcome": "bypassed",
           "x-trimwire-ratio": "0.0001", "x-trimwire-injected": "yes"}
SAVINGS = ("x-trimwire-tokens-before", "x-trimwire-tokens-after", "x-trimwire-tokens-saved", "x-trimwire-ratio")


@dataclass
class Exchange:
    """One SDK call through Envoy and everything observed about it."""

    api: str
    stream: bool
    user: str
    sent: bytes                      # the body the SDK put on the wire
    sent_headers: dict[str, str]
    compressible: list[Path]
    reply_text: str                  # what the SDK parsed out of the reply
    response_headers: dict[str, str]
    upstream: Recorded


def _chat(envoy: EnvoyProcess, http: httpx2.Client, stream: bool, headers: dict[str, str]):
    body, compressible = chat_conversation()
    client = openai.OpenAI(base_url=envoy.url + "/v1", api_key=API_KEY, max_retries=0,
                           http_client=http)
    raw = client.chat.completions.with_raw_response.create(**body, stream=stream, extra_headers=headers)
    if stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    else:
        text = raw.parse().choices[0].message.content
    return compressible, text, raw.headers


def _messages(envoy: EnvoyProcess, http: httpx2.Client, stream: bool, headers: dict[str, str]):
    body, compressible = anthropic_conversation()
    client = anthropic.Anthropic(base_url=envoy.url, api_key=API_KEY, max_retries=0,
                                 http_client=http)
    raw = client.messages.with_raw_response.create(**body, stream=stream, extra_headers=headers)
    if stream:
        text = "".join(event.delta.text for event in raw.parse()
                       if event.type == "content_block_delta" and event.delta.type == "text_delta")
    else:
        text = "".join(block.text for block in raw.parse().content if block.type == "text")
    return compressible, text, raw.headers


def _responses(envoy: EnvoyProcess, http: httpx2.Client, stream: bool, headers: dict[str, str]):
    body, compressible = responses_conversation()
    client = openai.OpenAI(base_url=envoy.url + "/v1", api_key=API_KEY, max_retries=0,
                           http_client=http)
    raw = client.responses.with_raw_response.create(**body, stream=stream, extra_headers=headers)
    if stream:
        done = [event.response for event in raw.parse() if event.type == "response.completed"]
        text = done[0].output_text if done else ""
    else:
        text = raw.parse().output_text
    return compressible, text, raw.headers


CALLS: dict[str, Callable[..., Any]] = {"chat": _chat, "messages": _messages, "responses": _responses}
SHAPES = {"chat": "messages", "messages": "messages", "responses": "input"}


@pytest.fixture(scope="module", params=[(api, stream) for api in CALLS for stream in (False, True)],
                ids=lambda p: f"{p[0]}-{'stream' if p[1] else 'json'}")
def exchange(request: pytest.FixtureRequest, envoy: EnvoyProcess, upstream: RecordingUpstream) -> Exchange:
    api, stream = request.param
    test_id = uuid.uuid4().hex
    user = f"user-{api}-{'stream' if stream else 'json'}-{test_id[:6]}"
    capture = RequestCapture()
    headers = {TEST_ID_HEADER: test_id, "x-maas-username": user, **SPOOFED}
    with capture.client() as http:
        compressible, text, response_headers = CALLS[api](envoy, http, stream, headers)
    [received] = recorded(upstream, test_id)
    return Exchange(api, stream, user, capture.body, capture.headers, compressible, text,
                    {k.lower(): v for k, v in response_headers.items()}, received)


def test_sdk_parses_reply(exchange: Exchange) -> None:
    """The SDK parses the upstream's reply, streamed or not, after it went back through Envoy."""
    assert exchange.reply_text == "ok"


def test_upstream_body_has_request_shape(exchange: Exchange) -> None:
    """The upstream receives valid JSON of the same API shape, model and stream flag the SDK sent."""
    sent, got = json.loads(exchange.sent), exchange.upstream.json()
    assert isinstance(got[SHAPES[exchange.api]], list)
    assert got["model"] == sent["model"]
    assert bool(got.get("stream")) is exchange.stream


def test_only_tool_output_is_compressed(exchange: Exchange) -> None:
    """Everything protected arrives equal and in order; only JSON and log tool output changed, faithfully."""
    assert_only_tool_output_compressed(json.loads(exchange.sent), exchange.upstream.json(), exchange.compressible)


def test_upstream_body_is_smaller(exchange: Exchange) -> None:
    """The upstream body is smaller than even a compact re-encoding of what the SDK sent."""
    assert len(exchange.upstream.body) < len(dumps(json.loads(exchange.sent)))


def test_upstream_content_length_matches_body(exchange: Exchange) -> None:
    """The content-length the upstream sees is the length of the rewritten body."""
    assert exchange.upstream.headers["content-length"] == str(len(exchange.upstream.body))


@pytest.mark.parametrize("side", ["upstream", "client"])
def test_savings_headers(exchange: Exchange, side: str) -> None:
    """Both the upstream request and the client response carry consistent savings headers."""
    headers = exchange.upstream.headers if side == "upstream" else exchange.response_headers
    before, after, saved = (int(headers[name]) for name in SAVINGS[:3])
    assert saved > 0 and before - after == saved
    assert float(headers["x-trimwire-ratio"]) == pytest.approx(after / before, abs=1e-4)
    assert headers["x-trimwire-outcome"] == "compressed"


def test_spoofed_trimwire_headers_are_stripped(exchange: Exchange) -> None:
    """x-trimwire-* headers a client sends never reach the upstream; only trimwire's own values do."""
    headers = exchange.upstream.headers
    assert "x-trimwire-injected" not in headers
    assert headers["x-trimwire-tokens-saved"] != SPOOFED["x-trimwire-tokens-saved"]
    assert headers["x-trimwire-ratio"] != SPOOFED["x-trimwire-ratio"]
    assert exchange.response_headers["x-trimwire-tokens-saved"] == headers["x-trimwire-tokens-saved"]


def test_user_metric_counts_saved_tokens(exchange: Exchange, trimwire: TrimwireProcess) -> None:
    """The x-maas-username user's tokens_saved series equals the saved tokens this request reported."""
    labels = {"user": exchange.user}
    # the metric is written when the ext_proc stream closes, which may be just after the reply
    wait_until(lambda: metric_value(trimwire.ops_url, "trimwire_tokens_saved_total", labels) is not None,
               "tokens_saved series for the user", timeout=30)
    value = metric_value(trimwire.ops_url, "trimwire_tokens_saved_total", labels)
    assert value == int(exchange.response_headers["x-trimwire-tokens-saved"]) > 0


def test_credentials_reach_upstream_untouched(exchange: Exchange) -> None:
    """The authorization header (and x-api-key where the SDK sends one) arrives exactly as sent."""
    sent, got = exchange.sent_headers, exchange.upstream.headers
    assert got["authorization"] == sent["authorization"] == f"Bearer {API_KEY}"
    assert got.get("x-api-key") == sent.get("x-api-key")
