"""deploy/envoy's front proxy and snippet, and the filter the chart's Istio EnvoyFilter injects,
each run through ``envoy --mode validate`` as a full config, and each checked to carry the same
ext_proc settings as the tested local config (extproc/envoy_bootstrap.py).
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from extproc.envoy_bootstrap import DEFAULT_BUFFER_BYTES, SAVINGS_HEADERS, SIGNAL_HEADERS, EnvoyOptions, render
from extproc.envoy_bootstrap import render as render_local

from .chart import NAMESPACE, RELEASE, REPO_ROOT

ENVOY_DIR = REPO_ROOT / "deploy" / "envoy"
EXT_PROC = "envoy.filters.http.ext_proc"
ROUTER = "envoy.filters.http.router"
HEADER_MUTATION = "envoy.filters.http.header_mutation"
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def validate(envoy_binary: str, config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run([envoy_binary, "--mode", "validate", "-c", str(path), "--log-level", "error"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ENVOY_DIR / name).read_text())


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    [listener] = config["static_resources"]["listeners"]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def filter_named(filters: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(f for f in filters if f["name"] == name)


def shell_config(http_filters: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> dict[str, Any]:
    """A minimal bootstrap: one listener answering 200 itself, with the given filters and clusters."""
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}},
        "static_resources": {
            "listeners": [{
                "name": "gateway",
                "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                    "@type": HCM_TYPE, "stat_prefix": "gateway",
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                        {"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]},
                    "http_filters": http_filters}}]}],
            }],
            "clusters": clusters,
        },
    }


def grpc_cluster(name: str, host: str, port: int) -> dict[str, Any]:
    """An HTTP/2 cluster, as Istio generates for a Service port with appProtocol grpc."""
    return {
        "name": name, "type": "STRICT_DNS", "connect_timeout": "1s",
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}]},
    }


def router() -> dict[str, Any]:
    return {"name": ROUTER, "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def ext_authz() -> dict[str, Any]:
    """An auth filter already in the gateway chain, as ext_authz or Kuadrant put there."""
    return {"name": "envoy.filters.http.ext_authz", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "grpc_service": {"envoy_grpc": {"cluster_name": "ext-authz"}}, "transport_api_version": "V3"}}


def unwrapped(typed_config: dict[str, Any]) -> dict[str, Any]:
    """The ExternalProcessor config, also from inside the ExtensionWithMatcher that skips it on
    paths that are not LLM calls (the snippet, Istio)."""
    return typed_config.get("extension_config", {}).get("typed_config", typed_config)


def comparable(typed_config: dict[str, Any]) -> dict[str, Any]:
    """The filter's settings without the cluster name, durations as seconds."""
    settings = copy.deepcopy(unwrapped(typed_config))
    del settings["grpc_service"]["envoy_grpc"]["cluster_name"]
    settings["message_timeout"] = float(settings["message_timeout"].rstrip("s"))
    settings["grpc_service"]["timeout"] = float(settings["grpc_service"]["timeout"].rstrip("s"))
    return settings


def local_filter() -> dict[str, Any]:
    return filter_named(hcm(render(EnvoyOptions()))["http_filters"], EXT_PROC)["typed_config"]


def istio_config(envoy_filter: dict[str, Any]) -> dict[str, Any]:
    """A gateway config with the EnvoyFilter's patches applied the way Istio applies them."""
    patches = {p["applyTo"]: p["patch"] for p in envoy_filter["spec"]["configPatches"]}
    filters = [ext_authz(), router()]
    for patch in envoy_filter["spec"]["configPatches"]:  # each in turn, as Istio applies them
        if patch["applyTo"] == "HTTP_FILTER":
            assert patch["patch"]["operation"] == "INSERT_BEFORE"
            filters.insert(filters.index(filter_named(filters, ROUTER)), copy.deepcopy(patch["patch"]["value"]))
    http = {"value": filter_named(filters, EXT_PROC)}
    cluster_name = unwrapped(http["value"]["typed_config"])["grpc_service"]["envoy_grpc"]["cluster_name"]
    host = cluster_name.split("|")[3]
    trimwire = grpc_cluster(cluster_name, host, int(cluster_name.split("|")[1]))
    trimwire.update(patches["CLUSTER"]["value"])
    config = shell_config(filters, [trimwire, grpc_cluster("ext-authz", "ext-authz.auth.svc", 9000)])
    config["static_resources"]["listeners"][0].update(patches["LISTENER"]["value"])
    hcm(config)["route_config"].update(patches["ROUTE_CONFIGURATION"]["value"])
    return config


def test_front_proxy_validates(envoy_binary: str, tmp_path: Path) -> None:
    """deploy/envoy/front-proxy.yaml passes envoy --mode validate."""
    validate(envoy_binary, load("front-proxy.yaml"), tmp_path)


def test_front_proxy_routes_and_upstreams_are_the_local_ones() -> None:
    """The front proxy routes and reaches OpenAI and Anthropic (TLS, SNI, SAN) exactly like local.yaml."""
    front, local = load("front-proxy.yaml"), render(EnvoyOptions())
    assert hcm(front)["route_config"] == hcm(local)["route_config"]
    clusters = {c["name"]: c for c in front["static_resources"]["clusters"]}
    for upstream in local["static_resources"]["clusters"]:
        if upstream["name"] != "trimwire":
            assert clusters[upstream["name"]] == upstream
    # only the LLM routes buffer (and run ext_proc): the listener keeps Envoy's default
    assert "per_connection_buffer_limit_bytes" not in front["static_resources"]["listeners"][0]
    routes = hcm(front)["route_config"]["virtual_hosts"][0]["routes"]
    assert [r.get("request_body_buffer_limit") for r in routes] == [DEFAULT_BUFFER_BYTES] * 2 + [None] * 2
    assert [f["name"] for f in hcm(front)["http_filters"]] == [HEADER_MUTATION, EXT_PROC, ROUTER]


def test_snippet_in_a_full_config_validates(envoy_binary: str, tmp_path: Path) -> None:
    """The snippet's filter, cluster and listener setting, pasted after an auth filter, validate."""
    snippet = load("ext-proc-snippet.yaml")
    config = shell_config([ext_authz(), snippet["header_filter"], snippet["http_filter"], router()],
                          [snippet["cluster"], grpc_cluster("ext-authz", "ext-authz.auth.svc", 9000)])
    config["static_resources"]["listeners"][0].update(snippet["listener"])
    hcm(config)["route_config"].update(snippet["route_config"])
    validate(envoy_binary, config, tmp_path)


def test_envoy_filter_patches_in_a_full_config_validate(render: Any, envoy_binary: str, tmp_path: Path) -> None:
    """The chart's EnvoyFilter, applied to a gateway config, validates with ext_proc between auth and router."""
    config = istio_config(render("istio").one("EnvoyFilter"))
    names = [f["name"] for f in hcm(config)["http_filters"]]
    assert names == ["envoy.filters.http.ext_authz", HEADER_MUTATION, EXT_PROC, ROUTER]
    assert config["static_resources"]["clusters"][0]["name"] == f"outbound|50051||{RELEASE}.{NAMESPACE}.svc.cluster.local"
    validate(envoy_binary, config, tmp_path)


def test_validate_refuses_a_broken_injected_filter(render: Any, envoy_binary: str, tmp_path: Path) -> None:
    """Validate mode really checks the injected filter: an unknown body mode is refused."""
    config = istio_config(render("istio").one("EnvoyFilter"))
    unwrapped(filter_named(hcm(config)["http_filters"], EXT_PROC)["typed_config"])["processing_mode"][
        "request_body_mode"] = "WHOLE"
    with pytest.raises(AssertionError):
        validate(envoy_binary, config, tmp_path)


def _shipped_filters(render: Any) -> dict[str, dict[str, Any]]:
    return {
        "front-proxy": filter_named(hcm(load("front-proxy.yaml"))["http_filters"], EXT_PROC)["typed_config"],
        "snippet": load("ext-proc-snippet.yaml")["http_filter"]["typed_config"],
        "istio": next(p for p in render("istio").one("EnvoyFilter")["spec"]["configPatches"]
                      if p["applyTo"] == "HTTP_FILTER" and p["patch"]["value"]["name"] == EXT_PROC)[
                          "patch"]["value"]["typed_config"],
    }


@pytest.mark.parametrize("where", ["front-proxy", "snippet", "istio"])
def test_filter_settings_match_the_local_config(render: Any, where: str) -> None:
    """Processing modes, failure_mode_allow and timeouts are the ones the Envoy tests run with."""
    assert comparable(_shipped_filters(render)[where]) == comparable(local_filter())


def test_trimwire_clusters_speak_http2_with_raised_buffers() -> None:
    """The front proxy's and the snippet's trimwire cluster use HTTP/2, the 50 MiB buffer and gRPC health checks."""
    front = next(c for c in load("front-proxy.yaml")["static_resources"]["clusters"] if c["name"] == "trimwire")
    snippet = load("ext-proc-snippet.yaml")
    for cluster in (front, snippet["cluster"]):
        options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in options["explicit_http_config"]
        assert cluster["per_connection_buffer_limit_bytes"] == DEFAULT_BUFFER_BYTES
        assert cluster["health_checks"][0]["grpc_health_check"] == {"service_name": "envoy.service.ext_proc.v3.ExternalProcessor"}
    assert snippet["listener"] == {"per_connection_buffer_limit_bytes": DEFAULT_BUFFER_BYTES}


def test_every_shipped_config_removes_forged_trimwire_headers(render: Any) -> None:
    """local, front proxy, snippet and Istio: the savings headers go before ext_proc (a
    header-mutation filter right before it), the headers trimwire reads as the router sends the
    request upstream; Envoy Gateway removes the savings headers before routing."""
    removed_early = [{"remove": name} for name in SAVINGS_HEADERS]
    snippet = load("ext-proc-snippet.yaml")
    chains = {"local": hcm(render_local(EnvoyOptions())), "front-proxy": hcm(load("front-proxy.yaml")),
              "istio": hcm(istio_config(render("istio").one("EnvoyFilter"))),
              "snippet": {"http_filters": [snippet["header_filter"], snippet["http_filter"]],
                          "route_config": snippet["route_config"]}}
    for where, chain in chains.items():
        names = [f["name"] for f in chain["http_filters"]]
        assert names.index(HEADER_MUTATION) == names.index(EXT_PROC) - 1, where
        early = filter_named(chain["http_filters"], HEADER_MUTATION)["typed_config"]["mutations"]
        assert early["request_mutations"] == removed_early, where
        assert chain["route_config"]["request_headers_to_remove"] == list(SIGNAL_HEADERS), where
    traffic = render("envoy-gateway").one("ClientTrafficPolicy")
    assert traffic["spec"]["headers"]["earlyRequestHeaders"]["remove"] == list(SAVINGS_HEADERS)
