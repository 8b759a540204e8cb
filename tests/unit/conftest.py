"""Shared objects for the unit layer: one settings value and one compressor per session."""

from __future__ import annotations

import pytest

from extproc import BodyEngine, Settings, build_engine
from tests.shelf import SHELF


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(workers=0)


@pytest.fixture(scope="session")
def compressor(settings: Settings) -> BodyEngine:
    return build_engine(settings, shelf=SHELF)
