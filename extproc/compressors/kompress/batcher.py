"""Micro-batching: chunks from every request running in this process share inference calls.

Callers (the compression threads) hand their chunks to ``score`` and wait; one inference thread
takes up to ``max_batch`` chunks at a time, waiting at most ``max_wait_s`` for a batch to fill,
and runs the model once for them. The queue is bounded, and a chunk that would not be scored
before its request's deadline (judged from the measured seconds per chunk) is not queued: the
caller gets the scores of the chunks that made it, and leaves the rest of its text alone. Chunks
done sooner than the estimate said make room for more of the caller's chunks.
Chunks whose caller gave up are skipped, not scored.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batcher", "Missed"]

Scorer = Callable[[list[list[int]]], list[Any]]


class Missed(Exception):
    """Set on a chunk the inference thread skipped because its caller's deadline had passed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False)
class _Job:
    ids: list[int]
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False


class Batcher:
    """One inference thread per model per process, fed by a bounded queue of chunks."""

    def __init__(self, scorer: Scorer, *, max_batch: int, max_wait_s: float, max_queue: int) -> None:
        self.scorer = scorer
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[_Job] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.seconds_per_chunk = 0.0   # running estimate, for the deadline check
        self.calls = 0
        self.chunks = 0

    def score(self, chunks: Sequence[list[int]], deadline: float) -> tuple[list[Any | None], str]:
        """Scores of each chunk, None for those not scored, and why some were not ("" if all were).

        ``deadline`` is a ``time.monotonic()`` instant. Only the chunks that the measured cost
        per chunk says can be done in time are queued, as many as the queue takes (``overloaded``
        past that); when they are done before the deadline (the cost was overestimated: the
        machine got quieter), as many more as the time left allows, and so on. Waiting ends at
        the deadline, and the chunks still queued are dropped.
        """
        self._start()
        results: list[Any | None] = [None] * len(chunks)
        done, reason = 0, ""
        while done < len(chunks) and not reason:
            room = len(chunks) - done
            if self.seconds_per_chunk > 0:
                room = min(room, int((deadline - time.monotonic()) / self.seconds_per_chunk) - self._queue.qsize())
            if room <= 0:
                return results, "deadline"
            jobs, reason = self._enqueue(chunks[done:done + room], deadline)
            try:
                reason = self._wait(jobs, deadline, results, done) or reason
            finally:
                self._cancel(jobs)  # what is still queued is not scored for nobody
            if not jobs:
                break
            done += len(jobs)
        return results, reason

    def _enqueue(self, chunks: Sequence[list[int]], deadline: float) -> tuple[list[_Job], str]:
        """Jobs for the chunks the queue takes, and "overloaded" if it did not take them all."""
        jobs: list[_Job] = []
        for ids in chunks:
            job = _Job(list(ids), deadline)
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                return jobs, "overloaded"
            jobs.append(job)
        return jobs, ""

    @staticmethod
    def _wait(jobs: list[_Job], deadline: float, results: list[Any | None], at: int) -> str:
        """Each job's scores into ``results`` from ``at`` on, until the deadline: "deadline" if
        it came first (or the inference thread skipped a job for it), else ""."""
        for index, job in enumerate(jobs):
            if not job.done.wait(max(0.0, deadline - time.monotonic())):
                return "deadline"
            if isinstance(job.error, Missed):
                return "deadline"
            if job.error is not None:
                raise job.error
            results[at + index] = job.result
        return ""

    @staticmethod
    def _cancel(jobs: list[_Job]) -> None:
        for job in jobs:
            job.cancelled = True

    def _start(self) -> None:
        with self._lock:  # started on first use, in the process that uses it (workers are spawned)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="kompress-infer", daemon=True)
                self._thread.start()
                atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """End the inference thread after its current batch. At interpreter exit a daemon thread
        still inside onnxruntime would abort the process ("terminate called ..."), so exit waits."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._stopping = True
        try:
            self._queue.put_nowait(_Job([], 0.0, cancelled=True))  # wakes a thread waiting for work
        except queue.Full:
            pass
        thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping:
            batch = self._collect()
            if batch and not self._stopping:
                self._run(batch)

    def _collect(self) -> list[_Job]:
        """Up to max_batch live jobs: the first blocks, the rest may wait max_wait_s."""
        first = self._queue.get()
        batch = [first]
        until = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get(timeout=max(0.0, until - time.monotonic())))
            except queue.Empty:
                break
        now = time.monotonic()
        live = []
        for job in batch:
            if job.cancelled or job.deadline <= now:
                job.error = Missed("deadline")
                job.done.set()
            else:
                live.append(job)
        return live

    def _run(self, batch: list[_Job]) -> None:
        started = time.monotonic()
        try:
            results = self.scorer([job.ids for job in batch])
        except BaseException as exc:  # the callers fail open for their blocks; this thread goes on
            for job in batch:
                job.error = exc
                job.done.set()
            return
        elapsed = time.monotonic() - started
        per_chunk = elapsed / len(batch)
        self.seconds_per_chunk = per_chunk if not self.calls else 0.8 * self.seconds_per_chunk + 0.2 * per_chunk
        self.calls += 1
        self.chunks += len(batch)
        for job, result in zip(batch, results):
            job.result = result
            job.done.set()
