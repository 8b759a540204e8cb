"""The micro-batcher: shared inference calls, a bounded queue, deadlines."""

from __future__ import annotations

import threading
import time

import pytest

from extproc.compressors.kompress.batcher import Batcher


class RecordingScorer:
    """Scores a chunk as its token ids over 100; records the batch sizes it was called with."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.batches: list[int] = []
        self.entered = threading.Event()

    def __call__(self, chunks):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        self.batches.append(len(chunks))
        return [[t / 100 for t in chunk] for chunk in chunks]


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


class TestBatcher:
    def test_scores_come_back_in_order(self):
        """Each caller gets its own chunks' scores, in the order it gave them."""
        batcher = Batcher(RecordingScorer(), max_batch=4, max_wait_s=0.001, max_queue=16)
        assert batcher.score([[1, 2], [3]], soon()) == ([[0.01, 0.02], [0.03]], "")

    def test_concurrent_callers_share_inference_calls(self):
        """Chunks of requests running at the same time go through fewer, larger calls."""
        scorer = RecordingScorer(delay=0.02)
        batcher = Batcher(scorer, max_batch=8, max_wait_s=0.05, max_queue=64)
        results: dict[int, tuple] = {}

        def caller(n: int) -> None:
            results[n] = batcher.score([[n], [n + 1]], soon())

        threads = [threading.Thread(target=caller, args=(n * 10,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert all(results[n * 10] == ([[n / 10], [(n * 10 + 1) / 100]], "") for n in range(6))
        assert sum(scorer.batches) == 12 and len(scorer.batches) < 12 and max(scorer.batches) > 2
        assert max(scorer.batches) <= 8

    def test_full_queue_scores_what_fits(self):
        """Chunks past the queue's bound are not scored (None) and the reason is overloaded."""
        gate = threading.Event()
        scorer = RecordingScorer(gate=gate)
        batcher = Batcher(scorer, max_batch=1, max_wait_s=0, max_queue=2)
        answers: list = []
        first = threading.Thread(target=lambda: answers.append(batcher.score([[1]], soon())))
        first.start()
        assert scorer.entered.wait(5)  # [1] is in the model; the queue is empty
        second = threading.Thread(target=lambda: answers.append(batcher.score([[2], [3], [4]], soon())))
        second.start()
        for _ in range(500):  # until [2] and [3] fill the queue and [4] has been refused
            if batcher._queue.qsize() == 2 and second.is_alive():
                break
            time.sleep(0.01)
        assert batcher.score([[5]], soon()) == ([None], "overloaded")
        gate.set()
        first.join(5)
        second.join(5)
        assert sorted(answers, key=lambda answer: len(answer[0])) == [([[0.01]], ""), ([[0.02], [0.03], None], "overloaded")]

    def test_deadline_passes_while_waiting(self):
        """A caller whose chunks are not scored by its deadline gets None for them, reason deadline."""
        gate = threading.Event()
        batcher = Batcher(RecordingScorer(gate=gate), max_batch=1, max_wait_s=0, max_queue=8)
        assert batcher.score([[1]], soon(0.05)) == ([None], "deadline")
        gate.set()

    def test_given_up_chunks_are_not_scored(self):
        """Chunks whose caller gave up are skipped by the inference thread."""
        gate = threading.Event()
        scorer = RecordingScorer(gate=gate)
        batcher = Batcher(scorer, max_batch=1, max_wait_s=0, max_queue=8)
        first = threading.Thread(target=lambda: batcher.score([[1]], soon()))
        first.start()
        assert scorer.entered.wait(5)
        assert batcher.score([[2], [3]], soon(0.05)) == ([None, None], "deadline")
        gate.set()
        first.join(5)
        assert batcher.score([[4]], soon()) == ([[0.04]], "")
        assert sum(scorer.batches) == 2  # [1] and [4]; [2] and [3] were dropped

    def test_only_chunks_that_can_make_the_deadline_are_queued(self):
        """With a measured cost per chunk, the chunks that cannot be done in time are not queued."""
        scorer = RecordingScorer(delay=0.05)
        batcher = Batcher(scorer, max_batch=1, max_wait_s=0, max_queue=64)
        batcher.score([[1]], soon())
        results, reason = batcher.score([[1]] * 40, soon(0.5))
        assert reason == "deadline"
        assert 1 <= sum(r is not None for r in results) <= 10 and results[-1] is None
        assert sum(scorer.batches) <= 11

    def test_chunks_done_sooner_than_estimated_make_room_for_more(self):
        """The cost per chunk was measured on a busy machine (1 s); the chunks now take 10 ms:
        once the two that the estimate let in are done, more are queued while time is left."""
        scorer = RecordingScorer(delay=0.01)
        batcher = Batcher(scorer, max_batch=1, max_wait_s=0, max_queue=64)
        batcher.seconds_per_chunk, batcher.calls = 1.0, 10
        results, reason = batcher.score([[1]] * 20, soon(2.0))
        assert sum(r is not None for r in results) > 2 and scorer.batches[:2] == [1, 1]
        assert results[0] == [0.01] and (reason == "" or results[-1] is None)

    def test_a_failing_model_fails_its_callers_not_the_thread(self):
        """An inference error reaches the caller; the next call still works."""
        calls = []

        def flaky(chunks):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("boom")
            return [[0.5] for _ in chunks]

        batcher = Batcher(flaky, max_batch=2, max_wait_s=0, max_queue=8)
        with pytest.raises(RuntimeError):
            batcher.score([[1]], soon())
        assert batcher.score([[1]], soon()) == ([[0.5]], "")
