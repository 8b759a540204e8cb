"""The Envoy configs trimwire ships and uses: the committed deploy/envoy/local.yaml stays what
``trimwire envoy-config`` prints, and every rendered variant passes ``envoy --mode validate``.

Regenerate the committed file with ``python -m extproc envoy-config > deploy/envoy/local.yaml``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from extproc.envoy_bootstrap import EnvoyOptions, render_yaml

from .stack import REPO_ROOT, loopback_envoy_options

pytestmark = pytest.mark.envoy

LOCAL_YAML = REPO_ROOT / "deploy" / "envoy" / "local.yaml"
REGENERATE = "python -m extproc envoy-config > deploy/envoy/local.yaml"


def validate(envoy_binary: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([envoy_binary, "--mode", "validate", "-c", str(config), "--log-level", "error"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_committed_local_config_is_current() -> None:
    """deploy/envoy/local.yaml equals render_yaml(EnvoyOptions()), so it is never stale."""
    assert LOCAL_YAML.read_text() == render_yaml(EnvoyOptions()), f"stale: run `{REGENERATE}`"


def test_cli_prints_committed_config() -> None:
    """``trimwire envoy-config`` prints exactly the committed file."""
    out = subprocess.run([sys.executable, "-m", "extproc", "envoy-config"], cwd=REPO_ROOT, check=True,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL).stdout
    assert out == LOCAL_YAML.read_text()


def test_committed_local_config_validates(envoy_binary: str) -> None:
    """Envoy accepts the committed local config in validate mode."""
    result = validate(envoy_binary, LOCAL_YAML)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("body_mode", ["BUFFERED", "FULL_DUPLEX_STREAMED"])
def test_test_configs_validate(envoy_binary: str, tmp_path: Path, body_mode: str) -> None:
    """The configs these tests run Envoy with, buffered and full duplex, pass validate mode."""
    opts = loopback_envoy_options(50051, "http://127.0.0.1:18083", body_mode=body_mode)
    config = tmp_path / "envoy.yaml"
    config.write_text(render_yaml(opts))
    result = validate(envoy_binary, config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_rejects_a_broken_config(envoy_binary: str, tmp_path: Path) -> None:
    """Validate mode really checks: a config with an unknown body mode is refused."""
    config = tmp_path / "envoy.yaml"
    config.write_text(render_yaml(EnvoyOptions(body_mode="NOT_A_MODE")))
    assert validate(envoy_binary, config).returncode != 0
