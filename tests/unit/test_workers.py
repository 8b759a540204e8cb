"""WorkerPool with real worker processes: which worker takes a request."""

from __future__ import annotations

import gc
import json
import multiprocessing
import socket
import threading
import time
import weakref

import pytest

from extproc import BodyRequest, Settings, build_engine
from extproc.config import KompressSettings
from extproc.worker_process import Frames, Job, JobCancelled, collect_between_jobs, next_job, send
from extproc.workers import WorkerPool, _IdleWorkers, conversation_of
from tests.shelf import SHELF

from .sessions import STYLES, coding_session, requests


def _items(body: dict) -> list:
    return body.get("messages") or body.get("input") or []


def _replay(processes: int, bodies: list[dict]) -> list[dict[str, int]]:
    workers = WorkerPool(Settings(workers=processes))
    try:
        workers.warm_up_blocking()
        return [workers.run_blocking(json.dumps(body).encode(), BodyRequest("anthropic"), 60).cache
                for body in bodies]
    finally:
        workers.close()


def test_one_agent_keeps_to_one_worker_and_its_caches():
    """Turn after turn of one conversation, one request at a time, the worker that took the last
    turn takes the next, so two workers answer as much from their caches as one does. Handed
    round, every other turn would find a worker that never saw the turn before."""
    bodies = requests("anthropic", coding_session("claude_code"))
    one, two = _replay(1, bodies), _replay(2, bodies)
    assert sum(cache.get("message_hit", 0) for cache in one) > len(bodies)
    assert two == one


class TestConversationHome:
    """Which idle worker takes a body: the conversation's last one if idle, else the most recent."""

    def test_every_turn_of_a_conversation_names_it_alike(self):
        for fmt, style in STYLES:
            keys = {conversation_of(json.dumps(body).encode(), fmt)
                    for body in requests(fmt, coding_session(style)) if len(_items(body)) >= 3}
            assert len(keys) == 1 and None not in keys, (fmt, style)

    def test_two_conversations_are_told_apart(self):
        first = requests("anthropic", coding_session("claude_code"))[-1]
        other = json.loads(json.dumps(first))
        other["messages"][0]["content"] = "A different task: the download worker hangs."
        names = {conversation_of(json.dumps(body).encode(), "anthropic") for body in (first, other)}
        assert len(names) == 2 and None not in names

    def test_a_body_with_fewer_than_three_messages_names_none(self):
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        assert conversation_of(json.dumps(body).encode(), "openai") is None

    def test_the_conversations_last_worker_is_taken_when_idle(self):
        idle = _IdleWorkers()
        first, second = object(), object()
        idle.put(first, b"a")
        idle.put(second, b"b")
        assert idle.take(b"a", 1) is first           # its own, though not the most recently idle
        assert idle.take(b"c", 1) is second          # a conversation never seen: what is idle
        idle.put(second, b"b")
        idle.put(first)
        assert idle.take(None, 1) is first           # no conversation: the most recently idle
        assert idle.take(b"a", 1) is second          # its own is busy: whatever is idle
        with pytest.raises(TimeoutError):
            idle.take(b"a", 0.01)

    def test_a_busy_last_worker_is_waited_for_a_moment(self):
        """Within the grace the conversation's own worker is worth waiting for; past it, not."""
        idle = _IdleWorkers(grace=30.0)
        first, second = object(), object()
        idle.put(first, b"a")
        assert idle.take(None, 1) is first           # first is busy now; second becomes idle
        idle.put(second)
        taken = []
        taker = threading.Thread(target=lambda: taken.append(idle.take(b"a", 30)))
        taker.start()
        time.sleep(0.05)
        assert not taken                             # waiting for first, though second is idle
        idle.put(first)
        taker.join(5)
        assert taken == [first]
        idle.put(first, b"a")
        assert idle.take(None, 1) is first           # busy again
        idle.grace = 0.0
        assert idle.take(b"a", 1) is second          # no grace: whatever is idle


def test_no_time_left_is_a_timeout_not_a_dead_worker():
    """A request whose deadline has passed when its body reaches the worker times out; the healthy
    worker is neither declared dead nor replaced (a socket timeout of 0 used to raise
    BlockingIOError, read as a dead worker), and it compresses the next body."""
    workers = WorkerPool(Settings(workers=1))
    try:
        workers.warm_up_blocking()
        pids = workers.pids
        body = json.dumps(requests("anthropic", coding_session("claude_code"))[-1]).encode()
        for _ in range(5):
            with pytest.raises(TimeoutError):
                workers.run_blocking(body, BodyRequest("anthropic"), 0.0)
        assert workers.run_blocking(body, BodyRequest("anthropic"), 60).outcome in ("compressed", "unchanged")
        assert workers.pids == pids
    finally:
        workers.close()


class TestJobCancel:
    """The worker's side of a cancel (worker_process.Job): only the job given up on is cut short."""

    def _job(self, upto: int) -> Job:
        value = multiprocessing.get_context("spawn").RawValue("q", upto)
        return Job(value)

    def test_a_job_given_up_on_before_it_began_never_runs(self):
        """A cancel that lands before its job starts (a deadline already spent) stops it at the start."""
        job = self._job(upto=3)
        with pytest.raises(JobCancelled):
            job.run(None, 3, b"", BodyRequest("openai"))  # type: ignore[arg-type]

    def test_a_late_signal_never_cuts_the_next_job(self):
        """A cancel for job 3 that arrives after its answer, while job 4 runs, is ignored."""
        job = self._job(upto=3)
        job.number, job.running = 4, True
        job.on_signal(0, None)
        assert not job.cancelled

    def test_the_job_given_up_on_is_cut_short(self):
        job = self._job(upto=4)
        job.number, job.running = 4, True
        with pytest.raises(JobCancelled):
            job.on_signal(0, None)
        assert job.cancelled and not job.running


def test_forget_drops_every_remembered_result():
    """After ``forget`` (a job cut short) a body seen before is read and compressed again, not
    answered from a cache a cancelled job may have left half-made."""
    compressor = build_engine(Settings(workers=0, kompress=KompressSettings(enabled=False)), shelf=SHELF)
    body = json.dumps(requests("anthropic", coding_session("claude_code"))[-1]).encode()
    first = compressor.run(body, BodyRequest("anthropic"))
    again = compressor.run(body, BodyRequest("anthropic"))
    assert again.cache.get("message_hit", 0) > 0
    compressor.forget()
    fresh = compressor.run(body, BodyRequest("anthropic"))
    assert fresh.cache.get("message_hit", 0) == 0 and fresh.cache == first.cache
    assert fresh.body == first.body


def test_a_body_past_worker_memory_mb_fails_open_and_the_worker_lives():
    """A million tiny messages under worker_memory_mb=700: the request fails open (MemoryError)
    or completes, and the worker lives on (the answer once needed the memory the exception's
    traceback still held, and the worker died)."""
    workers = WorkerPool(Settings(workers=1, worker_memory_mb=700))
    try:
        workers.warm_up_blocking()
        pids = workers.pids
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "a"}] * 1_000_000}).encode()
        try:
            workers.run_blocking(body, BodyRequest("openai"), 120)
        except MemoryError:
            pass
        small = json.dumps(requests("anthropic", coding_session("claude_code"))[-1]).encode()
        assert workers.run_blocking(small, BodyRequest("anthropic"), 60).outcome in ("compressed", "unchanged")
        assert workers.pids == pids
    finally:
        workers.close()


def test_forty_megabytes_without_a_space_is_counted_under_worker_memory_mb():
    """40 MB of text with no space, under worker_memory_mb=700, is read and counted and the worker
    lives (tiktoken, handed it whole, ran for minutes and aborted in native code: SIGABRT)."""
    workers = WorkerPool(Settings(workers=1, worker_memory_mb=700))
    try:
        workers.warm_up_blocking()
        pids = workers.pids
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "A" * 40_000_000}]}).encode()
        result = workers.run_blocking(body, BodyRequest("openai"), 60)
        assert result.outcome == "unchanged" and result.tokens_before == 5_000_000
        assert workers.pids == pids
    finally:
        workers.close()


class _Cycle:
    """Garbage that only the collector frees: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


class _CollectorState:
    """A BodyEngine stand-in that answers whether automatic collection is on while it runs."""

    def __init__(self, settings: Settings) -> None:
        from extproc.status import KompressStatus

        self.kompress = KompressStatus(False, reason="disabled", detail="not configured")

    def run(self, raw: bytes, request: BodyRequest) -> object:
        from extproc.compress import BodyResult

        return BodyResult(outcome="unchanged", reason=f"gc enabled: {gc.isenabled()}")


class TestCollectionWhileIdle:
    """A worker collects garbage while it waits for a job, never during one (worker_process.next_job)."""

    def test_a_job_runs_with_automatic_collection_off(self):
        """In a real worker process, the engine runs with the collector off: no collection can
        start in the middle of a request."""
        workers = WorkerPool(Settings(workers=1), factory=_CollectorState)
        try:
            workers.warm_up_blocking()
            for _ in range(2):
                assert workers.run_blocking(b"{}", BodyRequest("openai"), 60).reason == "gc enabled: False"
        finally:
            workers.close()

    @staticmethod
    def _owing(amount: int) -> tuple[weakref.ref, list[_Cycle]]:
        """With the collector off: a cycle left as garbage, and ``amount`` allocations it is owed."""
        gc.disable()
        cycle = _Cycle()
        left = weakref.ref(cycle)
        del cycle
        return left, [_Cycle.__new__(_Cycle) for _ in range(amount)]

    @pytest.fixture
    def pair(self):  # type: ignore[no-untyped-def]
        """A connected socket pair (ours, the worker's end; theirs, the server's); the collector
        is switched back on after the test if it was on before."""
        was_on = gc.isenabled()
        ours, theirs = socket.socketpair()
        try:
            yield ours, theirs
        finally:
            ours.close()
            theirs.close()
            if was_on:
                gc.enable()

    def test_garbage_left_by_a_job_is_collected_once_the_worker_is_idle(self, pair):
        """No job waiting: the cycle is freed while the worker waits, and the job that comes
        later is read whole; the collector is off again for it."""
        ours, theirs = pair
        left, piled = self._owing(gc.get_threshold()[0] + 1)
        got: list[object] = []
        reader = threading.Thread(target=lambda: got.append(next_job(Frames(ours))))
        reader.start()
        for _ in range(1000):  # the collection runs on the reader's thread, once it is idle
            if left() is None:
                break
            time.sleep(0.01)
        send(theirs, ("job", 1))
        reader.join(30)
        assert left() is None and got == [("job", 1)]
        assert not gc.isenabled()
        del piled

    def test_a_waiting_job_goes_first(self, pair):
        """A job already waiting is taken before any collection: the garbage stays until the
        worker is idle."""
        ours, theirs = pair
        left, piled = self._owing(gc.get_threshold()[0] + 1)
        send(theirs, ("job", 2))
        assert next_job(Frames(ours)) == ("job", 2)
        assert left() is not None
        collect_between_jobs()
        assert left() is None
        del piled

    def test_a_worker_that_is_never_idle_collects_when_it_owes_too_much(self, pair):
        from extproc.worker_process import OWED_LIMIT

        ours, theirs = pair
        left, piled = self._owing(OWED_LIMIT * gc.get_threshold()[0] + 1)
        send(theirs, ("job", 3))
        assert next_job(Frames(ours)) == ("job", 3)
        assert left() is None
        del piled
