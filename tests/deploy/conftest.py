"""Tools for the deploy tests, loaded once: the chart through helm-python-sdk (renders and
lints with Helm's Go SDK, no helm binary, no cluster) and the Envoy binary for validate mode.
A tool that cannot load skips the tests that need it, saying why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest

from extproc.local_stack import find_envoy

from .chart import CHART_DIR, NAMESPACE, RELEASE, Rendered, variant_values


@pytest.fixture(scope="session")
def helm() -> ModuleType:
    try:
        import helm_python
    except ImportError as exc:
        pytest.skip(f"helm-python-sdk is not installed: {exc}")
    try:
        helm_python.helm_sdk_version()  # loads libhelm_c
    except helm_python.HelmLibraryError as exc:
        pytest.skip(f"helm-python-sdk's native library does not load here: {exc}")
    return helm_python


@pytest.fixture(scope="session")
def chart(helm: ModuleType) -> Any:
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def render(chart: Any) -> Callable[..., Rendered]:
    """Render with a variant's values and optional overrides on top (Helm adds values.yaml)."""
    cache: dict[tuple[str, str], Rendered] = {}

    def _render(variant: str = "default", overrides: dict[str, Any] | None = None) -> Rendered:
        key = (variant, repr(overrides))
        if key not in cache:
            values = _merge(variant_values(variant), overrides or {})
            cache[key] = Rendered(chart.render(values, name=RELEASE, namespace=NAMESPACE))
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def render_as(chart: Any, helm: ModuleType) -> Callable[..., Rendered]:
    """Render as a given release, with the API versions a cluster would serve (.Capabilities).

    helm-python-sdk's Chart.render takes neither API versions nor passes them on, but the native
    call under it does (its ``api_versions`` option, as ``helm template --api-versions``).
    """
    from helm_python import _native
    from helm_python.chart import _dumps

    def _render(variant: str = "default", overrides: dict[str, Any] | None = None, *, name: str = RELEASE,
                api_versions: Iterable[str] = ()) -> Rendered:
        values = _merge(variant_values(variant), overrides or {})
        opts = {"name": name, "namespace": NAMESPACE, "api_versions": list(api_versions)}
        return Rendered(json.loads(_native.call_string("helm_render", chart._raw(), _dumps(values), json.dumps(opts))))

    return _render


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts merged key by key, as Helm merges several values files."""
    merged = dict(base)
    for key, value in top.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


@pytest.fixture(scope="session")
def envoy_binary() -> str:
    try:
        return find_envoy()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
