"""Where compression runs: a pool of worker processes, so one server uses every core it is given.

Envoy multiplexes all ext_proc streams over a few HTTP/2 connections, so several servers sharing
a port with SO_REUSEPORT would see unevenly spread load (one connection lands on one process).
One gRPC server hands bodies to worker processes instead; the event loop only moves bytes.

Each worker is a spawned process at the end of its own socket pair. The gRPC thread that holds a
request writes its body to an idle worker and waits for the answer on the socket, with no thread
in between (a ``ProcessPoolExecutor`` hops through two threads each way, which cost more than the
compression of a resent turn). A conversation's next turn goes to the worker that took its last
one, waiting up to 2 ms for it when it is busy, else to the most recently idle worker: a
worker's caches (the conversation's last body, the messages and blocks it compressed) are its
own, so a turn that lands elsewhere is read and compressed again. The conversation is told by a
digest of the bytes before its third message (``conversation_of``); it only picks the worker.
A compressed body comes back as its edits (``BodyRequest.edits_only``), written here over the
bytes sent: not a whole body.
A worker that dies fails its request open and is replaced.
No request holds a worker past its deadline: at the deadline the server cancels the job
(``worker_process.py``: the worker abandons it between two Python steps and forgets its caches);
a worker still busy ``KILL_AFTER_S`` later is stuck in native code and is killed and replaced.
``workers=0`` runs compression on a thread of the server process (tests, one-core pods).
See docs/architecture.md for the measurement behind this choice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import multiprocessing
import os
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .compress import BodyEngine, BodyRequest, BodyResult, build_engine
from .config import Settings
from .cpus import cpu_share, usable_cpus
from .errors import ConfigError
from .logging_setup import get_logger
from .status import KompressStatus
from .worker_process import CANCEL_SIGNAL, Frames, StartFailed, send, worker_main

__all__ = ["WorkerPool", "usable_cpus", "KILL_AFTER_S"]

Factory = Callable[[Settings], BodyEngine]

KILL_AFTER_S = 1.0            # a worker that has not answered this long after its cancel is killed
log = get_logger("trimwire.workers")


# Keys that open a message: "role", and "call_id" for the Responses API's tool items.
_ITEM_KEYS = {"responses": (b'"role"', b'"call_id"')}
_ROLE_ONLY = (b'"role"',)
_CONVERSATION_WINDOW = 4096   # bytes before a body's third message that name its conversation
_MAX_HOMES = 4096             # conversations whose last worker is remembered
# How long a body waits for its conversation's busy worker before another takes it: about what
# compressing a resent turn's new content again elsewhere would cost.
_HOME_GRACE_S = 0.002


def conversation_of(raw: bytes, format_name: str) -> bytes | None:
    """A cheap stand-in for a body's conversation: a digest of the bytes just before its third
    message, which every later turn of the conversation repeats (history is only appended to).
    None for a body with fewer than three messages, or one that is not plain JSON text. Only
    which worker is tried first depends on it, never what comes out."""
    keys = _ITEM_KEYS.get(format_name, _ROLE_ONLY)
    upcoming = {key: raw.find(key) for key in keys}  # each key's next place (-1: no more)
    at = -1
    for _ in range(3):
        found = [(index, key) for key, index in upcoming.items() if index >= 0]
        if not found:
            return None
        at, key = min(found)
        upcoming[key] = raw.find(key, at + 1)
    return hashlib.blake2b(raw[max(0, at - _CONVERSATION_WINDOW):at], digest_size=8).digest()


class _IdleWorkers:
    """The idle workers, and the worker that last served each conversation."""

    def __init__(self, grace: float = 0.0) -> None:
        self.grace = grace                        # seconds to wait for a busy conversation's worker
        self._idle: list[_Worker] = []            # the most recently idle last
        self._ready = threading.Condition()
        self._home_waiters = 0                    # takers waiting for one worker in particular
        self._homes: OrderedDict[bytes, _Worker] = OrderedDict()

    def put(self, worker: _Worker, conversation: bytes | None = None) -> None:
        with self._ready:
            if conversation is not None:
                self._homes[conversation] = worker
                self._homes.move_to_end(conversation)
                if len(self._homes) > _MAX_HOMES:
                    self._homes.popitem(last=False)
            self._idle.append(worker)
            if self._home_waiters:
                self._ready.notify_all()  # one of them may want this worker and no other
            else:
                self._ready.notify()      # any waiter takes any worker: wake one, not every thread

    def take(self, conversation: bytes | None, timeout: float) -> _Worker:
        """The conversation's last worker if it is idle or gets so within ``grace``, else the
        most recently idle one; TimeoutError when none is idle within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._ready:
            home = self._homes.get(conversation) if conversation is not None else None
            if home is not None and home not in self._idle and self.grace > 0:
                self._home_waiters += 1
                try:
                    self._ready.wait_for(lambda: home in self._idle, min(timeout, self.grace))
                finally:
                    self._home_waiters -= 1
            if not self._ready.wait_for(lambda: self._idle, max(0.0, deadline - time.monotonic())):
                raise TimeoutError("no worker was free in time")
            if home is not None and home in self._idle:
                self._idle.remove(home)
                return home
            return self._idle.pop()


class _Worker:
    """One worker process and the server's end of its socket pair (blocking, one caller at a time)."""

    def __init__(self, settings: Settings, factory: Factory) -> None:
        ours, theirs = socket.socketpair()
        context = multiprocessing.get_context("spawn")
        self._cancel_upto = context.RawValue("q", 0)  # the last job number given up on
        self._jobs = 0
        self.process = context.Process(
            target=worker_main, args=(theirs, settings, factory, os.getpid(), self._cancel_upto),
            daemon=True, name="trimwire-worker")
        self.process.start()  # spawn, not fork: the parent holds gRPC threads that must not be forked
        theirs.close()
        self.sock = ours
        self._answers = Frames(ours)

    def cancel(self) -> None:
        """Give up on the job just sent: the worker answers JobCancelled (worker_process.py)."""
        self._cancel_upto.value = self._jobs
        if self.process.pid is not None and self.process.is_alive():
            os.kill(self.process.pid, CANCEL_SIGNAL)

    def send(self, raw: bytes, request: BodyRequest) -> None:
        self._jobs += 1
        self.sock.settimeout(None)
        send(self.sock, (self._jobs, raw, request))

    def receive(self, timeout: float | None) -> Any:
        """The worker's next message; TimeoutError past ``timeout`` (what arrived is kept for the
        next call); BrokenProcessPool when it died instead of answering."""
        if timeout is not None and timeout <= 0:
            # a socket timeout of 0 makes it non-blocking: BlockingIOError, not a dead worker
            raise TimeoutError("no time was left to wait for the worker")
        self.sock.settimeout(timeout)
        try:
            message = self._answers.receive()
        except (TimeoutError, BlockingIOError):
            raise TimeoutError("the worker did not answer in time") from None
        except ConnectionError as exc:
            raise BrokenProcessPool(f"worker process {self.process.pid} died") from exc
        if message is None:
            raise BrokenProcessPool(f"worker process {self.process.pid} died")
        return message

    def stop(self) -> None:
        self.sock.close()
        if self.process.is_alive():
            self.process.terminate()


def _started(worker: _Worker) -> KompressStatus | StartFailed:
    """A new worker's first message: its Kompress status, or why it could not start."""
    return worker.receive(None)


class WorkerPool:
    """Runs ``BodyEngine.run`` off the calling thread; replaces a worker that dies.

    ``run_blocking`` is called from threads: the gRPC server's, and the event loop's executor for
    the HTTP API (``service.py``).
    """

    def __init__(self, settings: Settings, factory: Factory = build_engine) -> None:
        # the CPUs are shared out here, once: each worker is built from settings that say its share
        share = cpu_share(settings)
        self.settings = settings = share.settle(settings)
        self.factory = factory
        self.processes = share.processes
        self._inline: BodyEngine | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._all: list[_Worker] = []
        # Without result caches a worker holds nothing of a conversation: no worker is preferred.
        self._affinity = settings.block_cache_bytes > 0
        self._idle = _IdleWorkers(grace=_HOME_GRACE_S if self._affinity else 0.0)
        self._started = threading.Lock()
        self._statuses: list[KompressStatus] | None = None
        self._dead: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self._keeper: threading.Thread | None = None
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

    def warm_up_blocking(self) -> KompressStatus:
        """Wait until every worker has its tokenizer and Kompress model loaded.

        Returns what the workers made of Kompress: the first one that could not load it, if any.
        """
        if self._inline is not None:
            return self._inline.kompress
        with self._started:
            if self._statuses is None:
                started = [_started(worker) for worker in self._all]
                failed = next((status for status in started if isinstance(status, StartFailed)), None)
                if failed is not None:
                    raise ConfigError(failed.reason)
                self._statuses = [status for status in started if isinstance(status, KompressStatus)]
                for worker in self._all:
                    self._idle.put(worker)
            statuses = self._statuses
        return next((status for status in statuses if not status.available), statuses[0])

    async def warm_up(self) -> KompressStatus:
        return await asyncio.get_running_loop().run_in_executor(None, self.warm_up_blocking)

    def run_blocking(self, raw: bytes, request: BodyRequest, timeout: float) -> BodyResult:
        """``BodyEngine.run`` in a worker; TimeoutError past ``timeout`` seconds (the worker is
        told to abandon the job, and killed and replaced if it cannot), BrokenProcessPool when the
        worker died (it is replaced)."""
        if self._inline is not None:
            assert self._threads is not None
            return self._threads.submit(self._inline.run, raw, request).result(timeout)  # futures.TimeoutError
        if self._statuses is None:
            self.warm_up_blocking()
        deadline = time.monotonic() + timeout
        conversation = conversation_of(raw, request.format) if self._affinity else None
        worker = self._idle.take(conversation, timeout)
        try:
            # the new strings come back, not the whole body: it is written here, over ``raw``
            worker.send(raw, dataclasses.replace(request, edits_only=True))
            ok, value = worker.receive(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            worker.cancel()
            # it answers JobCancelled soon: read that on a thread of its own, then the worker is idle
            threading.Thread(target=self._finish, args=(worker, conversation), daemon=True,
                             name="worker-late").start()
            raise
        except (BrokenProcessPool, OSError):
            self._replace(worker)
            raise BrokenProcessPool("a worker process died") from None
        self._idle.put(worker, conversation)
        if not ok:
            raise value
        return value.with_body(raw) if isinstance(value, BodyResult) else value

    def _finish(self, worker: _Worker, conversation: bytes | None) -> None:
        try:
            worker.receive(KILL_AFTER_S)
        except TimeoutError:  # stuck where a signal cannot reach (native code): replaced
            log.warning("worker_killed", pid=worker.process.pid, reason="deadline")
            self._replace(worker, died=False)
            return
        except (BrokenProcessPool, OSError):
            self._replace(worker)
            return
        self._idle.put(worker, conversation)

    def _replace(self, dead: _Worker, died: bool = True) -> None:
        """Have the keeper thread start a worker in ``dead``'s place (that takes seconds)."""
        dead.stop()
        if died:
            log.warning("worker_died", pid=dead.process.pid, exitcode=dead.process.exitcode)
        with self._started:
            if self._keeper is None:
                # one thread for the pool's life: a worker gets SIGTERM when the *thread* that
                # started it ends (PR_SET_PDEATHSIG), so none is started from a passing thread
                self._keeper = threading.Thread(target=self._keep, daemon=True, name="worker-keeper")
                self._keeper.start()
        self._dead.put(dead)

    def _keep(self) -> None:
        while (dead := self._dead.get()) is not None:
            while not self._closed:
                fresh = _Worker(self.settings, self.factory)
                self._all[self._all.index(dead)] = dead = fresh
                try:
                    if isinstance(_started(fresh), StartFailed):
                        raise BrokenProcessPool("the worker could not start")
                except (BrokenProcessPool, OSError):
                    fresh.stop()
                    time.sleep(1.0)
                    continue
                self._idle.put(fresh)
                break

    def close(self) -> None:
        self._closed = True
        self._dead.put(None)
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        for worker in self._all:
            worker.stop()
