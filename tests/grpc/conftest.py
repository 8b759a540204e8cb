"""Fixtures for the in-process gRPC layer: a real trimwire server on random loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from extproc import load_settings
from extproc.metrics import Metrics
from extproc.server import start_server
from extproc.workers import WorkerPool

from .harness import Harness

StartTrimwire = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_trimwire() -> AsyncIterator[StartTrimwire]:
    """Start servers with setting overrides (and optionally a compressor factory); all stopped after."""
    started: list[Harness] = []

    async def start(factory: Callable[..., Any] | None = None, **overrides: Any) -> Harness:
        values = dict(grpc_address="127.0.0.1:0", metrics_address="127.0.0.1:0", api_address="127.0.0.1:0", workers=0,
                      drain_grace_s=5.0)
        values.update(overrides)
        settings = load_settings(env={}, **values)
        workers = WorkerPool(settings, factory=factory) if factory else None
        harness = Harness(await start_server(settings, workers=workers, metrics=Metrics()))
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.close()


@pytest.fixture
async def trimwire(start_trimwire: StartTrimwire) -> Harness:
    """A server with default settings and in-process (thread) compression."""
    return await start_trimwire()
