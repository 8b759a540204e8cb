"""The custom resources the chart renders (Istio EnvoyFilter, Envoy Gateway EnvoyExtensionPolicy
and ClientTrafficPolicy, Gateway API ReferenceGrant, prometheus-operator ServiceMonitor and
PodMonitor) validated against vendored schemas of their CRDs (tests/deploy/crds/, written by
scripts/vendor_crd_schemas.py from the pinned @kubernetes-models npm packages): field names,
types, enums and required fields, with unknown fields refused as the API server's strict field
validation refuses them. Patterns, bounds and CEL rules are not in these schemas.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from .chart import CRD_KINDS, VARIANTS

CRD_DIR = Path(__file__).parent / "crds"


@cache
def validator(kind: str) -> Draft7Validator:
    return Draft7Validator(json.loads((CRD_DIR / f"{kind}.schema.json").read_text()))


def errors(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(doc["kind"]).iter_errors(doc)]


def test_a_schema_for_every_custom_kind() -> None:
    """Every kind no Kubernetes schema covers has a vendored CRD schema."""
    assert {p.name.removesuffix(".schema.json") for p in CRD_DIR.glob("*.schema.json")} == CRD_KINDS


@pytest.mark.parametrize("variant", VARIANTS)
def test_custom_resources_match_their_crds(render: Any, variant: str) -> None:
    """Each rendered custom resource validates against its CRD's schema."""
    for doc in render(variant).docs:
        if doc["kind"] in CRD_KINDS:
            assert errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_every_custom_kind_is_rendered_somewhere(render: Any) -> None:
    """The variants between them render every custom kind, so none goes unchecked."""
    kinds = {doc["kind"] for variant in VARIANTS for doc in render(variant).docs}
    assert CRD_KINDS <= kinds


def _misspell(doc: dict[str, Any], path: list[Any], wrong: str) -> dict[str, Any]:
    bad = copy.deepcopy(doc)
    parent = bad
    for key in path[:-1]:
        parent = parent[key]
    parent[wrong] = parent.pop(path[-1])
    return bad


@pytest.mark.parametrize("variant, kind, path, wrong", [
    ("istio", "EnvoyFilter", ["spec", "workloadSelector"], "workloadSelecter"),
    ("istio", "EnvoyFilter", ["spec", "configPatches", 0, "match", "context"], "contexts"),
    ("envoy-gateway", "EnvoyExtensionPolicy", ["spec", "extProc", 0, "failOpen"], "failopen"),
    ("envoy-gateway", "EnvoyExtensionPolicy", ["spec", "extProc", 0, "processingMode", "request", "body"], "bodyMode"),
    ("envoy-gateway", "ClientTrafficPolicy", ["spec", "connection", "bufferLimit"], "bufferLimits"),
    ("envoy-gateway", "ReferenceGrant", ["spec", "from"], "froms"),
    ("openshift", "ServiceMonitor", ["spec", "endpoints", 0, "interval"], "intervall"),
    ("istio", "PodMonitor", ["spec", "podMetricsEndpoints", 0, "path"], "paht"),
])
def test_a_misspelt_field_fails(render: Any, variant: str, kind: str, path: list[Any], wrong: str) -> None:
    """The check has teeth: one misspelt field, anywhere in the resource, is refused by name."""
    bad = _misspell(render(variant).one(kind), path, wrong)
    found = errors(bad)
    assert found and any(wrong in message for message in found), found


def test_a_wrong_enum_value_fails(render: Any) -> None:
    """Enums come from the CRD: a body mode Envoy Gateway does not know is refused."""
    bad = copy.deepcopy(render("envoy-gateway").one("EnvoyExtensionPolicy"))
    bad["spec"]["extProc"][0]["processingMode"]["request"]["body"] = "Buffer"
    assert errors(bad)


def test_the_patch_value_stays_free_form(render: Any) -> None:
    """An EnvoyFilter patch value is Envoy config (preserve-unknown-fields): any field is allowed there."""
    doc = copy.deepcopy(render("istio").one("EnvoyFilter"))
    doc["spec"]["configPatches"][0]["patch"]["value"]["any_envoy_field"] = {"x": 1}
    assert errors(doc) == []
