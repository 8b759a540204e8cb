"""Kompress opened only when the first prose block needs it, for ``trimwire compress``.

A one-off command pays for the ONNX session (seconds) only if its bodies hold prose; the server
opens the model at start-up instead (``load_kompress``), so its first request does not wait.
"""

from __future__ import annotations

import threading

from ...config import KompressSettings
from ...pipeline import Budget
from ...status import KompressStatus
from .prose import Kompress, ModelShelf, ProseEntry, load_kompress

__all__ = ["LazyKompress"]


class LazyKompress(ProseEntry):

    def __init__(self, settings: KompressSettings, *, threads: int, shelf: ModelShelf | None = None) -> None:
        self.keep_ratio = settings.keep_ratio
        self.threshold = settings.threshold
        self.min_chars = settings.min_chars
        # In the pipeline's cache version instead of the model digest, which is not known yet:
        # results of a lazily opened model are never taken for another model's.
        self.model_dir = settings.model_dir or "embedded"
        self.lazy = True
        self._settings = settings
        self._threads = threads
        self._shelf = shelf
        self._lock = threading.Lock()
        self._model: Kompress | None = None
        self.status: KompressStatus | None = None   # None until a prose block asked for the model

    def compress_within(self, text: str, budget: Budget) -> str | None:
        model = self._open()
        return model.compress_within(text, budget) if model is not None else None

    def _open(self) -> Kompress | None:
        with self._lock:
            if self.status is None:
                self._model, self.status = load_kompress(self._settings, threads=self._threads, shelf=self._shelf)
            return self._model
