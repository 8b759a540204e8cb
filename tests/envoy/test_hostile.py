"""Hostile requests through a real Envoy with the shipped config (issue 20): forged x-trimwire-*
headers never reach the upstream, even with trimwire down; a huge upload on a path trimwire does
not read streams through unbuffered; two user headers grant no one's bypass."""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest
import yaml

from extproc.envoy_bootstrap import TRIMWIRE_HEADERS, render
from tests.upstream import RecordingUpstream

from .bodies import chat_conversation
from .stack import (
    REPO_ROOT,
    TEST_ID_HEADER,
    EnvoyProcess,
    TrimwireProcess,
    find_envoy_or_skip,
    free_ports,
    http_get,
    loopback_envoy_options,
    metric_value,
    recorded,
    start_test_envoy,
    stop_process,
    wait_until,
)

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


@pytest.fixture(scope="module")
def snippet_envoy(upstream: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The loopback config with deploy/envoy/ext-proc-snippet.yaml's filter, listener and route
    settings pasted in place of the local ones (routes without per-route scoping), trimwire down
    and failing closed: a request the filter does not skip fails, one it skips goes through."""
    opts = loopback_envoy_options(free_ports(1)[0], upstream.url, failure_mode_allow=False)
    config = render(opts)
    snippet = yaml.safe_load((REPO_ROOT / "deploy" / "envoy" / "ext-proc-snippet.yaml").read_text())
    [listener] = config["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    ext_proc = copy.deepcopy(snippet["http_filter"])
    ext_proc["typed_config"]["extension_config"]["typed_config"]["failure_mode_allow"] = False
    hcm["http_filters"] = [snippet["header_filter"], ext_proc, hcm["http_filters"][-1]]
    for route in hcm["route_config"]["virtual_hosts"][0]["routes"]:
        route.pop("typed_per_filter_config", None)
        route.pop("request_body_buffer_limit", None)
    hcm["route_config"].update(snippet["route_config"])
    listener.update(snippet["listener"])
    path = tmp_path_factory.mktemp("snippet") / "envoy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = subprocess.Popen([find_envoy_or_skip(), "-c", str(path), "--log-level", "error", "--base-id",
                             str(opts.admin_port), "--disable-hot-restart"], stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{opts.admin_port}/ready").status_code == 200,
                   "envoy /ready", alive=proc)
        yield f"http://127.0.0.1:{opts.listen_port}"
    finally:
        stop_process(proc)


def test_the_snippet_runs_ext_proc_on_llm_paths_only(snippet_envoy: str, upstream: RecordingUpstream) -> None:
    """The snippet's matcher skips the filter on other paths: with trimwire down and failing
    closed, /v1/chat/completions fails while a 51 MiB /v1/embeddings upload goes through whole,
    and forged x-trimwire-* headers are removed on the way."""
    llm, _ = _post(snippet_envoy, "/v1/chat/completions", json.dumps(chat_conversation()[0]).encode(), [])
    assert llm.status_code == 500
    body = b'{"model":"e","input":"' + b"a" * (51 * 1024 * 1024) + b'"}'
    reply, test_id = _post(snippet_envoy, "/v1/embeddings", body, list(FORGED.items()))
    assert reply.status_code == 200
    [seen] = recorded(upstream, test_id)
    assert len(seen.body) == len(body)
    assert not [name for name in seen.headers if name.lower().startswith("x-trimwire-")]
