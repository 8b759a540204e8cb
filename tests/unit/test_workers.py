"""CompressionWorkers with real worker processes: which worker takes a request."""

from __future__ import annotations

import json

from extproc import BodyRequest, Settings
from extproc.workers import CompressionWorkers

from .sessions import coding_session, requests


def _replay(processes: int, bodies: list[dict]) -> list[dict[str, int]]:
    workers = CompressionWorkers(Settings(workers=processes))
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
