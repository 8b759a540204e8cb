"""The chart under test: where it is, the values variants it is rendered with, and small
look-ups over the rendered manifests. No tool is imported here; conftest.py loads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "REPO_ROOT", "CHART_DIR", "RELEASE", "NAMESPACE", "VARIANTS", "KUBE_VERSIONS", "CRD_KINDS",
    "Rendered", "variant_values", "pod_specs", "containers",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "trimwire"
RELEASE = "trimwire"
NAMESPACE = "llm"
# "default" is values.yaml alone; the others add ci/<name>-values.yaml on top.
VARIANTS = ("default", "gpu", "openshift", "istio", "envoy-gateway",
            "model-pvc", "model-volume", "model-image")
# The oldest Kubernetes the chart allows (Chart.yaml kubeVersion: the gRPC probe is GA in
# 1.27) and the newest kubernetes-validate bundles.
KUBE_VERSIONS = ("1.27.0", "1.37.0")
# Kinds no Kubernetes schema covers: checked against their CRDs' schemas instead (test_crds.py).
CRD_KINDS = {"EnvoyFilter", "EnvoyExtensionPolicy", "ClientTrafficPolicy", "ReferenceGrant",
             "ServiceMonitor", "PodMonitor"}


def variant_values(variant: str) -> dict[str, Any]:
    """The values a variant adds to values.yaml."""
    if variant == "default":
        return {}
    return yaml.safe_load((CHART_DIR / "ci" / f"{variant}-values.yaml").read_text())


@dataclass(frozen=True)
class Rendered:
    """One render of the chart: template path -> text, and the parsed documents."""

    files: dict[str, str]

    @cached_property
    def docs(self) -> list[dict[str, Any]]:
        """Parsed once; tests that change a document copy it first."""
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return [doc for path, text in sorted(self.files.items()) if path.endswith(".yaml")
                for doc in yaml.load_all(text, Loader=loader) if doc]

    def kinds(self) -> list[str]:
        return [doc["kind"] for doc in self.docs]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    def deployment_pod(self) -> dict[str, Any]:
        return self.one("Deployment")["spec"]["template"]["spec"]

    def server(self) -> dict[str, Any]:
        [container] = [c for c in self.deployment_pod()["containers"] if c["name"] == "trimwire"]
        return container

    def config_file(self) -> dict[str, Any]:
        [cm] = [cm for cm in self.all("ConfigMap") if "trimwire.yaml" in cm["data"]]
        return yaml.safe_load(cm["data"]["trimwire.yaml"])


def pod_specs(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec in a render: workload templates and bare Pods (the helm test hook)."""
    for doc in rendered.docs:
        if doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]
        elif doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]
