"""The worker's side of the compression pool: one spawned process that runs ``BodyEngine.run``
on the bodies the server writes to its socket and writes the answers back (``workers.py`` is
the server's side).

Messages are framed pickles (``send``, ``Frames``). The server numbers its jobs; to cut one short
at its deadline it writes the job's number into ``Job.cancel_upto`` (shared memory) and sends
``CANCEL_SIGNAL``. The signal raises ``JobCancelled`` between two Python steps of that job and
never of another: a signal that arrives before its job starts cancels it at the start, one that
arrives after the answer is ignored. A worker whose job was cut short forgets every cache (an
entry could be half-made). Native code (a long tokenizer or model call) delays the signal's
handler; the server kills such a worker after ``workers.KILL_AFTER_S``.

Garbage collection waits until the worker is idle (``next_job``), never runs during a job: a
collection starts on whichever allocation crosses its threshold, in the middle of a request (in a
replayed conversation a young generation's pass took 0.1 ms every two or three turns, an older
one's 5 ms every thirty). Right after an answer is no better: the request is still on its way
(upstream and back through Envoy) and the collection would take a core from it. So the worker
collects once no job has come for ``IDLE_S``, or at once when it owes ``OWED_LIMIT`` thresholds'
worth of allocations (a worker that is never idle).
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .compress import BodyEngine, BodyRequest, BodyResult
from .config import Settings

__all__ = ["CANCEL_SIGNAL", "Frames", "IDLE_S", "Job", "JobCancelled", "OWED_LIMIT", "StartFailed",
           "collect_between_jobs", "next_job", "send", "worker_main"]

Factory = Callable[[Settings], BodyEngine]

CANCEL_SIGNAL = signal.SIGUSR1
_FRAME = struct.Struct("!Q")  # every message between the server and a worker: its length, then pickle
_READ_CHUNK = 1 << 18         # bytes read from a worker's socket at a time
# Held by every worker and let go after a MemoryError, so the fail-open answer can still be written.
_MEMORY_RESERVE = 8 << 20
IDLE_S = 0.005   # a worker this long without a job collects what it owes: the last request is done
OWED_LIMIT = 10  # thresholds of allocations a worker that is never idle may owe before it collects


class JobCancelled(Exception):
    """The server cut this job short at its deadline (``CANCEL_SIGNAL``)."""


@dataclass
class StartFailed:
    """What a worker that could not build its engine sends instead of its Kompress status."""

    reason: str


def send(sock: socket.socket, message: Any) -> None:
    """One framed message, in one send: a second would wake the other side twice."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_FRAME.pack(len(data)) + data)


class Frames:
    """The messages arriving on one end of a socket pair, framed by ``send``. A read that times
    out (the socket's timeout) keeps what arrived for the next call."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._pending = bytearray()  # what has arrived of a message not yet whole

    def receive(self) -> Any:
        """The next message, or None when the other side has closed its end."""
        while True:
            if len(self._pending) >= _FRAME.size:
                (size,) = _FRAME.unpack_from(self._pending)
                if len(self._pending) >= _FRAME.size + size:
                    message = pickle.loads(memoryview(self._pending)[_FRAME.size:_FRAME.size + size])
                    del self._pending[:_FRAME.size + size]
                    return message
            chunk = self.sock.recv(_READ_CHUNK)
            if not chunk:
                return None
            self._pending += chunk


class Job:
    """The job a worker runs. ``cancel_upto`` (shared with the server) is the highest job number
    the server gave up on; ``CANCEL_SIGNAL`` raises JobCancelled only while such a job runs."""

    def __init__(self, cancel_upto: Any) -> None:
        self.cancel_upto = cancel_upto
        self.number = 0
        self.running = False
        self.cancelled = False

    def run(self, engine: BodyEngine, number: int, raw: bytes, request: BodyRequest) -> BodyResult:
        self.number = number
        if self.cancel_upto.value >= number:  # given up on before it began
            raise JobCancelled("past the request deadline")
        self.running = True
        try:
            return engine.run(raw, request)
        finally:
            self.running = False

    def on_signal(self, signum: int, frame: object) -> None:
        if self.running and self.cancel_upto.value >= self.number:
            self.running = False
            self.cancelled = True
            raise JobCancelled("past the request deadline")


class _Counted:
    """An object the collector counts (an instance of a class of ours: no free list bypasses it)."""


def collect_between_jobs() -> None:
    """Run the collection that came due while automatic collection was off (``gc.disable``).

    The collector is let on for one counted allocation: if a collection is due, it runs there,
    choosing the generations as it always does (an older one only when enough survivors have
    piled up), so a worker collects what it would have, only at a moment no request waits."""
    gc.enable()
    try:
        _Counted()
    finally:
        gc.disable()


def next_job(frames: Frames) -> Any:
    """The next message (None: the server closed its end), running the collection owed (module
    docstring) once no job has come for ``IDLE_S``, or before waiting when more is owed than
    ``OWED_LIMIT`` allows."""
    owed, threshold = gc.get_count()[0], gc.get_threshold()[0]
    if owed > OWED_LIMIT * threshold:
        collect_between_jobs()
    elif owed > threshold:
        frames.sock.settimeout(IDLE_S)
        try:
            return frames.receive()
        except TimeoutError:  # idle: what arrived of a message is kept for the next receive
            collect_between_jobs()
        finally:
            frames.sock.settimeout(None)
    return frames.receive()


def _die_with_parent(parent_pid: int) -> None:
    """Linux: end this worker when the server dies, even by SIGKILL (else it lingers forever).

    The signal follows the *thread* that started the worker: the first ones start on the server's
    main thread, replacements on the pool's keeper thread, both as long-lived as the server.
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


def worker_main(sock: socket.socket, settings: Settings, factory: Factory, parent_pid: int,
                cancel_upto: Any) -> None:
    """A worker's whole life: build the engine, say what Kompress came to, then serve bodies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    _die_with_parent(parent_pid)
    job = Job(cancel_upto)
    signal.signal(CANCEL_SIGNAL, job.on_signal)
    if settings.worker_memory_mb:
        _limit_memory(settings.worker_memory_mb)
    try:
        engine = factory(settings)
    except MemoryError:
        send(sock, StartFailed(f"worker_memory_mb {settings.worker_memory_mb} is too low for a worker "
                               "to load its tokenizer and model"))
        return
    send(sock, engine.kompress)
    gc.disable()  # collections run while the worker is idle (module docstring)
    frames = Frames(sock)
    reserve = _reserve()
    while (message := next_job(frames)) is not None:
        try:
            answer: tuple[bool, Any] = (True, job.run(engine, *message))
        except MemoryError:
            # a fresh exception: the raised one's traceback and context chain hold the body's
            # parsed objects, and the answer needs memory back to be written at all
            answer = (False, MemoryError("past worker_memory_mb"))
            job.cancelled = True  # a run cut short by memory may have left half-made entries too
        except BaseException as exc:  # noqa: BLE001 - the server fails this request open, by type
            answer = (False, exc.with_traceback(None))
        del message
        if job.cancelled:  # cut short between any two steps: nothing it remembered is trusted
            job.cancelled = False
            engine.forget()
        out_of_memory = not answer[0] and isinstance(answer[1], MemoryError)
        if out_of_memory:
            del reserve  # head room for the answer, whatever is still held
            gc.collect()
        _answer(sock, answer)
        del answer
        if out_of_memory:
            reserve = _reserve()


def _reserve() -> bytearray:
    try:
        return bytearray(_MEMORY_RESERVE)
    except MemoryError:  # the next answer goes without head room rather than the worker dying
        return bytearray()


def _answer(sock: socket.socket, answer: tuple[bool, Any]) -> None:
    try:
        send(sock, answer)
    except (pickle.PicklingError, TypeError, AttributeError, MemoryError):  # what pickle cannot carry
        gc.collect()
        send(sock, (False, RuntimeError(type(answer[1]).__name__)))
