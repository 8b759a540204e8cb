"""Telemetry off everywhere: onnxruntime's (a Microsoft host looked up, a device ID persisted)
in both images, the chart's server container and trimwire itself, whatever starts it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from .chart import REPO_ROOT, VARIANTS
from .test_containerfiles import FLAVOURS, env_of, final_stage

# Loads the Kompress model through trimwire's own loader (a real session and a smoke inference).
_LOAD = """
from extproc.compressors.kompress.model import load_model
from extproc.config import KompressSettings
model = load_model(KompressSettings(device="cpu"))
print("loaded", model.info.provider)
"""


_CI_VARIABLES = frozenset({"CI", "CONTINUOUS_INTEGRATION", "GITHUB_ACTIONS", "TF_BUILD", "BUILD_ID", "RUN_ID"})


def _load_model(ort_setting: str | None) -> subprocess.CompletedProcess[str]:
    # onnxruntime turns its telemetry off by itself where CI=true (as in CI's own run), which would
    # leave the control below nothing to see
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_") and k not in _CI_VARIABLES}
    # Nowhere to persist a device ID: onnxruntime's telemetry then says so on stderr.
    env.update(HOME="/proc/trimwire-nonexistent", XDG_CACHE_HOME="/proc/trimwire-nonexistent")
    if ort_setting is not None:
        env["ORT_DISABLE_TELEMETRY"] = ort_setting
    return subprocess.run([sys.executable, "-c", _LOAD], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_trimwire_turns_onnxruntime_telemetry_off() -> None:
    """Started with no ORT_DISABLE_TELEMETRY at all, a Kompress session reports no telemetry."""
    result = _load_model(None)
    assert result.returncode == 0 and "loaded" in result.stdout, result.stderr
    assert "telemetry" not in result.stderr.lower(), result.stderr


def test_telemetry_would_show_on_stderr() -> None:
    """The control: with telemetry explicitly on, the same load does complain (the check has teeth)."""
    result = _load_model("0")
    assert result.returncode == 0, result.stderr
    assert "telemetry" in result.stderr.lower()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_images_turn_telemetry_off(flavour: str) -> None:
    """Both Containerfiles set ORT_DISABLE_TELEMETRY=1 in the final image."""
    assert env_of(final_stage(flavour))["ORT_DISABLE_TELEMETRY"] == "1"


@pytest.mark.parametrize("variant", VARIANTS)
def test_chart_turns_telemetry_off(render: Any, variant: str) -> None:
    """The server container of every variant sets ORT_DISABLE_TELEMETRY=1."""
    env = {e["name"]: e.get("value") for e in render(variant).server()["env"]}
    assert env["ORT_DISABLE_TELEMETRY"] == "1"
