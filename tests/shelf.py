"""The Kompress model shelf every engine a test process builds takes its model from, as the
engines of one server process do (``compressors/kompress/prose.py``, ``ModelShelf``): a test
builds many engines, and opening a session for each would cost seconds and memory apiece."""

from __future__ import annotations

from extproc.compressors.kompress import ModelShelf

SHELF = ModelShelf()
