"""Compressor factories that break on purpose, for the fail-open tests.

Each one misbehaves only on a body carrying its marker and otherwise compacts JSON like
production, so one server shows both a failed request and a healthy one. The factories are
top-level functions because worker processes receive them pickled.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from extproc import BodyEngine, BodyRequest, BodyResult, Pipeline, Policy, Settings
from extproc.compressors import JsonCompactor
from extproc.compressors.content_types import ROUTER
from extproc.pipeline import Routes
from extproc.pipeline.router import ContentType

__all__ = ["BLOW_UP", "BREAK", "CRASH", "EXPLODE", "SLEEP", "SLEEP_SECONDS", "STALL", "STALL_ENTERED",
           "STALL_RELEASE", "blowing_up_factory", "breaking_factory", "crashing_factory", "gated_factory",
           "raising_factory", "sleeping_factory", "stalling_factory", "STUCK", "stuck_factory", "hungry_factory"]

EXPLODE = "EXPLODE-ON-THIS-BLOCK"
BREAK = "BREAK-ON-THIS-BODY"
CRASH = "CRASH-ON-THIS-BLOCK"
STALL = "STALL-ON-THIS-BLOCK"
SLEEP = "SLEEP-ON-THIS-BLOCK"
SLEEP_SECONDS = 2.5
STUCK = "STUCK-IN-NATIVE-CODE-ON-THIS-BLOCK"
# In-process only (workers=0): set when a stall begins, and by the test to end it.
STALL_ENTERED = threading.Event()
STALL_RELEASE = threading.Event()


class RaisingCompressor(JsonCompactor):
    name = "raising"

    def compress(self, text: str) -> str | None:
        if EXPLODE in text:
            raise RuntimeError("compressor bug")
        return super().compress(text)


class StallingCompressor(JsonCompactor):
    name = "stalling"

    def compress(self, text: str) -> str | None:
        if STALL in text:
            STALL_ENTERED.set()
            STALL_RELEASE.wait(30)
        return super().compress(text)


class SleepingCompressor(JsonCompactor):
    """Takes SLEEP_SECONDS over a marked block, in any process (a model call that runs long)."""

    name = "sleeping"

    def compress(self, text: str) -> str | None:
        if SLEEP in text:
            time.sleep(SLEEP_SECONDS)
        return super().compress(text)


class StuckCompressor(JsonCompactor):
    """Stays 30 s over a marked block where no signal handler runs, as a long native call
    (tiktoken, onnxruntime) does: the cancel signal is blocked, so only a kill ends it."""

    name = "stuck"

    def compress(self, text: str) -> str | None:
        if STUCK in text:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            time.sleep(30)
        return super().compress(text)


class CrashingCompressor(JsonCompactor):
    """Kills its worker process, as an out-of-memory kill or a segfault in a native library would."""

    name = "crashing"

    def compress(self, text: str) -> str | None:
        if CRASH in text:
            os._exit(1)
        return super().compress(text)


class ContractBreakingCompressor(BodyEngine):
    """Returns no result at all: a bug on the server's side of the stream, not in a stage."""

    def run(self, raw: bytes, request: BodyRequest) -> BodyResult:
        if BREAK.encode() in raw:
            return None  # type: ignore[return-value]
        return super().run(raw, request)


def _build(settings: Settings, compressor: JsonCompactor,
           kind: type[BodyEngine] = BodyEngine) -> BodyEngine:
    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars)
    return kind(settings, Pipeline(policy, Routes(ROUTER, {ContentType.JSON: [compressor]}), cache_bytes=settings.block_cache_bytes))


def raising_factory(settings: Settings) -> BodyEngine:
    return _build(settings, RaisingCompressor())


def stalling_factory(settings: Settings) -> BodyEngine:
    return _build(settings, StallingCompressor())


def sleeping_factory(settings: Settings) -> BodyEngine:
    return _build(settings, SleepingCompressor())


def stuck_factory(settings: Settings) -> BodyEngine:
    return _build(settings, StuckCompressor())


def crashing_factory(settings: Settings) -> BodyEngine:
    return _build(settings, CrashingCompressor())


def breaking_factory(settings: Settings) -> BodyEngine:
    return _build(settings, JsonCompactor(), kind=ContractBreakingCompressor)


def gated_factory(settings: Settings) -> BodyEngine:
    """Loads slowly, like a model: waits (in the worker process) until ``extra["gate"]`` exists."""
    gate = Path(settings.extra["gate"])
    for _ in range(3000):
        if gate.exists():
            break
        time.sleep(0.01)
    return _build(settings, JsonCompactor())


BLOW_UP = "BLOW-UP-MEMORY-ON-THIS-BLOCK"


class BlowingUpCompressor(JsonCompactor):
    name = "blowing_up"

    def compress(self, text: str) -> str | None:
        if BLOW_UP in text:
            hog = bytearray(4 * 1024 * 1024 * 1024)  # 4 GiB: past any worker_memory_mb a test sets
            return str(len(hog))
        return super().compress(text)


def blowing_up_factory(settings: Settings) -> BodyEngine:
    return _build(settings, BlowingUpCompressor())


def hungry_factory(settings: Settings) -> BodyEngine:
    """Runs out of memory while loading, as a worker under a too-low worker_memory_mb does."""
    raise MemoryError
