"""usable_cpus over cgroup fixture trees (tests/unit/cgroup_fixtures/): v2's cpu.max and v1's
cpu.cfs_quota_us/cpu.cfs_period_us, limited, fractional and unlimited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extproc.cpus import cgroup_cpu_limit, usable_cpus

FIXTURES = Path(__file__).parent / "cgroup_fixtures"


@pytest.mark.parametrize("tree, limit", [
    ("v2-limit-2", 2),          # cpu.max "200000 100000"
    ("v2-fraction", 2),         # 1.5 CPUs round up
    ("v2-unlimited", None),     # "max 100000"
    ("v1-limit-2", 2),          # cpu,cpuacct/cpu.cfs_quota_us 200000, period 100000
    ("v1-cpu-dir", 1),          # cpu/ with half a CPU: at least one
    ("v1-unlimited", None),     # quota -1
    ("none", None),             # no CPU controller files at all
])
def test_cgroup_cpu_limit(tree: str, limit: int | None) -> None:
    """The quota of either cgroup version, in whole CPUs rounded up; None without a limit."""
    assert cgroup_cpu_limit(FIXTURES / tree) == limit


def test_v1_quota_caps_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2-CPU limit on a cgroup v1 node of 64 cores gives 2, not 64."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert usable_cpus(FIXTURES / "v1-limit-2") == 2
    assert usable_cpus(FIXTURES / "v1-unlimited") == 64


def test_affinity_below_the_quota_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quota above the cores the process may run on does not add cores."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert usable_cpus(FIXTURES / "v2-limit-2") == 1


def test_unreadable_values_mean_no_limit(tmp_path: Path) -> None:
    """Garbage in cpu.max is ignored rather than trusted or fatal."""
    (tmp_path / "cpu.max").write_text("lots 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_the_share_is_worked_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings settled by a share give that share back without counting the CPUs again."""
    from extproc import cpus
    from extproc.config import Settings

    monkeypatch.setattr(cpus, "usable_cpus", lambda: 8)
    share = cpus.cpu_share(Settings(workers=-1))
    assert (share.processes, share.threads) == (8, 1)
    assert cpus.cpu_share(Settings(workers=2)).threads == 4

    settled = share.settle(Settings(workers=-1))
    assert (settled.workers, settled.kompress.threads) == (8, 1)

    def counted() -> int:
        raise AssertionError("the CPUs were counted again")

    monkeypatch.setattr(cpus, "usable_cpus", counted)
    assert cpus.cpu_share(settled) == share
