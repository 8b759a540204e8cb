"""Envoy bootstrap configs with trimwire as the ext_proc filter: one source for ``trimwire up``,
the tests and the committed ``deploy/envoy/local.yaml`` (a test keeps that file in step).

Anthropic paths (``.../v1/messages``) route to the Anthropic upstream, everything else to the
OpenAI upstream. An ``https://`` upstream gets TLS with SNI and a Host rewrite; ``http://`` is
plain (loopback tests).

Only the LLM routes (``LLM_PATH_REGEX``: the paths trimwire compresses) run the ext_proc filter
and buffer bodies up to ``buffer_limit_bytes``; every other path streams through untouched at
Envoy's default buffer (a 51 MiB ``/v1/embeddings`` upload once got a 413). Envoy itself removes
forged ``x-trimwire-*`` headers, so none reaches the provider, also while trimwire is down: the
savings headers trimwire sets (``SAVINGS_HEADERS``) by a header-mutation filter before ext_proc
(trimwire's own values are set after it), the ones it reads (``SIGNAL_HEADERS``: mode, bypass)
as the router sends the request upstream (after trimwire read them).
"""

from __future__ import annotations

import copy
import os
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = ["TrimwireTls", "EnvoyOptions", "render", "render_yaml", "Upstream", "find_ca_file",
           "LLM_PATH_REGEX", "TRIMWIRE_HEADERS", "SAVINGS_HEADERS", "SIGNAL_HEADERS", "header_filter"]

DEFAULT_BUFFER_BYTES = 50 * 1024 * 1024
# The paths trimwire compresses (formats.format_for_path: matched on the path's end, any query).
LLM_PATH_REGEX = r"^[^?]*/v1/(chat/completions|messages|responses)/?(\?.*)?$"
# The x-trimwire-* headers trimwire sets on the upstream request and the response, and the ones
# it reads from the client (and removes itself when it is up).
SAVINGS_HEADERS = tuple(f"x-trimwire-{name}" for name in (
    "outcome", "tokens-before", "tokens-after", "tokens-saved", "ratio", "ms"))
SIGNAL_HEADERS = ("x-trimwire-mode", "x-trimwire-bypass")
TRIMWIRE_HEADERS = SAVINGS_HEADERS + SIGNAL_HEADERS
_ANTHROPIC_PATH_REGEX = r"^[^?]*/v1/messages(/[^?]*)?(\?.*)?$"
_EXT_PROC_OFF = {"envoy.filters.http.ext_proc": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute", "disabled": True}}
_CA_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                  "/etc/ssl/cert.pem")


def find_ca_file() -> str:
    paths = [ssl.get_default_verify_paths().cafile, *_CA_CANDIDATES]
    return next((p for p in paths if p and os.path.exists(p)), _CA_CANDIDATES[0])


@dataclass(frozen=True)
class Upstream:
    name: str
    url: str

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "localhost"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (443 if self.tls else 80)

    @property
    def authority(self) -> str:
        default = 443 if self.tls else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class TrimwireTls:
    """How Envoy reaches a trimwire whose gRPC port speaks TLS (``tls_cert_file``): the CA that
    signed trimwire's certificate, the name in it, and for mutual TLS Envoy's own certificate."""

    ca_file: str
    server_name: str = "localhost"
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, kw_only=True)
class EnvoyOptions:
    """What varies between the local config, ``trimwire up`` and the tests."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 10000
    admin_port: int = 9901
    trimwire_host: str = "127.0.0.1"
    trimwire_port: int = 50051
    openai_upstream: str = "https://api.openai.com"
    anthropic_upstream: str = "https://api.anthropic.com"
    body_mode: str = "BUFFERED"          # or FULL_DUPLEX_STREAMED
    buffer_limit_bytes: int = DEFAULT_BUFFER_BYTES
    message_timeout_s: float = 5.0       # above trimwire's own deadline, so trimwire answers first
    failure_mode_allow: bool = True
    ca_file: str = "/etc/ssl/certs/ca-certificates.crt"
    trimwire_tls: TrimwireTls | None = None   # None: plaintext gRPC to trimwire (loopback, mesh)


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(upstream: Upstream, buffer_limit: int, ca_file: str) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": upstream.name,
        "type": "LOGICAL_DNS" if upstream.tls else "STRICT_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "10s",
        "per_connection_buffer_limit_bytes": buffer_limit,
        "load_assignment": {"cluster_name": upstream.name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _address(upstream.host, upstream.port)}}]}]},
    }
    if upstream.tls:
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": upstream.host,
            "common_tls_context": {"validation_context": {
                "trusted_ca": {"filename": ca_file},
                "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": upstream.host}}],
            }},
        }}
    return cluster


def _trimwire_tls_socket(tls: TrimwireTls) -> dict[str, Any]:
    context: dict[str, Any] = {
        "alpn_protocols": ["h2"],  # gRPC over TLS is HTTP/2, negotiated by ALPN
        "validation_context": {
            "trusted_ca": {"filename": tls.ca_file},
            "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": tls.server_name}}],
        },
    }
    if tls.cert_file and tls.key_file:
        context["tls_certificates"] = [{"certificate_chain": {"filename": tls.cert_file},
                                        "private_key": {"filename": tls.key_file}}]
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "sni": tls.server_name, "common_tls_context": context}}


def _ext_proc_filter(opts: EnvoyOptions) -> dict[str, Any]:
    full_duplex = opts.body_mode == "FULL_DUPLEX_STREAMED"
    return {"name": "envoy.filters.http.ext_proc", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
        "grpc_service": {"envoy_grpc": {"cluster_name": "trimwire"}, "timeout": "30s"},
        # trimwire down or broken: the request goes upstream unchanged instead of failing.
        "failure_mode_allow": opts.failure_mode_allow,
        "message_timeout": f"{opts.message_timeout_s}s",
        "processing_mode": {
            "request_header_mode": "SEND",
            "request_body_mode": opts.body_mode,
            "request_trailer_mode": "SEND" if full_duplex else "SKIP",
            "response_header_mode": "SEND",   # savings headers go back to the client
            "response_body_mode": "NONE",
            "response_trailer_mode": "SKIP",
        },
    }}


def header_filter() -> dict[str, Any]:
    """Removes forged savings headers before ext_proc runs (it runs first in the chain)."""
    return {"name": "envoy.filters.http.header_mutation", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        "mutations": {"request_mutations": [{"remove": name} for name in SAVINGS_HEADERS]}}}


def _routes(openai: Upstream, anthropic: Upstream, buffer_limit: int) -> list[dict[str, Any]]:
    """LLM paths first (ext_proc, raised buffer), then everything else (ext_proc off)."""
    def route(upstream: Upstream) -> dict[str, Any]:
        return {"cluster": upstream.name, "timeout": "0s", "host_rewrite_literal": upstream.authority}

    def llm(regex: str, upstream: Upstream) -> dict[str, Any]:
        return {"match": {"safe_regex": {"regex": regex}}, "route": route(upstream),
                "request_body_buffer_limit": buffer_limit}

    return [
        llm(LLM_PATH_REGEX.replace("chat/completions|messages|responses", "messages"), anthropic),
        llm(LLM_PATH_REGEX.replace("chat/completions|messages|responses", "chat/completions|responses"), openai),
        {"match": {"safe_regex": {"regex": _ANTHROPIC_PATH_REGEX}}, "route": route(anthropic),
         "typed_per_filter_config": copy.deepcopy(_EXT_PROC_OFF)},
        {"match": {"prefix": "/"}, "route": route(openai), "typed_per_filter_config": copy.deepcopy(_EXT_PROC_OFF)},
    ]


def render(opts: EnvoyOptions) -> dict[str, Any]:
    """The Envoy bootstrap as a dict."""
    openai = Upstream("openai", opts.openai_upstream)
    anthropic = Upstream("anthropic", opts.anthropic_upstream)
    hcm = {
        "@type": ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                  ".HttpConnectionManager"),
        "stat_prefix": "llm",
        "codec_type": "AUTO",
        "stream_idle_timeout": "600s",
        "route_config": {"name": "llm", "request_headers_to_remove": list(SIGNAL_HEADERS), "virtual_hosts": [
            {"name": "llm", "domains": ["*"], "routes": _routes(openai, anthropic, opts.buffer_limit_bytes)}]},
        "http_filters": [header_filter(), _ext_proc_filter(opts), {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    trimwire = {
        "name": "trimwire",
        "type": "STATIC",
        "connect_timeout": "1s",
        "per_connection_buffer_limit_bytes": opts.buffer_limit_bytes,
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "trimwire", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _address(opts.trimwire_host, opts.trimwire_port)}}]}]},
    }
    if opts.trimwire_tls is not None:
        trimwire["transport_socket"] = _trimwire_tls_socket(opts.trimwire_tls)
    return {
        "admin": {"address": _address("127.0.0.1", opts.admin_port)},
        "static_resources": {
            "listeners": [{
                "name": "llm",
                "address": _address(opts.listen_host, opts.listen_port),
                # No raised per-connection buffer: only the LLM routes buffer (their own limit).
                "filter_chains": [{"filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
            }],
            "clusters": [trimwire, _cluster(openai, opts.buffer_limit_bytes, opts.ca_file),
                         _cluster(anthropic, opts.buffer_limit_bytes, opts.ca_file)],
        },
    }


def render_yaml(opts: EnvoyOptions) -> str:
    header = ("# Generated by `trimwire envoy-config` from extproc/envoy_bootstrap.py; edit that, not this.\n"
              "# Envoy on 127.0.0.1:10000 with trimwire (127.0.0.1:50051) as ext_proc filter.\n")
    return header + yaml.safe_dump(render(opts), sort_keys=False, width=120)
