"""Every rendered manifest checked without a cluster: core kinds against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields fail) for the oldest and newest supported
versions, custom resources structurally, and the security context of every pod spec.
"""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest

from extproc.envoy_bootstrap import TRIMWIRE_HEADERS

from .chart import CRD_KINDS, KUBE_VERSIONS, NAMESPACE, RELEASE, VARIANTS, containers, pod_specs


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    import kubernetes_validate  # a pinned test dependency: missing, the tests fail, never skip

    return kubernetes_validate


# Most manifests are the same in every variant; each distinct one is validated once per version.
_VALID: set[tuple[str, str]] = set()


def _validate(kubernetes_validate: ModuleType, doc: dict[str, Any], version: str) -> None:
    key = (version, json.dumps(doc, sort_keys=True))
    if key not in _VALID:
        # It answers with the schema version it used: the one asked for, not a nearby one.
        used = kubernetes_validate.validate(doc, version, strict=True)
        assert used == version.rsplit(".", 1)[0], f"validated against {used}, not {version}"
        _VALID.add(key)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_core_manifests_match_kubernetes_schemas(render: Any, kubernetes_validate: ModuleType,
                                                 variant: str, version: str) -> None:
    """Each core manifest validates strictly; only the known custom resources lack a schema."""
    validated = []
    for doc in render(variant).docs:
        try:
            _validate(kubernetes_validate, doc, version)
        except kubernetes_validate.SchemaNotFoundError:
            assert doc["kind"] in CRD_KINDS, f"no schema for {doc['kind']}"
            continue
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}")
        validated.append(doc["kind"])
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "Pod"} <= set(validated)


def test_strict_validation_refuses_an_unknown_field(render: Any, kubernetes_validate: ModuleType) -> None:
    """The schema check has teeth: a misspelt container field fails strict validation."""
    deployment = copy.deepcopy(render().one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_pod_spec_is_restricted(render: Any, variant: str) -> None:
    """Deployment, init containers and the test hook: non-root, no privilege, read-only root, seccomp."""
    specs = list(pod_specs(render(variant)))
    assert {name.split("/")[0] for name, _ in specs} == {"Deployment", "Pod"}
    for name, pod in specs:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in containers(pod):
            ctx = container["securityContext"]
            where = f"{name} {container['name']}"
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where
            assert ctx["runAsNonRoot"] is True, where
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert "privileged" not in ctx and ctx.get("runAsUser", 1) != 0, where


@pytest.mark.parametrize("variant", VARIANTS)
def test_fixed_ids_only_outside_openshift(render: Any, variant: str) -> None:
    """OpenShift's restricted-v2 assigns the UID, so that variant sets none; the others run as 10001."""
    ids = {"runAsUser", "runAsGroup", "fsGroup"}
    for name, pod in pod_specs(render(variant)):
        if variant == "openshift":
            assert not ids & pod["securityContext"].keys(), name
            assert all(not ids & c["securityContext"].keys() for c in containers(pod)), name
        else:
            assert {k: pod["securityContext"][k] for k in ids} == \
                {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}, name


# The volume types the restricted Pod Security profile (and OpenShift's restricted-v2) admits.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_volume_is_admitted_by_the_restricted_profile(render: Any, variant: str) -> None:
    """No example mounts a volume type the restricted profile refuses (an nfs: volume, a hostPath)."""
    for name, pod in pod_specs(render(variant)):
        for volume in pod.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= RESTRICTED_VOLUMES, f"{name} volume {volume['name']}: {kinds - RESTRICTED_VOLUMES}"


def test_model_image_init_container_is_restricted(render: Any) -> None:
    """The init container that copies the model is held to the same rules (and is checked above)."""
    pod = render("model-image").deployment_pod()
    assert [c["name"] for c in pod["initContainers"]] == ["copy-model"]
    assert pod["initContainers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


# Custom resources: their CRD schemas are checked in test_crds.py; here, what the gateways rely on.

def test_envoy_filter(render: Any) -> None:
    """The EnvoyFilter targets the gateway workload, inserts ext_proc before the router and raises buffers."""
    envoy_filter = render("istio").one("EnvoyFilter")
    assert envoy_filter["apiVersion"] == "networking.istio.io/v1alpha3"
    assert envoy_filter["metadata"]["namespace"] == "istio-system"
    spec = envoy_filter["spec"]
    assert spec["workloadSelector"] == {"labels": {"istio": "ingressgateway"}}
    by_kind = {patch["applyTo"]: patch for patch in spec["configPatches"]}
    assert set(by_kind) == {"HTTP_FILTER", "LISTENER", "CLUSTER", "ROUTE_CONFIGURATION"}
    http = by_kind["HTTP_FILTER"]
    assert http["match"]["context"] == "GATEWAY"
    assert http["match"]["listener"]["filterChain"]["filter"] == {
        "name": "envoy.filters.network.http_connection_manager",
        "subFilter": {"name": "envoy.filters.http.router"}}
    assert http["patch"]["operation"] == "INSERT_BEFORE"
    host = f"{RELEASE}.{NAMESPACE}.svc.cluster.local"
    grpc = http["patch"]["value"]["typed_config"]["extension_config"]["typed_config"]["grpc_service"]["envoy_grpc"]
    assert grpc["cluster_name"] == f"outbound|50051||{host}"
    assert by_kind["CLUSTER"]["match"]["cluster"] == {"service": host, "portNumber": 50051}
    for kind in ("LISTENER", "CLUSTER"):
        assert by_kind[kind]["patch"] == {"operation": "MERGE", "value": {"per_connection_buffer_limit_bytes": 52428800}}
    assert by_kind["ROUTE_CONFIGURATION"]["patch"] == {"operation": "MERGE", "value": {
        "request_headers_to_remove": ["x-trimwire-mode", "x-trimwire-bypass"]}}


def test_envoy_filter_can_be_limited_to_one_listener_port(render: Any) -> None:
    """istio.portNumber narrows the filter and the buffer patch to that listener."""
    patches = render("istio", {"istio": {"portNumber": 8443}}).one("EnvoyFilter")["spec"]["configPatches"]
    ports = {p["applyTo"]: p["match"].get("listener", p["match"].get("routeConfiguration", {})).get("portNumber")
             for p in patches}
    assert ports == {"HTTP_FILTER": 8443, "LISTENER": 8443, "CLUSTER": None, "ROUTE_CONFIGURATION": 8443}


def test_envoy_gateway_policies(render: Any) -> None:
    """The EnvoyExtensionPolicy sends headers and the buffered body to trimwire, fails open, and the
    ClientTrafficPolicy and ReferenceGrant make that work across namespaces with big bodies."""
    rendered = render("envoy-gateway")
    policy = rendered.one("EnvoyExtensionPolicy")
    assert policy["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
    assert policy["metadata"]["namespace"] == "default"
    assert policy["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"}]
    [ext_proc] = policy["spec"]["extProc"]
    assert ext_proc["backendRefs"] == [{"group": "", "kind": "Service", "name": RELEASE, "namespace": NAMESPACE, "port": 50051}]
    assert ext_proc["failOpen"] is True and ext_proc["messageTimeout"] == "5000ms"
    assert ext_proc["processingMode"] == {"request": {"body": "Buffered"}, "response": {}}
    traffic = rendered.one("ClientTrafficPolicy")
    assert traffic["metadata"]["namespace"] == "default"
    assert traffic["spec"] == {"targetRefs": policy["spec"]["targetRefs"], "connection": {"bufferLimit": 52428800},
                               "headers": {"earlyRequestHeaders": {"remove": [
                                   name for name in TRIMWIRE_HEADERS if name not in ("x-trimwire-mode", "x-trimwire-bypass")]}}}
    grant = rendered.one("ReferenceGrant")
    assert grant["metadata"]["namespace"] == NAMESPACE
    assert grant["spec"] == {"from": [{"group": "gateway.envoyproxy.io", "kind": "EnvoyExtensionPolicy", "namespace": "default"}],
                             "to": [{"group": "", "kind": "Service", "name": RELEASE}]}


def test_envoy_gateway_routes_and_same_namespace(render: Any) -> None:
    """Listed routes become the policy's targets; in the release's own namespace no ReferenceGrant is needed."""
    rendered = render("envoy-gateway", {"envoyGateway": {"namespace": NAMESPACE, "routes": ["openai", "anthropic"]}})
    refs = rendered.one("EnvoyExtensionPolicy")["spec"]["targetRefs"]
    assert [(r["kind"], r["name"]) for r in refs] == [("HTTPRoute", "openai"), ("HTTPRoute", "anthropic")]
    assert rendered.one("ClientTrafficPolicy")["spec"]["targetRefs"][0]["name"] == "eg"
    assert "ReferenceGrant" not in rendered.kinds()


@pytest.mark.parametrize("variant, kind, endpoints", [
    ("openshift", "ServiceMonitor", "endpoints"),
    ("istio", "PodMonitor", "podMetricsEndpoints"),
])
def test_monitors_scrape_the_metrics_port(render: Any, variant: str, kind: str, endpoints: str) -> None:
    """ServiceMonitor and PodMonitor select this release and scrape /metrics on the metrics port."""
    rendered = render(variant)
    monitor = rendered.one(kind)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["selector"]["matchLabels"] == selector
    assert [(e["port"], e["path"]) for e in monitor["spec"][endpoints]] == [("metrics", "/metrics")]


def test_service_monitor_skips_the_headless_service(render: Any) -> None:
    """Both Services select the same pods: the ServiceMonitor matches only the ClusterIP one."""
    rendered = render("openshift")
    expression = rendered.one("ServiceMonitor")["spec"]["selector"]["matchExpressions"]
    assert expression == [{"key": "trimwire-headless", "operator": "DoesNotExist"}]
    labelled = {s["metadata"]["name"]: "trimwire-headless" in s["metadata"]["labels"] for s in rendered.all("Service")}
    assert labelled == {RELEASE: False, f"{RELEASE}-headless": True}
