"""TLS and mutual TLS for the listeners that carry request content: the gRPC port (ExternalProcessor
and Compressor) and the HTTP compression API. Both read the same three files (``Settings.tls_*``)
once at start-up; the ops port (metrics, health) stays plaintext and carries no content.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from .config import Settings

__all__ = ["enabled", "grpc_credentials", "http_context"]


def enabled(settings: Settings) -> bool:
    return bool(settings.tls_cert_file)


def grpc_credentials(settings: Settings) -> grpc.ServerCredentials:
    """Server credentials; with a client CA, clients must present a certificate it signed."""
    ca = Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    pair = (Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes())
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def http_context(settings: Settings) -> ssl.SSLContext:
    """The HTTP API's server context: TLS 1.2 or later, the same certificate, key and client CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_client_ca_file:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(settings.tls_client_ca_file)
    return context
