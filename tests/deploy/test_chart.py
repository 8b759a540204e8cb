"""The Helm chart rendered offline for each values variant: lint, what each variant renders, the
config file the server reads, probes, termination, GPU placement, model volumes, the helm test
hook, and values the schema or the templates must refuse.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from extproc.config import KompressSettings, Settings, load_settings

from .chart import CHART_DIR, NAMESPACE, RELEASE, VARIANTS, variant_values

ALWAYS = {"ConfigMap", "Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler",
          "PodDisruptionBudget", "NetworkPolicy", "Pod"}
EXTRA_KINDS = {
    "default": set(), "gpu": set(), "model-pvc": set(), "model-volume": set(), "model-image": set(),
    "openshift": {"ServiceMonitor"},
    "istio": {"EnvoyFilter", "PodMonitor"},
    "envoy-gateway": {"EnvoyExtensionPolicy", "ClientTrafficPolicy", "ReferenceGrant"},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_lint_has_no_warnings(helm: Any, variant: str) -> None:
    """helm lint in strict mode against Kubernetes 1.27 reports nothing above info."""
    report = helm.lint(CHART_DIR, variant_values(variant), strict=True, namespace=NAMESPACE,
                       kube_version="v1.27.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_renders_its_kinds(render: Any, variant: str) -> None:
    """Each variant renders the core objects plus exactly its optional ones."""
    kinds = set(render(variant).kinds())
    assert kinds == ALWAYS | EXTRA_KINDS[variant]


def test_config_file_loads_as_the_server_settings(render: Any, tmp_path: Path) -> None:
    """The ConfigMap's trimwire.yaml loads with extproc's own loader into the chart's ports and values."""
    path = tmp_path / "trimwire.yaml"
    cm = next(cm for cm in render().all("ConfigMap") if "trimwire.yaml" in cm["data"])
    path.write_text(cm["data"]["trimwire.yaml"])
    settings = load_settings(path, env={})
    assert (settings.grpc_address, settings.metrics_address, settings.api_address) == \
        ("0.0.0.0:50051", "0.0.0.0:9090", "0.0.0.0:8080")
    assert settings.api_enabled and settings.workers == -1 and settings.mode == "cache"
    assert settings.request_deadline_ms == 2500 and settings.drain_grace_s == 15
    assert settings.kompress.device == "cpu" and not settings.kompress.model_dir and settings.extra == {}


def test_kompress_settings_reach_the_config_file(render: Any, tmp_path: Path) -> None:
    """kompress.config, the device and a mounted model directory land in the kompress: section."""
    path = tmp_path / "trimwire.yaml"
    rendered = render(overrides={"gpu": {"enabled": True}, "kompress": {
        "config": {"keep_ratio": 0.5, "required": True},
        "model": {"source": "pvc", "pvc": {"claimName": "kompress-model"}}}})
    cm = next(cm for cm in rendered.all("ConfigMap") if "trimwire.yaml" in cm["data"])
    path.write_text(cm["data"]["trimwire.yaml"])
    kompress = load_settings(path, env={}).kompress
    assert (kompress.device, kompress.keep_ratio, kompress.required) == ("cuda", 0.5, True)
    assert kompress.model_dir == "/var/lib/trimwire/model"


def test_schema_offers_every_kompress_setting(chart: Any) -> None:
    """kompress.config offers each KompressSettings field the chart does not set itself."""
    offered = set(chart.schema["properties"]["kompress"]["properties"]["config"]["properties"])
    assert offered == {f.name for f in fields(KompressSettings)} - {"device", "model_dir"}


def test_ports_and_probes(render: Any) -> None:
    """gRPC, metrics and API ports are named; liveness is HTTP /healthz, readiness native gRPC health."""
    rendered = render()
    server = rendered.server()
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {"grpc": 50051, "metrics": 9090, "api": 8080}
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert server["readinessProbe"]["grpc"] == {"port": 50051, "service": "envoy.service.ext_proc.v3.ExternalProcessor"}
    for service in rendered.all("Service"):
        grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        assert grpc["appProtocol"] == "grpc" and grpc["targetPort"] == "grpc"


def test_api_port_follows_api_enabled(render: Any) -> None:
    """With the compression API off, no API port is opened, exposed or admitted."""
    rendered = render(overrides={"config": {"api_enabled": False}})
    assert "api" not in {p["name"] for p in rendered.server()["ports"]}
    assert all("api" not in {p["name"] for p in s["spec"]["ports"]} for s in rendered.all("Service"))
    ports = {p["port"] for rule in rendered.one("NetworkPolicy")["spec"]["ingress"] for p in rule["ports"]}
    assert 8080 not in ports
    assert rendered.config_file()["api_enabled"] is False


@pytest.mark.parametrize("drain", [15, 40.5])
def test_termination_grace_exceeds_drain_grace(render: Any, drain: float) -> None:
    """terminationGracePeriodSeconds leaves room for the preStop sleep and the whole drain."""
    rendered = render(overrides={"config": {"drain_grace_s": drain}})
    pod = rendered.deployment_pod()
    sleep = int(rendered.server()["lifecycle"]["preStop"]["exec"]["command"][1])
    assert rendered.config_file()["drain_grace_s"] == drain
    assert pod["terminationGracePeriodSeconds"] > sleep + math.ceil(drain)


def test_config_change_rolls_the_pods(render: Any) -> None:
    """The pod template's config checksum changes with the config and only with it."""
    def checksum(overrides: dict[str, Any] | None) -> str:
        return render(overrides=overrides).one("Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(None) == checksum({"config": {"mode": "cache"}})
    assert checksum({"config": {"mode": "token"}}) != checksum(None)


def test_cpu_variant_has_no_gpu_settings(render: Any) -> None:
    """The default renders the CPU image, no GPU resource, no GPU placement, Kompress on CPU."""
    rendered = render()
    pod, server = rendered.deployment_pod(), rendered.server()
    assert server["image"] == "trimwire:0.1.0"
    assert "nvidia.com/gpu" not in server["resources"]["limits"]
    assert not {"runtimeClassName", "nodeSelector", "tolerations"} & pod.keys()
    assert rendered.config_file()["kompress"]["device"] == "cpu"


def test_gpu_variant(render: Any) -> None:
    """The GPU variant uses the GPU image, one nvidia.com/gpu, GPU nodes and Kompress on CUDA."""
    rendered = render("gpu")
    pod, server = rendered.deployment_pod(), rendered.server()
    assert server["image"] == "registry.example.com/trimwire-gpu:0.1.0"
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert rendered.config_file()["kompress"]["device"] == "cuda"
    # The test hook checks gRPC health only: it must not hold a GPU.
    hook = rendered.one("Pod")["spec"]
    assert "runtimeClassName" not in hook and "resources" not in hook["containers"][0]


def _model_volume(pod: dict[str, Any]) -> dict[str, Any] | None:
    return next((v for v in pod["volumes"] if v["name"] == "model"), None)


def test_embedded_model_mounts_nothing(render: Any) -> None:
    """By default no model volume is mounted and the config names no model_dir."""
    rendered = render()
    assert _model_volume(rendered.deployment_pod()) is None
    assert "model_dir" not in rendered.config_file()["kompress"]


@pytest.mark.parametrize("variant, source", [
    ("model-pvc", {"persistentVolumeClaim": {"claimName": "kompress-model", "readOnly": True}}),
    ("model-volume", {"csi": {"driver": "nfs.csi.k8s.io", "readOnly": True,
                              "volumeAttributes": {"server": "nfs.example.com", "share": "/exports/kompress"}}}),
    ("model-image", {"emptyDir": {"sizeLimit": "2Gi"}}),
])
def test_model_volume_sources(render: Any, variant: str, source: dict[str, Any]) -> None:
    """Each model source mounts its volume read-only at kompress.model_dir."""
    rendered = render(variant)
    pod = rendered.deployment_pod()
    assert _model_volume(pod) == {"name": "model", **source}
    mount = next(m for m in rendered.server()["volumeMounts"] if m["name"] == "model")
    assert mount == {"name": "model", "mountPath": "/var/lib/trimwire/model", "readOnly": True}
    assert rendered.config_file()["kompress"]["model_dir"] == "/var/lib/trimwire/model"


def test_model_image_is_copied_by_an_init_container(render: Any) -> None:
    """Air-gapped: an init container copies the model image's files into the model emptyDir."""
    [init] = render("model-image").deployment_pod()["initContainers"]
    assert init["image"] == "registry.example.com/kompress-model:v2-int8"
    assert init["command"] == ["cp", "-R", "/model/.", "/var/lib/trimwire/model/"]
    assert init["volumeMounts"] == [{"name": "model", "mountPath": "/var/lib/trimwire/model"}]


def test_writable_paths_are_emptydirs(render: Any) -> None:
    """The root filesystem is read-only, so /tmp and the cache dir are emptyDirs and the config read-only."""
    rendered = render()
    volumes = {v["name"]: v for v in rendered.deployment_pod()["volumes"]}
    mounts = {m["mountPath"]: m for m in rendered.server()["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert "emptyDir" in volumes[mounts["/var/cache/trimwire"]["name"]]
    assert mounts["/etc/trimwire"]["readOnly"] is True
    assert {e["name"]: e["value"] for e in rendered.server()["env"]}["TRIMWIRE_CONFIG"] == "/etc/trimwire/trimwire.yaml"


def test_topology_spread_selects_the_pods(render: Any) -> None:
    """Zone and host spread constraints select this release's pods."""
    rendered = render()
    pod = rendered.deployment_pod()
    selector = rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert all(c["labelSelector"]["matchLabels"] == selector for c in pod["topologySpreadConstraints"])


def test_network_policy_admits_only_gateway_and_monitoring(render: Any) -> None:
    """gRPC and API only from the gateway pods (and the test hook), metrics only from monitoring."""
    rendered = render("envoy-gateway")
    grpc_rule, metrics_rule = rendered.one("NetworkPolicy")["spec"]["ingress"]
    assert {p["port"] for p in grpc_rule["ports"]} == {50051, 8080}
    gateway, hook = grpc_rule["from"]
    assert gateway == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}},
                       "podSelector": {"matchLabels": {"gateway.envoyproxy.io/owning-gateway-name": "eg",
                                                       "gateway.envoyproxy.io/owning-gateway-namespace": "default"}}}
    assert hook == {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE,
                                                    "app.kubernetes.io/component": "helm-test"}}}
    assert rendered.one("Pod")["metadata"]["labels"]["app.kubernetes.io/component"] == "helm-test"
    assert [p["port"] for p in metrics_rule["ports"]] == [9090]
    assert metrics_rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


def test_autoscaling(render: Any) -> None:
    """The HPA scales on CPU, adds the in-flight streams metric when asked, and owns the replica count."""
    default, eg = render().one("HorizontalPodAutoscaler")["spec"], render("envoy-gateway").one("HorizontalPodAutoscaler")["spec"]
    assert [m["resource"]["name"] for m in default["metrics"]] == ["cpu"]
    assert eg["metrics"][1]["pods"]["metric"]["name"] == "trimwire_inflight_streams"
    assert "replicas" not in render().one("Deployment")["spec"]
    fixed = render(overrides={"autoscaling": {"enabled": False}, "replicaCount": 0})
    assert "HorizontalPodAutoscaler" not in fixed.kinds()
    assert fixed.one("Deployment")["spec"]["replicas"] == 0


def test_helm_test_hook_checks_grpc_health_through_the_service(render: Any) -> None:
    """The test hook is a helm test Pod running files/smoke_test.py against the Service's ports."""
    rendered = render()
    pod = rendered.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    [container] = pod["spec"]["containers"]
    assert container["image"] == rendered.server()["image"]
    assert container["command"][:2] == ["python", "-c"]
    assert container["command"][2] == (CHART_DIR / "files" / "smoke_test.py").read_text()
    assert container["command"][3:] == [f"{RELEASE}.{NAMESPACE}.svc:50051",
                                        f"http://{RELEASE}.{NAMESPACE}.svc:8080/v1/compress"]
    assert pod["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("values, names", [
    ({"config": {"mode": "fast"}}, "/config/mode"),
    ({"config": {"workers": -2}}, "/config/workers"),
    ({"config": {"grpc_address": "0.0.0.0:1"}}, "grpc_address"),
    ({"ports": {"grpc": "grpc"}}, "/ports/grpc"),
    ({"replicas": 3}, "replicas"),
    ({"kompress": {"model": {"source": "s3"}}}, "/kompress/model/source"),
    ({"extProc": {"bufferLimitBytes": 65536}}, "/extProc/bufferLimitBytes"),
    ({"podSecurity": {"runAsUser": 0}}, "/podSecurity/runAsUser"),
    ({"gpu": {"enabled": "yes"}}, "/gpu/enabled"),
])
def test_schema_rejects_bad_values(chart: Any, helm: Any, values: dict[str, Any], names: str) -> None:
    """values.schema.json refuses a bad value with a message naming it."""
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert names in str(caught.value)


def test_bad_values_file_fails_lint(helm: Any, tmp_path: Path) -> None:
    """A values file with a wrong type fails helm lint with a schema error."""
    bad = tmp_path / "bad-values.yaml"
    bad.write_text("config:\n  request_deadline_ms: soon\n")
    report = helm.lint(CHART_DIR, helm.values_from_yaml(bad.read_text()), strict=True)
    assert any("/config/request_deadline_ms" in error for error in report["errors"])


@pytest.mark.parametrize("values, message", [
    ({"config": {"request_deadline_ms": 5000}}, "must be below extProc.messageTimeoutMs"),
    ({"kompress": {"model": {"source": "pvc"}}}, "set kompress.model.pvc.claimName"),
    ({"kompress": {"model": {"source": "image", "image": {"repository": "m"}}}}, "kompress.model.image.tag"),
    ({"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}}, "not both"),
])
def test_templates_refuse_inconsistent_values(chart: Any, helm: Any, values: dict[str, Any], message: str) -> None:
    """Combinations the schema cannot express fail the render with a message saying what to fix."""
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(caught.value)


def test_a_default_selector_label_can_be_replaced(render: Any) -> None:
    """Setting a default label to null drops it, so an operator's own selector stands alone."""
    rendered = render("istio", {"istio": {"workloadSelector": {"istio": None,
                                                                "gateway.networking.k8s.io/gateway-name": "llm"}}})
    spec = rendered.one("EnvoyFilter")["spec"]
    assert spec["workloadSelector"]["labels"] == {"gateway.networking.k8s.io/gateway-name": "llm"}


# Settings the chart sets itself, and the TLS files it does not mount (the Kubernetes gRPC
# readiness probe speaks plaintext, so TLS on the gRPC port would keep pods unready).
CHART_OWNED = {"grpc_address", "metrics_address", "api_address", "extra", "kompress", "tracing"}
NOT_IN_CHART = {"tls_cert_file", "tls_key_file", "tls_client_ca_file"}


def test_schema_offers_exactly_the_server_settings(chart: Any) -> None:
    """values.schema.json's config keys are real settings, and every other setting is offered."""
    offered = set(chart.schema["properties"]["config"]["properties"])
    settings = {f.name for f in fields(Settings)}
    assert offered <= settings, f"not trimwire settings: {offered - settings}"
    assert settings - CHART_OWNED - NOT_IN_CHART <= offered, \
        f"add to values.schema.json config: {settings - CHART_OWNED - NOT_IN_CHART - offered}"
