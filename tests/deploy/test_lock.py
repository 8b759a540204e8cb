"""The images' locks (deploy/container/*.lock, written by scripts/lock_images.py): every entry
pinned and hashed, consistent with pyproject.toml, and what both Containerfiles install from.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .chart import REPO_ROOT
from .test_containerfiles import CONTAINER_DIR, FLAVOURS, args_of, parse

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
SHARED = "requirements.lock"
ONNXRUNTIME = {"cpu": "onnxruntime", "gpu": "onnxruntime-gpu"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]


def read_lock(filename: str) -> dict[str, Pin]:
    """A pip requirements file of ``name==version \\ --hash=sha256:...`` entries, by canonical name."""
    pins: dict[str, Pin] = {}
    text = (CONTAINER_DIR / filename).read_text()
    for entry in re.split(r"\n(?=\S)", text.strip()):
        if entry.startswith("#"):
            continue
        head = entry.split("\\", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", head)
        assert match, f"{filename}: not an exact pin: {head!r}"
        name = canonicalize_name(match.group(1))
        pins[name] = Pin(name, match.group(2), tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", entry)))
    return pins


def wanted(extras: tuple[str, ...]) -> list[Requirement]:
    reqs = [*PYPROJECT["dependencies"], *(r for extra in extras for r in PYPROJECT["optional-dependencies"][extra])]
    return [Requirement(r) for r in reqs]


@pytest.mark.parametrize("filename", [SHARED, "onnxruntime-cpu.lock", "onnxruntime-gpu.lock"])
def test_every_entry_is_pinned_and_hashed(filename: str) -> None:
    """Each entry is name==version with at least one sha256: pip's hash-checking mode accepts it."""
    pins = read_lock(filename)
    assert pins
    for pin in pins.values():
        assert pin.hashes, f"{pin.name} has no hash"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_locks_satisfy_pyproject(flavour: str) -> None:
    """Every dependency of trimwire, its otel extra and its flavour's extra is locked at a version
    pyproject.toml allows."""
    pins = read_lock(SHARED) | read_lock(f"onnxruntime-{flavour}.lock")
    for req in wanted(("otel", flavour)):
        pin = pins.get(canonicalize_name(req.name))
        assert pin is not None, f"{req.name} is not in the {flavour} locks: run scripts/lock_images.py"
        assert req.specifier.contains(pin.version, prereleases=True), \
            f"{req.name}=={pin.version} is outside pyproject.toml's {req.specifier}"


def test_one_onnxruntime_per_image() -> None:
    """The shared lock has neither onnxruntime; each flavour's lock has exactly its own."""
    assert not set(ONNXRUNTIME.values()) & read_lock(SHARED).keys()
    for flavour, name in ONNXRUNTIME.items():
        assert list(read_lock(f"onnxruntime-{flavour}.lock")) == [name]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_images_install_from_the_locks(flavour: str) -> None:
    """The build stage copies the locks and installs them hash-checked, with no resolver and no index for trimwire."""
    build = parse(flavour)[0]
    copied = " ".join(args_of(build, "COPY"))
    assert f"deploy/container/{SHARED}" in copied and f"deploy/container/onnxruntime-{flavour}.lock" in copied
    steps = [step.strip() for step in " ".join(args_of(build, "RUN")).split("&&")]
    installs = [step for step in steps if step.startswith("/opt/trimwire/bin/pip install")]
    assert installs == [
        f"/opt/trimwire/bin/pip install --require-hashes --no-deps -r {SHARED} -r onnxruntime-{flavour}.lock",
        # opentelemetry-proto again, over the copy xds-protos ships, still hash-checked
        "/opt/trimwire/bin/pip install --require-hashes --no-deps --force-reinstall -r otel-proto.lock",
        "/opt/trimwire/bin/pip install --no-deps --no-build-isolation --no-index .",
    ]
    assert "/opt/trimwire/bin/pip check" in steps
