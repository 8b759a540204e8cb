"""Bodies sent with plain httpx through the buffered Envoy: gateway paths, chunked uploads, a 5 MB session,
gzip and zstd encodings, requests trimwire must leave byte-identical, and captured corpus rows.
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
import zstandard

from extproc import BodyRequest, Settings, build_engine
from extproc.formats import FORMATS, detect_format
from tests.json_siblings import pod
from tests.shelf import SHELF
from tests.upstream import Recorded, RecordingUpstream

from .bodies import (
    LOG_ERROR,
    anthropic_conversation,
    assert_only_tool_output_compressed,
    big_anthropic_conversation,
    chat_conversation,
    dumps,
)
from .stack import REPO_ROOT, TEST_ID_HEADER, EnvoyProcess, recorded

pytestmark = pytest.mark.envoy

CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "corpus.jsonl"
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "responses": "/v1/responses"}
ENCODERS = {"gzip": gzip.compress, "zstd": lambda raw: zstandard.ZstdCompressor(level=3).compress(raw)}
DECODERS = {"gzip": gzip.decompress, "zstd": lambda raw: zstandard.ZstdDecompressor().decompressobj().decompress(raw)}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=120) as c:
        yield c


def send(client: httpx.Client, envoy: EnvoyProcess, upstream: RecordingUpstream, path: str,
         content: bytes | Iterable[bytes], headers: dict[str, str] | None = None) -> tuple[httpx.Response, Recorded]:
    """POST through Envoy; returns the client's response and the one request the upstream got."""
    test_id = uuid.uuid4().hex
    headers = {"content-type": "application/json", TEST_ID_HEADER: test_id, **(headers or {})}
    response = client.post(envoy.url + path, content=content, headers=headers)
    [received] = recorded(upstream, test_id)
    return response, received


@pytest.mark.parametrize("path", ["/llm/ext-opus/v1/messages", "/v1/messages?beta=true"],
                         ids=["gateway-prefix", "query-string"])
def test_gateway_prefixed_path_is_compressed(client, envoy, upstream, path: str) -> None:
    """A MaaS gateway path or a query string on /v1/messages is routed, kept as is, and compressed."""
    body, compressible = anthropic_conversation()
    response, got = send(client, envoy, upstream, path, dumps(body))
    assert response.status_code == 200 and response.json()["type"] == "message"
    assert got.path == path
    assert got.headers["x-trimwire-outcome"] == "compressed"
    assert_only_tool_output_compressed(body, got.json(), compressible)


def test_chunked_client_body_gets_true_content_length(client, envoy, upstream) -> None:
    """A client body sent chunked (no content-length) arrives compressed with a correct content-length."""
    body, compressible = anthropic_conversation()
    raw = dumps(body)
    pieces = (raw[start:start + 4096] for start in range(0, len(raw), 4096))
    response, got = send(client, envoy, upstream, "/v1/messages", pieces)
    assert response.status_code == 200
    assert got.headers["content-length"] == str(len(got.body)) and len(got.body) < len(raw)
    assert_only_tool_output_compressed(body, got.json(), compressible)


def test_five_megabyte_body_is_compressed(client, envoy, upstream) -> None:
    """A 5 MB agent session passes Envoy's buffer and gRPC limits and arrives compressed."""
    body, compressible = big_anthropic_conversation(5 * 1024 * 1024)
    raw = dumps(body)
    response, got = send(client, envoy, upstream, "/v1/messages", raw)
    assert response.status_code == 200
    assert response.headers["x-trimwire-outcome"] == "compressed"
    assert len(got.body) < len(raw) and got.headers["content-length"] == str(len(got.body))
    assert_only_tool_output_compressed(body, got.json(), compressible)


def test_coloured_tool_output_arrives_plain_and_compressed(client, envoy, upstream) -> None:
    """A log coloured with ANSI codes reaches the upstream without them, compressed as a log, and
    every other string of the body as it was sent."""
    body, compressible = anthropic_conversation()
    log = body["messages"][4]["content"][0]["content"][0]
    plain = log["text"]
    log["text"] = (plain.replace(" ERROR ", " \x1b[1;31mERROR\x1b[0m ").replace(" INFO ", " \x1b[32mINFO\x1b[0m ")
                   .replace("T10:", "\x1b[2mT10:\x1b[22m"))
    response, got = send(client, envoy, upstream, "/v1/messages", dumps(body))
    assert response.status_code == 200 and response.headers["x-trimwire-outcome"] == "compressed"
    sent_plain = json.loads(dumps(body))
    sent_plain["messages"][4]["content"][0]["content"][0]["text"] = plain
    # with the codes taken out of what was sent, only the tool outputs differ, each faithful to it
    assert_only_tool_output_compressed(sent_plain, got.json(), compressible)
    arrived = got.json()["messages"][4]["content"][0]["content"][0]["text"]
    assert "\x1b" not in arrived and LOG_ERROR in arrived


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_encoded_body_is_compressed_and_reencoded(client, envoy, upstream, encoding: str) -> None:
    """A gzip or zstd body arrives in the same encoding, decoding to smaller valid JSON with a true length."""
    body, compressible = chat_conversation()
    raw = dumps(body)
    response, got = send(client, envoy, upstream, "/v1/chat/completions", ENCODERS[encoding](raw),
                         {"content-encoding": encoding})
    assert response.status_code == 200
    assert got.headers["content-encoding"] == encoding
    assert got.headers["content-length"] == str(len(got.body))
    plain = DECODERS[encoding](got.body)
    assert len(plain) < len(raw)
    assert_only_tool_output_compressed(body, json.loads(plain), compressible)


def _passthrough_cases() -> dict[str, tuple[str, bytes, dict[str, str]]]:
    raw = dumps(chat_conversation()[0])
    return {
        "invalid_json": ("/v1/chat/completions", raw[:-7] + b",,}", {}),
        "text_plain": ("/v1/chat/completions", raw, {"content-type": "text/plain"}),
        "unknown_path": ("/v1/embeddings", raw, {}),
        "bypass_header": ("/v1/chat/completions", raw, {"x-trimwire-bypass": "true"}),
        "deflate_encoding": ("/v1/chat/completions", zlib.compress(raw), {"content-encoding": "deflate"}),
    }


@pytest.mark.parametrize("case", list(_passthrough_cases()))
def test_passthrough_is_byte_identical(client, envoy, upstream, case: str) -> None:
    """Bodies trimwire must leave alone (bad JSON, text/plain, unknown path or encoding, bypass) arrive as sent."""
    path, raw, headers = _passthrough_cases()[case]
    response, got = send(client, envoy, upstream, path, raw, headers)
    assert response.status_code == 200
    assert got.path == path
    assert got.body == raw and got.headers["content-length"] == str(len(raw))
    assert "x-trimwire-tokens-saved" not in got.headers
    assert "x-trimwire-bypass" not in got.headers


def _first_corpus_row(fmt: str) -> dict[str, Any] | None:
    """The first captured conversation of ``fmt`` that trimwire compresses (many short sessions have
    nothing worth cutting), so the test below sees compressed output."""
    compressor = build_engine(Settings(workers=0), shelf=SHELF)
    with CORPUS.open(encoding="utf-8") as rows:
        for line in rows:
            row = json.loads(line)
            body = row.get("body") if isinstance(row, dict) else None
            if not isinstance(body, dict):
                continue
            try:
                row_format = row.get("format") if row.get("format") in FORMATS else detect_format(body)
            except Exception:
                continue
            if row_format == fmt and compressor.run(_encode(body), BodyRequest(fmt)).outcome == "compressed":
                return row
    return None


def _encode(body: dict[str, Any]) -> bytes:
    try:
        return dumps(body)
    except UnicodeEncodeError:  # lone surrogates survive only escaped
        return json.dumps(body, separators=(",", ":")).encode("ascii")


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


@pytest.mark.parametrize("fmt", list(PATHS))
def test_corpus_conversation_arrives_compressed(client, envoy, upstream, fmt: str) -> None:
    """One captured conversation per format arrives upstream compressed, valid, and still holding every
    probe answer (the facts a model must be able to find in it)."""
    if not CORPUS.exists():
        pytest.skip(f"no corpus at {CORPUS}")
    row = _first_corpus_row(fmt)
    if row is None:
        pytest.skip(f"no {fmt} conversation in the corpus")
    body = row["body"]
    raw = _encode(body)
    response, got = send(client, envoy, upstream, PATHS[fmt], raw)
    assert response.status_code == 200
    assert got.headers["x-trimwire-outcome"] == "compressed"
    assert len(got.body) < len(raw) and got.headers["content-length"] == str(len(got.body))
    sent_text, got_text = "\n".join(_strings(body)), "\n".join(_strings(got.json()))
    answers = [probe["a"] for probe in row.get("probes", []) if probe.get("a")]
    assert answers and all(answer in sent_text for answer in answers)
    assert [answer for answer in answers if answer not in got_text] == []


def test_replica_pods_arrive_written_once(client, envoy, upstream) -> None:
    """``kubectl get pods -o json`` of one StatefulSet: the second and third pods arrive as their
    differences from the first, and read back they are the pods as sent."""
    listing = {"apiVersion": "v1", "kind": "List",
               "items": [pod(f"prometheus-k8s-{n}", f"10.128.2.{n + 7}", n) for n in range(3)]}
    text = json.dumps(listing, indent=2)
    body = {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [
        {"role": "user", "content": "Why does prometheus-k8s-2 restart?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_pods", "name": "Bash",
                                           "input": {"command": "kubectl get pods -n monitoring -o json"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_pods", "content": text}]}]}
    response, got = send(client, envoy, upstream, "/v1/messages", dumps(body))
    assert response.status_code == 200 and response.headers["x-trimwire-outcome"] == "compressed"
    arrived = got.json()["messages"][2]["content"][0]["content"]
    assert arrived.count("[trimwire: same as [0] of this array") == 2 and len(arrived) < len(text) / 2
    assert_only_tool_output_compressed(body, got.json(), [("messages", 2, "content", 0, "content")])
