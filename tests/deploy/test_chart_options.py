"""What an operator sets beyond the defaults: long release names, OpenShift detected from the
cluster, the escape hatches (extra env, volumes, security-context overrides, pod labels and
annotations, redis_url from a Secret), tracing, restricted egress, and Envoy Gateway's limit on
the message timeout.
"""

from __future__ import annotations

from typing import Any

import pytest

from .chart import NAMESPACE, RELEASE, VARIANTS, containers, pod_specs

# The longest release name Helm accepts, with and without the chart's name in it (which decides
# whether the fullname is the release name alone or "<release>-trimwire").
LONG_NAMES = ("a" * 53, "llm-gateway-trimwire-" + "x" * 32)
ALL_ON = {"metrics": {"serviceMonitor": {"enabled": True}}, "grafanaDashboard": {"enabled": True},
          "istio": {"enabled": True}, "envoyGateway": {"enabled": True, "namespace": "gw"}}


def _label_values(doc: dict[str, Any]) -> list[str]:
    found = [str(v) for v in doc["metadata"].get("labels", {}).values()]
    template = doc.get("spec", {}).get("template", {})
    return found + [str(v) for v in template.get("metadata", {}).get("labels", {}).values()]


@pytest.mark.parametrize("name", LONG_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_long_release_names_stay_within_63_characters(render_as: Any, variant: str, name: str) -> None:
    """Every object's name and label value, in every example values file (each optional object on too),
    is at most 63 characters, and names stay unique."""
    rendered = render_as(variant, ALL_ON if variant == "default" else None, name=name)
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in rendered.docs]
    too_long = [(kind, n, len(n)) for kind, n in names if len(n) > 63]
    assert too_long == []
    assert len(set(names)) == len(names)
    assert all(len(value) <= 63 for doc in rendered.docs for value in _label_values(doc))


def test_short_names_are_unchanged(render: Any) -> None:
    """Cutting long names leaves the usual ones as they were."""
    names = {doc["metadata"]["name"] for doc in render().docs}
    assert names >= {RELEASE, f"{RELEASE}-headless", f"{RELEASE}-smoke-test"}


@pytest.mark.parametrize("api_versions, explicit, expect_fixed_ids", [
    ((), None, True),                                        # plain Kubernetes: detected as not OpenShift
    (("security.openshift.io/v1",), None, False),            # the SCC API is served: OpenShift
    (("security.openshift.io/v1",), False, True),            # set explicitly: the detection is overridden
    ((), True, False),
])
def test_openshift_is_detected_unless_set(render_as: Any, api_versions: tuple[str, ...],
                                          explicit: bool | None, expect_fixed_ids: bool) -> None:
    """Fixed UID/GID/fsGroup only off OpenShift, read from the cluster's API unless openshift.enabled is set."""
    overrides = None if explicit is None else {"openshift": {"enabled": explicit}}
    rendered = render_as(overrides=overrides, api_versions=api_versions)
    for where, pod in pod_specs(rendered):
        assert ("runAsUser" in pod["securityContext"]) is expect_fixed_ids, where


def test_extra_env_volumes_and_pod_metadata(render: Any) -> None:
    """extraEnv, extraEnvFrom, extraVolumes and extraVolumeMounts, pod labels and annotations reach the pod."""
    rendered = render(overrides={
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
                     {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}],
        "extraEnvFrom": [{"configMapRef": {"name": "site-env"}}],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
        "podLabels": {"team": "llm"}, "podAnnotations": {"sidecar.istio.io/inject": "false"}})
    server, pod = rendered.server(), rendered.deployment_pod()
    env = {e["name"]: e for e in server["env"]}
    assert env["HTTPS_PROXY"]["value"] == "http://proxy:3128" and "valueFrom" in env["TOKEN"]
    assert {"TRIMWIRE_CONFIG", "ORT_DISABLE_TELEMETRY"} <= env.keys()  # the chart's own stay
    assert server["envFrom"] == [{"configMapRef": {"name": "site-env"}}]
    assert {"name": "ca", "configMap": {"name": "corp-ca"}} in pod["volumes"]
    assert {"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True} in server["volumeMounts"]
    template = rendered.one("Deployment")["spec"]["template"]["metadata"]
    assert template["labels"]["team"] == "llm"
    assert template["annotations"]["sidecar.istio.io/inject"] == "false"


def test_security_context_overrides(render: Any) -> None:
    """podSecurityContext and securityContext replace the chart's keys one by one; null drops one."""
    rendered = render(overrides={"podSecurityContext": {"supplementalGroups": [5000], "fsGroup": 2000},
                                 "securityContext": {"seLinuxOptions": {"level": "s0:c1"},
                                                     "readOnlyRootFilesystem": None}})
    for where, pod in pod_specs(rendered):
        assert pod["securityContext"]["supplementalGroups"] == [5000], where
        assert pod["securityContext"]["fsGroup"] == 2000 and pod["securityContext"]["runAsUser"] == 10001, where
        for container in containers(pod):
            ctx = container["securityContext"]
            assert ctx["seLinuxOptions"] == {"level": "s0:c1"} and "readOnlyRootFilesystem" not in ctx, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where


def test_redis_url_from_an_existing_secret(render: Any) -> None:
    """The Secret's key becomes TRIMWIRE_REDIS_URL (which wins over the file); the ConfigMap holds no URL."""
    rendered = render(overrides={"redis": {"existingSecret": "trimwire-redis", "secretKey": "url"}})
    env = {e["name"]: e for e in rendered.server()["env"]}
    assert env["TRIMWIRE_REDIS_URL"]["valueFrom"] == {"secretKeyRef": {"name": "trimwire-redis", "key": "url"}}
    assert "redis_url" not in rendered.config_file()
    assert "TRIMWIRE_REDIS_URL" not in {e["name"] for e in render().server()["env"]}


def test_tracing_from_values(render: Any) -> None:
    """tracing.enabled turns the setting on and passes the standard OTEL_* variables; off, neither."""
    rendered = render(overrides={"tracing": {"enabled": True, "endpoint": "http://otel.observability:4318",
                                             "samplerArg": 0.25}})
    env = {e["name"]: e.get("value") for e in rendered.server()["env"]}
    assert rendered.config_file()["tracing"] is True
    assert {k: v for k, v in env.items() if k.startswith("OTEL_")} == {
        "OTEL_SERVICE_NAME": "trimwire", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.observability:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    default = render()
    assert default.config_file()["tracing"] is False
    assert not any(e["name"].startswith("OTEL_") for e in default.server()["env"])


def test_egress_is_open_unless_restricted(render: Any) -> None:
    """By default the NetworkPolicy restricts ingress only."""
    assert render().one("NetworkPolicy")["spec"]["policyTypes"] == ["Ingress"]


def test_restricted_egress_allows_dns_redis_and_the_collector_only(render: Any) -> None:
    """Air-gapped: DNS to kube-dns, Redis and the OTLP collector, each only on its port; nothing else."""
    redis_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}
    otlp_peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}
    egress = {"restricted": True, "redis": {"to": [redis_peer], "port": 6379}, "otlp": {"to": [otlp_peer], "port": 4318}}
    spec = render(overrides={"networkPolicy": {"egress": egress}, "tracing": {"enabled": True}}).one("NetworkPolicy")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    rules = [(rule["to"], sorted((p["port"], p["protocol"]) for p in rule["ports"])) for rule in spec["egress"]]
    assert rules == [
        ([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], [(53, "TCP"), (53, "UDP")]),
        ([redis_peer], [(6379, "TCP")]),
        ([otlp_peer], [(4318, "TCP")]),
    ]
    untraced = render(overrides={"networkPolicy": {"egress": egress}}).one("NetworkPolicy")["spec"]["egress"]
    assert len(untraced) == 2  # no collector rule without tracing


def test_the_smoke_test_pod_is_not_selected_by_the_services(render: Any) -> None:
    """The helm test Pod must not become an endpoint of the Services it tests, nor fall under the NetworkPolicy."""
    rendered = render()
    labels = rendered.one("Pod")["metadata"]["labels"]
    for selector in [s["spec"]["selector"] for s in rendered.all("Service")] + \
            [rendered.one("NetworkPolicy")["spec"]["podSelector"]["matchLabels"]]:
        assert not selector.items() <= labels.items()


@pytest.mark.parametrize("timeout_ms, ok", [(99999, True), (100000, False)])
def test_message_timeout_fits_envoy_gateways_duration_pattern(chart: Any, helm: Any, render: Any,
                                                              timeout_ms: int, ok: bool) -> None:
    """Envoy Gateway's messageTimeout pattern allows five digits of ms: the schema stops at 99999."""
    values = {"extProc": {"messageTimeoutMs": timeout_ms}, "envoyGateway": {"enabled": True}}
    if ok:
        policy = render(overrides=values).one("EnvoyExtensionPolicy")
        assert policy["spec"]["extProc"][0]["messageTimeout"] == f"{timeout_ms}ms"
    else:
        with pytest.raises(helm.HelmValuesError) as caught:
            chart.render(values, name=RELEASE, namespace=NAMESPACE)
        assert "/extProc/messageTimeoutMs" in str(caught.value)
