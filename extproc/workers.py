"""Where compression runs: a pool of worker processes, so one server uses every core it is given.

Envoy multiplexes all ext_proc streams over a few HTTP/2 connections, so several servers sharing
a port with SO_REUSEPORT would see unevenly spread load (one connection lands on one process).
One gRPC server hands bodies to worker processes instead; the event loop only moves bytes.

Each worker is a spawned process at the end of its own socket pair; the event loop writes a body
to an idle worker and reads the answer as one more event, with no thread in between (a
``ProcessPoolExecutor`` hops through two threads each way, which cost more than the compression
of a resent turn). A worker that dies fails its request open and is replaced.
``workers=0`` runs compression on a thread of the server process (tests, one-core pods).
See docs/architecture.md for the measurement behind this choice.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .compress import BodyCompressor, BodyRequest, BodyResult, build_compressor
from .compressors.kompress import KompressStatus
from .config import Settings
from .logs import get_logger

__all__ = ["CompressionWorkers", "usable_cpus"]

Factory = Callable[[Settings], BodyCompressor]

_FRAME = struct.Struct("!Q")  # every message between the server and a worker: its length, then pickle
_READ_LIMIT = 1 << 20         # bytes the event loop buffers from a worker before it waits for a read
log = get_logger("trimwire.workers")


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
    """Linux: end this worker when the server dies, even by SIGKILL (else it lingers forever)."""
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


def _send(sock: socket.socket, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_FRAME.pack(len(data)) + data)


def _receive(sock: socket.socket) -> Any:
    """The next message, or None when the server has closed the socket."""
    header = sock.recv(_FRAME.size, socket.MSG_WAITALL)
    if len(header) < _FRAME.size:
        return None
    (size,) = _FRAME.unpack(header)
    data = bytearray(size)
    view, got = memoryview(data), 0
    while got < size:
        count = sock.recv_into(view[got:])
        if count == 0:
            return None
        got += count
    return pickle.loads(data)


def _worker_main(sock: socket.socket, settings: Settings, factory: Factory, parent_pid: int) -> None:
    """A worker's whole life: build the compressor, say what Kompress came to, then serve bodies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    _die_with_parent(parent_pid)
    if settings.worker_memory_mb:
        _limit_memory(settings.worker_memory_mb)
    compressor = factory(settings)
    _send(sock, compressor.kompress)
    while (job := _receive(sock)) is not None:
        try:
            answer: tuple[bool, Any] = (True, compressor.run(*job))
        except BaseException as exc:  # noqa: BLE001 - the server fails this request open, by type
            answer = (False, exc)
        try:
            _send(sock, answer)
        except (pickle.PicklingError, TypeError, AttributeError):  # an exception pickle cannot carry
            _send(sock, (False, RuntimeError(type(answer[1]).__name__)))


class _Worker:
    """One worker process and the server's end of its socket pair."""

    def __init__(self, settings: Settings, factory: Factory) -> None:
        ours, theirs = socket.socketpair()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_worker_main, args=(theirs, settings, factory, os.getpid()), daemon=True,
            name="trimwire-worker")
        self.process.start()  # spawn, not fork: the parent holds gRPC threads that must not be forked
        theirs.close()
        self.sock = ours
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(sock=self.sock, limit=_READ_LIMIT)
        return self._streams

    async def send(self, message: Any) -> None:
        _, writer = await self._connect()
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        writer.write(_FRAME.pack(len(data)) + data)  # one send: a second would wake the worker twice
        await writer.drain()

    async def receive(self) -> Any:
        """The worker's next message; BrokenProcessPool when it died instead of answering."""
        reader, _ = await self._connect()
        try:
            (size,) = _FRAME.unpack(await reader.readexactly(_FRAME.size))
            return pickle.loads(await reader.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise BrokenProcessPool(f"worker process {self.process.pid} died") from exc

    def stop(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
        else:
            self.sock.close()
        if self.process.is_alive():
            self.process.terminate()


class CompressionWorkers:
    """Runs ``BodyCompressor.run`` off the event loop; replaces a worker that dies."""

    def __init__(self, settings: Settings, factory: Factory = build_compressor) -> None:
        self.settings = settings
        self.factory = factory
        self.processes = usable_cpus() if settings.workers < 0 else settings.workers
        self._inline: BodyCompressor | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._all: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        self._starting: asyncio.Task[list[KompressStatus]] | None = None
        self._closed = False
        if self.processes == 0:
            self._inline = factory(settings)
            # one thread per CPU: while one waits for the model (a GPU call), another compresses
            self._threads = ThreadPoolExecutor(max_workers=max(2, usable_cpus()), thread_name_prefix="compress")
        else:
            self._all = [_Worker(settings, factory) for _ in range(self.processes)]

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (none with ``workers=0``)."""
        return [worker.process.pid for worker in self._all if worker.process.pid is not None]

    async def warm_up(self) -> KompressStatus:
        """Wait until every worker has its tokenizer and Kompress model loaded.

        Returns what the workers made of Kompress: the first one that could not load it, if any.
        """
        if self._inline is not None:
            return self._inline.kompress
        statuses = await self._ready()
        return next((status for status in statuses if not status.available), statuses[0])

    async def _ready(self) -> list[KompressStatus]:
        """Each worker's first message, its Kompress status, read once; then every worker is idle."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        return await asyncio.shield(self._starting)

    async def _start(self) -> list[KompressStatus]:
        statuses = list(await asyncio.gather(*(worker.receive() for worker in self._all)))
        self._idle = asyncio.Queue()
        for worker in self._all:
            self._idle.put_nowait(worker)
        return statuses

    async def run(self, raw: bytes, request: BodyRequest) -> BodyResult:
        if self._inline is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, self._inline.run, raw, request)
        if self._idle is None:
            await self._ready()
        assert self._idle is not None
        worker = await self._idle.get()
        answer = asyncio.ensure_future(self._ask(worker, raw, request))
        # A request that gives up (its deadline) leaves the worker busy until it answers; it goes
        # back to the idle queue then, or is replaced if it died.
        answer.add_done_callback(lambda done, w=worker: self._release(w, done))
        ok, value = await asyncio.shield(answer)
        if not ok:
            raise value
        return value

    async def _ask(self, worker: _Worker, raw: bytes, request: BodyRequest) -> tuple[bool, Any]:
        await worker.send((raw, request))
        return await worker.receive()

    def _release(self, worker: _Worker, done: asyncio.Future) -> None:
        if self._closed:
            return
        if done.cancelled() or done.exception() is not None:  # it died, or its socket broke
            worker.stop()
            log.warning("worker_died", pid=worker.process.pid, exitcode=worker.process.exitcode)
            asyncio.ensure_future(self._replace(worker))
        else:
            assert self._idle is not None
            self._idle.put_nowait(worker)

    async def _replace(self, dead: _Worker) -> None:
        """Start a worker in ``dead``'s place; idle once it is ready (retried while it fails to start)."""
        while not self._closed:
            fresh = _Worker(self.settings, self.factory)
            self._all[self._all.index(dead)] = dead = fresh
            try:
                await fresh.receive()  # its Kompress status: it is ready
            except BrokenProcessPool:
                fresh.stop()
                await asyncio.sleep(1.0)
                continue
            assert self._idle is not None
            self._idle.put_nowait(fresh)
            return

    def close(self) -> None:
        self._closed = True
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        for worker in self._all:
            worker.stop()
