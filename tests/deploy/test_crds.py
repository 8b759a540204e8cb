"""The custom resources the chart renders (Istio EnvoyFilter, Envoy Gateway EnvoyExtensionPolicy
and ClientTrafficPolicy, Gateway API ReferenceGrant, prometheus-operator ServiceMonitor and
PodMonitor) validated against vendored schemas of their CRDs (tests/deploy/crds/, written by
scripts/vendor_crd_schemas.py from the pinned @kubernetes-models npm packages): field names,
types, enums and required fields, with unknown fields refused as the API server's strict field
validation refuses them. The same packages' compiled validators (crds/validate.mjs, run by node
after `npm ci` of crds/package-lock.json into a cache) add the CRDs' string patterns and bounds.
CEL rules (x-kubernetes-validations) are checked by neither: the packages do not carry them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
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
    assert kinds >= CRD_KINDS


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


@pytest.fixture(scope="session")
def crd_validators() -> Path:
    """node_modules for crds/validate.mjs, installed once per lock file in a cache directory."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for the CRDs' patterns and bounds (crds/validate.mjs)")
    lock = (CRD_DIR / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trimwire-tests" / \
        f"crd-validators-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (cache / "node_modules" / "@kubernetes-models").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(CRD_DIR / name, cache)
        done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=optional"],
                              cwd=cache, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"npm ci of tests/deploy/crds failed: {done.stderr.strip()[-300:]}")
    shutil.copy(CRD_DIR / "validate.mjs", cache)
    return cache


def node_errors(cache: Path, docs: list[dict[str, Any]]) -> list[list[str]]:
    done = subprocess.run(["node", "validate.mjs"], cwd=cache, input=json.dumps(docs), capture_output=True,
                          text=True, timeout=120, check=True)
    return [entry["errors"] for entry in json.loads(done.stdout)]


def test_custom_resources_meet_the_crds_patterns_and_bounds(render: Any, crd_validators: Path) -> None:
    """Every custom resource of every variant passes the CRDs' compiled validators."""
    docs = [doc for variant in VARIANTS for doc in render(variant).docs if doc["kind"] in CRD_KINDS]
    found = node_errors(crd_validators, docs)
    assert [(d["kind"], e) for d, e in zip(docs, found) if e] == []


def test_envoy_gateway_refuses_a_six_digit_message_timeout(render: Any, crd_validators: Path) -> None:
    """The pattern behind values.schema.json's 99999 ms cap: Envoy Gateway refuses "100000ms"."""
    policy = render("envoy-gateway", {"extProc": {"messageTimeoutMs": 99999}}).one("EnvoyExtensionPolicy")
    bad = copy.deepcopy(policy)
    bad["spec"]["extProc"][0]["messageTimeout"] = "100000ms"
    good, refused = node_errors(crd_validators, [policy, bad])
    assert good == [] and any("messageTimeout must match pattern" in e for e in refused)
