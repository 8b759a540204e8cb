"""Envoy reaching trimwire over mutual TLS: Envoy presents a client certificate, trimwire's gRPC port
requires one, and an SDK request through Envoy arrives upstream compressed. Without Envoy's
certificate the handshake fails and failure_mode_allow sends the request on unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import pytest

from extproc import load_settings
from extproc.envoy_bootstrap import TrimwireTls
from extproc.workers import WorkerPool
from tests.grpc.certs import Certs, make_certs
from tests.upstream import RecordingUpstream

from .bodies import anthropic_conversation, assert_only_tool_output_compressed
from .stack import TEST_ID_HEADER, EnvoyProcess, RequestCapture, recorded, start_test_envoy
from .test_failures import ThreadedServer

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def mtls_trimwire(certs: Certs, envoy_binary: str) -> Iterator[ThreadedServer]:
    settings = load_settings(env={}, grpc_address="127.0.0.1:0", metrics_address="127.0.0.1:0",
                             api_address="127.0.0.1:0", workers=0, log_level="warning",
                             tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key),
                             tls_client_ca_file=str(certs.ca))
    server = ThreadedServer(settings, WorkerPool(settings))
    yield server
    server.stop()


def envoy_with(tls: TrimwireTls, server: ThreadedServer, upstream: RecordingUpstream) -> EnvoyProcess:
    return start_test_envoy(server.server.grpc_port, upstream, trimwire_tls=tls)


def send(envoy: EnvoyProcess, upstream: RecordingUpstream, test_id: str) -> tuple[bytes, dict[str, str], bytes]:
    body, _ = anthropic_conversation()
    capture = RequestCapture()
    client = anthropic.Anthropic(base_url=envoy.url, api_key="sk-test", max_retries=0, http_client=capture.client())
    raw = client.messages.with_raw_response.create(**body,
                                                   extra_headers={TEST_ID_HEADER: test_id})
    [received] = recorded(upstream, test_id)
    return capture.body, dict(raw.headers), received.body


def test_mutual_tls_through_envoy(mtls_trimwire: ThreadedServer, certs: Certs, upstream: RecordingUpstream) -> None:
    """With Envoy's client certificate the request is compressed on its way upstream."""
    tls = TrimwireTls(ca_file=str(certs.ca), cert_file=str(certs.client_cert), key_file=str(certs.client_key))
    envoy = envoy_with(tls, mtls_trimwire, upstream)
    try:
        sent, headers, received = send(envoy, upstream, "mtls-ok")
    finally:
        envoy.stop()
    assert headers["x-trimwire-outcome"] == "compressed"
    _, paths = anthropic_conversation()
    assert_only_tool_output_compressed(json.loads(sent), json.loads(received), paths)


def test_without_a_client_certificate_envoy_fails_open(mtls_trimwire: ThreadedServer, certs: Certs,
                                                        upstream: RecordingUpstream) -> None:
    """Envoy without a certificate is refused by trimwire; the request still goes upstream, unchanged."""
    envoy = envoy_with(TrimwireTls(ca_file=str(certs.ca)), mtls_trimwire, upstream)
    try:
        sent, headers, received = send(envoy, upstream, "mtls-refused")
    finally:
        envoy.stop()
    assert received == sent and "x-trimwire-outcome" not in headers
