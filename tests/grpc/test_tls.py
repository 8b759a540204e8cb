"""TLS and mutual TLS on the gRPC port and the HTTP compression API, with certificates made here."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from extproc import load_settings
from extproc._proto import compressor_pb2 as api
from extproc._proto import compressor_pb2_grpc as api_grpc
from extproc.errors import ConfigError

from .bodies import openai_body, service_listing
from .certs import Certs, make_certs
from .conftest import StartTrimwire

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path)


def channel(port: int, certs: Certs, *, client: tuple[Path, Path] | None = None) -> grpc.aio.Channel:
    key, cert = (client[1].read_bytes(), client[0].read_bytes()) if client else (None, None)
    creds = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes(), private_key=key, certificate_chain=cert)
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", creds)


async def health(ch: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return reply.status


def tls_settings(certs: Certs, mutual: bool) -> dict[str, str]:
    values = {"tls_cert_file": str(certs.server_cert), "tls_key_file": str(certs.server_key)}
    if mutual:
        values["tls_client_ca_file"] = str(certs.ca)
    return values


class TestTls:
    async def test_grpc_over_tls(self, start_trimwire: StartTrimwire, certs: Certs) -> None:
        """With a certificate the gRPC port speaks TLS: a client trusting the CA is served, plaintext is not."""
        harness = await start_trimwire(**tls_settings(certs, mutual=False))
        port = harness.server.grpc_port
        async with channel(port, certs) as secure:
            assert await health(secure) == SERVING
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await health(plain)

    async def test_http_api_over_tls(self, start_trimwire: StartTrimwire, certs: Certs) -> None:
        """The HTTP API uses the same certificate: httpx verifying against the CA gets a 200."""
        harness = await start_trimwire(**tls_settings(certs, mutual=False))
        body = openai_body(service_listing(60))
        url = f"https://127.0.0.1:{harness.server.api_port}/v1/compress"
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(certs.ca))) as client:
            reply = await client.post(url, json={"messages": body["messages"], "model": "gpt-4o"})
        assert reply.status_code == 200 and reply.json()["tokens_saved"] > 0


class TestMutualTls:
    async def test_grpc_needs_a_client_certificate_from_the_ca(self, start_trimwire: StartTrimwire, certs: Certs) -> None:
        """With a client CA, only clients presenting a certificate it signed get through."""
        harness = await start_trimwire(**tls_settings(certs, mutual=True))
        port = harness.server.grpc_port
        async with channel(port, certs, client=(certs.client_cert, certs.client_key)) as trusted:
            assert await health(trusted) == SERVING
            reply = await api_grpc.CompressorStub(trusted).Compress(api.CompressRequest(
                messages_json=json.dumps(openai_body(service_listing(60))["messages"]).encode()))
            assert reply.outcome == "compressed"
        for client in (None, (certs.stranger_cert, certs.stranger_key)):
            async with channel(port, certs, client=client) as refused:
                with pytest.raises(grpc.aio.AioRpcError):
                    await health(refused)

    async def test_http_api_needs_a_client_certificate(self, start_trimwire: StartTrimwire, certs: Certs) -> None:
        """The HTTP API asks for the same client certificates: none, or a stranger's, is refused."""
        harness = await start_trimwire(**tls_settings(certs, mutual=True))
        url = f"https://127.0.0.1:{harness.server.api_port}/v1/compress"
        payload = {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}
        trusted = ssl.create_default_context(cafile=str(certs.ca))
        trusted.load_cert_chain(str(certs.client_cert), str(certs.client_key))
        async with httpx.AsyncClient(verify=trusted) as client:
            assert (await client.post(url, json=payload)).status_code == 200
        stranger = ssl.create_default_context(cafile=str(certs.ca))
        stranger.load_cert_chain(str(certs.stranger_cert), str(certs.stranger_key))
        for context in (ssl.create_default_context(cafile=str(certs.ca)), stranger):
            async with httpx.AsyncClient(verify=context) as client:
                with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
                    await client.post(url, json=payload)


class TestTlsSettings:
    def test_half_a_pair_or_a_missing_file_is_refused(self, certs: Certs, tmp_path: Path) -> None:
        """A key without a certificate, a client CA without either, or an unreadable file stops start-up."""
        with pytest.raises(ConfigError, match="set together"):
            load_settings(env={}, tls_cert_file=str(certs.server_cert))
        with pytest.raises(ConfigError, match="needs tls_cert_file"):
            load_settings(env={}, tls_client_ca_file=str(certs.ca))
        with pytest.raises(ConfigError, match="cannot read"):
            load_settings(env={}, tls_cert_file=str(tmp_path / "missing.pem"), tls_key_file=str(certs.server_key))
