"""The agent CLIs, installed on first use with npm into a cache outside the repository.

``TRIMWIRE_AGENTS_CACHE`` moves the cache (default ``~/.cache/trimwire-agents``). The versions are
pinned so a run is repeatable; each package ships its native binary as an optional dependency.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["CLAUDE_CODE", "CODEX", "agent_cli", "agent_env"]

CLAUDE_CODE = ("claude", "@anthropic-ai/claude-code@2.1.197")
CODEX = ("codex", "@openai/codex@0.171.0")
INSTALL_TIMEOUT_S = 900


def _cache() -> Path:
    return Path(os.environ.get("TRIMWIRE_AGENTS_CACHE", "~/.cache/trimwire-agents")).expanduser()


def agent_cli(cli: tuple[str, str]) -> str:
    """The path of the CLI's executable, installed first when the cache lacks that version."""
    name, package = cli
    cache = _cache()
    binary = cache / "node_modules" / ".bin" / name
    version = package.rsplit("@", 1)[1]
    manifest = cache / "node_modules" / package.rsplit("@", 1)[0] / "package.json"
    if binary.exists() and manifest.exists() and f'"version": "{version}"' in manifest.read_text():
        return str(binary)
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed, so {package} cannot be installed")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", package],
                          capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    if done.returncode != 0 or not binary.exists():
        pytest.fail(f"npm install {package} failed: {done.stderr.strip()[-500:]}")
    return str(binary)


def agent_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for an agent: its own home, loopback only, no telemetry or updates."""
    venv_bin = str(Path(os.sys.executable).parent)
    env = {
        "HOME": str(home), "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        "TERM": "dumb", "NO_COLOR": "1", "CI": "1",
        "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_NON_ESSENTIAL_MODEL_CALLS": "1",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    }
    env.update(extra)
    return env
