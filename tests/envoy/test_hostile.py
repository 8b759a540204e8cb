"""Hostile requests through a real Envoy with the shipped config (issue 20): forged x-trimwire-*
headers never reach the upstream, even with trimwire down; a huge upload on a path trimwire does
not read streams through unbuffered; two user headers grant no one's bypass."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from extproc.envoy_config import TRIMWIRE_HEADERS
from tests.upstream import RecordingUpstream

from .bodies import chat_conversation
from .stack import (TEST_ID_HEADER, EnvoyProcess, TrimwireProcess, free_ports, metric_value, recorded,
                    start_test_envoy, start_trimwire)

FORGED = {name: "FORGED" for name in TRIMWIRE_HEADERS if name not in ("x-trimwire-mode", "x-trimwire-bypass")}


@pytest.fixture(scope="module")
def envoy_without_trimwire(upstream: RecordingUpstream) -> Iterator[EnvoyProcess]:
    """The shipped config with trimwire down (nothing listens on its port), failing open."""
    [dead_port] = free_ports(1)
    running = start_test_envoy(dead_port, upstream)
    yield running
    running.stop()


def _post(url: str, path: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[httpx.Response, str]:
    test_id = uuid.uuid4().hex
    reply = httpx.post(url + path, content=body, timeout=120, headers=[
        ("content-type", "application/json"), (TEST_ID_HEADER, test_id), *headers])
    return reply, test_id


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings"])
def test_forged_headers_never_reach_the_upstream_with_trimwire_down(
        envoy_without_trimwire: EnvoyProcess, upstream: RecordingUpstream, path: str) -> None:
    """With trimwire down and failing open, Envoy itself strips every x-trimwire-* header a client
    forged, on LLM and other paths (16,163 forged outcomes once went upstream after a kill)."""
    reply, test_id = _post(envoy_without_trimwire.url, path, json.dumps(chat_conversation()[0]).encode(),
                           [*FORGED.items(), ("x-trimwire-mode", "token"), ("x-trimwire-bypass", "true")])
    assert reply.status_code == 200
    [seen] = recorded(upstream, test_id)
    assert not [name for name in seen.headers if name.lower().startswith("x-trimwire-")]


def test_a_huge_upload_on_another_path_streams_through(envoy: EnvoyProcess, upstream: RecordingUpstream) -> None:
    """51 MiB to /v1/embeddings, a path trimwire never reads, is neither buffered nor refused: the
    upstream gets it whole (it once got a 413 and the client an undocumented outcome, pending)."""
    body = b'{"model":"e","input":"' + b"a" * (51 * 1024 * 1024) + b'"}'
    reply, test_id = _post(envoy.url, "/v1/embeddings", body, [])
    assert reply.status_code == 200 and "x-trimwire-outcome" not in reply.headers
    [seen] = recorded(upstream, test_id)
    assert len(seen.body) == len(body)


def test_two_user_headers_grant_no_bypass(envoy: EnvoyProcess, trimwire: TrimwireProcess,
                                          upstream: RecordingUpstream) -> None:
    """``bob`` then ``alice`` in x-maas-username: neither is believed, so no bypass is granted
    (alice's would have been, the last value winning) and the request is counted as ambiguous."""
    before = metric_value(trimwire.ops_url, "trimwire_ambiguous_user_total", {}) or 0
    reply, _ = _post(envoy.url, "/v1/chat/completions", json.dumps(chat_conversation()[0]).encode(),
                     [("x-maas-username", "bob"), ("x-maas-username", "alice"), ("x-trimwire-bypass", "true")])
    assert reply.status_code == 200 and reply.headers["x-trimwire-outcome"] != "bypassed"
    assert metric_value(trimwire.ops_url, "trimwire_ambiguous_user_total", {}) == before + 1
