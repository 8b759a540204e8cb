from __future__ import annotations

from pathlib import Path

import pytest

from extproc.compressors.kompress import Kompress, load_kompress
from extproc.config import KompressSettings
from tests.shelf import SHELF

from .models import write_model_dir

PROSE = (
    "The deployment finished after the operator restarted the controller, and the new replicas "
    "came up on the second node without any further intervention from the team.\n"
    "Basically the rollout was really just waiting on the image pull, which took a very long time "
    "because the registry mirror was slow during the whole afternoon window.\n"
)
# Scores the tiny model gives: content words high, fillers low; unlisted tokens get 0.5.
SCORES = {
    "deployment": 0.95, "operator": 0.9, "restarted": 0.9, "controller": 0.92, "replicas": 0.9,
    "node": 0.85, "rollout": 0.9, "image": 0.88, "pull": 0.87, "registry": 0.9, "mirror": 0.86,
    "slow": 0.8, "afternoon": 0.6, "the": 0.02, "a": 0.02, "basically": 0.01, "really": 0.01,
    "just": 0.01, "very": 0.01, "which": 0.05, "was": 0.05, "of": 0.03, "on": 0.04, "up": 0.1,
}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model_dir(tmp_path / "model", SCORES, PROSE.lower().replace(",", " ").replace(".", " ").split())


@pytest.fixture
def kompress(model_dir: Path) -> Kompress:
    compressor, status = load_kompress(KompressSettings(model_dir=str(model_dir), device="cpu",
                                                        keep_ratio=0.5, min_chars=100), threads=1, shelf=SHELF)
    assert status.available, status
    return compressor


@pytest.fixture(scope="module")
def embedded() -> Kompress:
    """The embedded model shipped in the package, on CPU (from the test process's shelf)."""
    compressor, status = load_kompress(KompressSettings(device="cpu"), threads=1, shelf=SHELF)
    assert status.available, status
    return compressor
