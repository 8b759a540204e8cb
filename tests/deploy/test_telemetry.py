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
import time
time.sleep(1.0)  # onnxruntime's telemetry writes from a thread of its own: give it time before exit
"""


def _load_model(ort_setting: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_")}
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
    """The control: with telemetry explicitly on, the same load does complain (the check has teeth).
    The complaint comes from a thread of onnxruntime's, which a loaded machine may delay past the
    process's exit, so it gets three loads to say it once."""
    for _ in range(3):
        result = _load_model("0")
        assert result.returncode == 0, result.stderr
        if "telemetry" in result.stderr.lower():
            return
    pytest.fail(f"onnxruntime never mentioned telemetry with it on: {result.stderr[-500:]}")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_images_turn_telemetry_off(flavour: str) -> None:
    """Both Containerfiles set ORT_DISABLE_TELEMETRY=1 in the final image."""
    assert env_of(final_stage(flavour))["ORT_DISABLE_TELEMETRY"] == "1"


@pytest.mark.parametrize("variant", VARIANTS)
def test_chart_turns_telemetry_off(render: Any, variant: str) -> None:
    """The server container of every variant sets ORT_DISABLE_TELEMETRY=1."""
    env = {e["name"]: e.get("value") for e in render(variant).server()["env"]}
    assert env["ORT_DISABLE_TELEMETRY"] == "1"
