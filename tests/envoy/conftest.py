"""Shared real processes for the Envoy layer: one recording upstream, one trimwire subprocess and
one buffered Envoy for the whole session. Tests that break or replace trimwire start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream import RecordingUpstream

from .stack import EnvoyProcess, TrimwireProcess, find_envoy_or_skip, start_test_envoy, start_trimwire


@pytest.fixture(scope="session")
def envoy_binary() -> str:
    return find_envoy_or_skip()


@pytest.fixture(scope="session")
def upstream() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def trimwire(tmp_path_factory: pytest.TempPathFactory, envoy_binary: str) -> Iterator[TrimwireProcess]:
    running = start_trimwire(tmp_path_factory.mktemp("trimwire"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def envoy(trimwire: TrimwireProcess, upstream: RecordingUpstream) -> Iterator[EnvoyProcess]:
    running = start_test_envoy(trimwire.grpc_port, upstream)
    yield running
    running.stop()
