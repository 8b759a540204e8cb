"""How many CPUs this process may use: what ``workers: -1`` starts one compression worker per,
and what sizes onnxruntime's threads (compress.py).

``cpu_share`` works the share out once: the server's pool (``workers.py``) asks it and hands each
worker settings that already say their numbers, so a worker never counts CPUs again.

The affinity mask says which cores the scheduler may use; a Kubernetes CPU limit does not shrink
it, it becomes a CFS quota in the pod's cgroup. Both cgroup layouts are read: v2's ``cpu.max``
and v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (nodes still on cgroup v1). A quota is
rounded up: 1.5 CPUs start 2 workers.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["CGROUP_ROOT", "CpuShare", "cgroup_cpu_limit", "cpu_share", "usable_cpus"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Where cgroup v1 mounts the CPU controller, as Docker, containerd and CRI-O lay it out.
_V1_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup CPU quota (k8s limits)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(cgroup_root)
    return max(1, min(count, limit) if limit else count)


@dataclass(frozen=True, slots=True)
class CpuShare:
    """How the CPUs are shared between compression processes and Kompress's inference threads."""

    processes: int    # compression worker processes; 0: compression runs on the server's threads
    threads: int      # onnxruntime intra-op threads in each process that compresses

    def settle(self, settings: Settings) -> Settings:
        """``settings`` saying this share (``workers``, ``kompress.threads``): what a process
        built from them reads instead of counting CPUs again."""
        kompress = dataclasses.replace(settings.kompress, threads=self.threads)
        return dataclasses.replace(settings, workers=self.processes, kompress=kompress)


def cpu_share(settings: Settings) -> CpuShare:
    """The processes ``workers`` asks for (-1: one per usable CPU) and the inference threads each
    gets (``kompress.threads``, else the usable CPUs split between the processes). The CPUs are
    counted only when a setting leaves it to them."""
    counted: list[int] = []

    def cpus() -> int:
        if not counted:
            counted.append(usable_cpus())
        return counted[0]

    processes = cpus() if settings.workers < 0 else settings.workers
    threads = settings.kompress.threads or max(1, cpus() // max(1, processes))
    return CpuShare(processes, threads)


def cgroup_cpu_limit(cgroup_root: Path = CGROUP_ROOT) -> int | None:
    """Whole CPUs the cgroup's quota allows (rounded up), or None when unlimited or unreadable."""
    v2 = _read(cgroup_root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return _cpus(quota, period) if quota != "max" else None
    for name in _V1_DIRS:
        v1 = _read(cgroup_root / name / "cpu.cfs_quota_us")
        if v1 is not None:
            return _cpus(v1, _read(cgroup_root / name / "cpu.cfs_period_us") or "")
    return None


def _cpus(quota: str, period: str) -> int | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:  # v1 writes -1 for "no limit"
        return None
    return max(1, -(-quota_us // period_us))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
