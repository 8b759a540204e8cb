"""Where compression runs: a pool of worker processes, so one server uses every core it is given.

Envoy multiplexes all ext_proc streams over a few HTTP/2 connections, so several servers sharing
a port with SO_REUSEPORT would see unevenly spread load (one connection lands on one process).
One gRPC server hands bodies to a process pool instead; the event loop only moves bytes.
``workers=0`` runs compression on a thread of the server process (tests, one-core pods).
See docs/architecture.md for the measurement behind this choice.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .compress import BodyCompressor, BodyRequest, BodyResult, build_compressor
from .compressors.kompress import KompressStatus
from .config import Settings

__all__ = ["CompressionWorkers", "usable_cpus"]

Factory = Callable[[Settings], BodyCompressor]

_worker_compressor: BodyCompressor | None = None


def usable_cpus() -> int:
    """CPUs this process may use: affinity mask, capped by a cgroup v2 CPU quota (k8s limits)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: end this worker when the server dies, even by SIGKILL (else it lingers forever).

    The signal follows the thread that started the worker: the event loop's, which lives as long
    as the server does.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the server died before prctl took effect
        os._exit(0)


def _limit_memory(megabytes: int) -> None:
    """Cap this worker's heap, so one runaway request raises MemoryError instead of the whole pod
    being OOM-killed; RLIMIT_DATA (not RLIMIT_AS) leaves shared libraries and their mappings alone."""
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _init_worker(settings: Settings, factory: Factory, parent_pid: int | None = None) -> None:
    global _worker_compressor
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    if settings.worker_memory_mb:
        _limit_memory(settings.worker_memory_mb)
    _worker_compressor = factory(settings)


def _run_in_worker(raw: bytes, request: BodyRequest) -> BodyResult:
    assert _worker_compressor is not None, "worker not initialised"
    return _worker_compressor.run(raw, request)


def _status() -> KompressStatus:
    assert _worker_compressor is not None, "worker not initialised"
    return _worker_compressor.kompress


class CompressionWorkers:
    """Runs ``BodyCompressor.run`` off the event loop; rebuilds the pool if a worker dies."""

    def __init__(self, settings: Settings, factory: Factory = build_compressor) -> None:
        self.settings = settings
        self.factory = factory
        self.processes = usable_cpus() if settings.workers < 0 else settings.workers
        self._inline: BodyCompressor | None = None
        self._executor = self._start()

    def _start(self) -> Executor:
        if self.processes == 0:
            self._inline = self.factory(self.settings)
            # one thread per CPU: while one waits for the model (a GPU call), another compresses
            return ThreadPoolExecutor(max_workers=max(2, usable_cpus()), thread_name_prefix="compress")
        # spawn, not fork: the parent holds gRPC threads that must not be forked.
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings, self.factory, os.getpid()),
        )

    async def warm_up(self) -> KompressStatus:
        """Start every worker (tokenizer and Kompress model loaded) before the server reports ready.

        Returns what the workers made of Kompress: the first one that could not load it, if any.
        """
        loop = asyncio.get_running_loop()
        if self._inline is not None:
            return self._inline.kompress
        statuses = await asyncio.gather(*(loop.run_in_executor(self._executor, _status)
                                          for _ in range(self.processes)))
        return next((status for status in statuses if not status.available), statuses[0])

    async def run(self, raw: bytes, request: BodyRequest) -> BodyResult:
        loop = asyncio.get_running_loop()
        if self._inline is not None:
            return await loop.run_in_executor(self._executor, self._inline.run, raw, request)
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, _run_in_worker, raw, request)
        except BrokenProcessPool:
            if self._executor is executor:  # another request may have rebuilt it already
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start()
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
