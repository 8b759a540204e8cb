"""The Kompress compressor (``kompress/__init__.py`` tells how it thins prose): ``ProseEntry``, what
the pipeline asks of it; ``Kompress``, the model opened; ``load_kompress``, which opens it."""


from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from pathlib import Path

from ...config import KompressSettings
from ...errors import KompressUnavailable
from ...pipeline.cache import ByteLRU, digest
from ...pipeline.contract import BlockInputs, Budget
from ...status import KompressStatus
from .batcher import Batcher
from .model import ScoringModel, load_model
from .words import ProseText, chunk_words, looks_like_prose, split_prose

__all__ = ["Kompress", "ModelShelf", "ProseEntry", "load_kompress"]

_SCORE_DIGITS = 3
_NO_DEADLINE_S = 60.0       # direct calls (trimwire compress, benchmarks) without a request deadline
# Which texts are prose (``looks_like_prose``, a pure function of the text, read whole), remembered
# per process by the text's digest, as token counts are: every earlier tool result comes back each
# turn, and a request whose block results are not cached then reads only texts new to the process.
_PROSE_SEEN: ByteLRU[bool] = ByteLRU(1 << 20)  # about 8000 texts (digest keys, not texts)


class ProseEntry:
    """What the pipeline asks of Kompress, opened at start-up (``Kompress``) or on first need
    (``lazy.LazyKompress``): which blocks are prose, and ``compress_within`` the request's budget;
    ``compress`` is ``compress_within`` with no deadline."""

    name = "kompress"
    then = None  # its output is not offered on
    min_chars: int

    def applies(self, block: BlockInputs) -> bool:
        return len(block.text) >= self.min_chars and _is_prose(block.text)

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress_within(block.text, budget)

    def compress(self, text: str) -> str | None:
        return self.compress_within(text, Budget())

    def compress_within(self, text: str, budget: Budget) -> str | None:
        raise NotImplementedError


class Kompress(ProseEntry):

    def __init__(self, settings: KompressSettings, model: ScoringModel, model_digest: str) -> None:
        self.keep_ratio = settings.keep_ratio
        self.threshold = settings.threshold
        self.min_chars = settings.min_chars
        self.model_digest = model_digest  # in the block cache key: another model, other results
        self._model = model
        # A batch-dependent model (dynamic int8) runs one chunk per call: see batch_independent.
        self._max_batch = settings.max_batch if model.batch_independent() else 1
        self._batcher = Batcher(model.scores, max_batch=self._max_batch,
                                max_wait_s=settings.max_wait_ms / 1000, max_queue=settings.queue_chunks)
        # The first request's deadline check needs a cost per chunk: one full chunk, timed now
        # (it also warms the session up, so the first request does not pay for that).
        self._batcher.seconds_per_chunk = model.time_chunk()

    @property
    def max_batch(self) -> int:
        """Chunks per inference call (not a setting of the output: results never depend on it)."""
        return self._max_batch

    def compress_within(self, text: str, budget: Budget) -> str | None:
        """The thinned text, or None; what happened is counted in ``budget``.

        Words of chunks not scored in time (deadline, full queue) stay, their lines byte for
        byte, as does every word when the model fails: that block, not the request, fails open.
        """
        prose = split_prose(text)
        if not prose.candidates:
            return None
        deadline = budget.deadline if budget.deadline is not None else time.monotonic() + _NO_DEADLINE_S
        try:
            scores, missed = self._score(prose, deadline, budget)
        except Exception:  # a model that fails at run time
            budget.count("kompress_error")
            return None
        kept = self._select(prose, scores)
        dropped = len(prose.words) - len(kept)
        result = ("compressed" if dropped and not missed else "partial" if dropped
                  else missed or "unchanged")
        budget.count("kompress_" + result)
        return prose.join(kept, _unscored_lines(prose, scores) if missed else frozenset()) if dropped else None

    def _score(self, prose: ProseText, deadline: float, budget: Budget) -> tuple[list[float | None], str]:
        """A score per word of the prose, None for words of chunks not scored, and why not."""
        words = [word.text for word in prose.words]
        encoding = self._model.tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
        per_word: list[list[int]] = [[] for _ in words]
        for token_id, word in zip(encoding.ids, encoding.word_ids):
            if word is not None:
                per_word[word].append(token_id)
        limit = self._model.max_tokens
        spans = chunk_words([len(ids) for ids in per_word], limit)
        chunks = [[t for ids in per_word[first:end] for t in ids][:limit] for first, end in spans]
        budget.count("kompress_chunks", len(chunks))
        results, missed = self._batcher.score(chunks, deadline)
        scores: list[float | None] = [None] * len(words)
        for (first, end), probs in zip(spans, results):
            if probs is None:
                continue
            at = 0
            for index in range(first, end):
                count = len(per_word[index])  # a word with no tokens (or cut off) scores 1: kept
                scores[index] = float(max(probs[at:at + count])) if count and at < len(probs) else 1.0
                at += count
        return scores, missed

    def _select(self, prose: ProseText, scores: list[float | None]) -> set[int]:
        """Indexes of the words kept: forced, unscored, and the best-scored of each paragraph or
        option description up to the ratio (so a long paragraph's filler never costs a short
        description all of its words)."""
        kept = {i for i, word in enumerate(prose.words) if word.keep or scores[i] is None}
        rounded = {i: round(score, _SCORE_DIGITS) for i, score in enumerate(scores)
                   if score is not None and i not in kept}
        if self.threshold > 0:
            return kept | {i for i, score in rounded.items() if score >= self.threshold}
        scored: dict[int, list[int]] = {}
        for i, word in enumerate(prose.words):
            if scores[i] is not None:
                scored.setdefault(word.segment, []).append(i)
        for members in scored.values():
            candidates = [i for i in members if i in rounded]
            room = max(0, _nearest(self.keep_ratio * len(members)) - (len(members) - len(candidates)))
            kept.update(sorted(candidates, key=lambda i: (-rounded[i], i))[:room])
        return kept


def _unscored_lines(prose: ProseText, scores: list[float | None]) -> set[int]:
    """Lines none of whose words was scored (chunks the deadline left out): they stay as written,
    justification and all, not rejoined."""
    scored = {word.line for word, score in zip(prose.words, scores) if score is not None}
    return {word.line for word in prose.words} - scored


def _is_prose(text: str) -> bool:
    """``looks_like_prose(text)``, remembered (``_PROSE_SEEN``)."""
    key = digest(text)
    seen = _PROSE_SEEN.get(key)
    if seen is None:
        seen = looks_like_prose(text)
        _PROSE_SEEN.put(key, seen, 0)
    return seen


def _nearest(words: float) -> int:
    """Words kept for a share: rounded half up (Python's round() rounds half to even)."""
    return math.floor(words + 0.5)


class ModelShelf:
    """The Kompress models one process opened, by settings.

    An ONNX session costs memory and, once it scores, an inference thread, so whoever builds the
    engines of a process (``compress.build_engine``, once per worker process, the in-process pool,
    the CLI) keeps one shelf, and a second engine built from it with the same settings shares the
    session. Nothing is kept in a module global: a shelf lives as long as its owner.
    """

    def __init__(self) -> None:
        self._opened: dict[tuple[KompressSettings, int], Kompress] = {}
        self._lock = threading.Lock()

    def open(self, settings: KompressSettings, *, threads: int) -> tuple[Kompress | None, KompressStatus]:
        """The Kompress compressor for ``settings`` and its status; None when it cannot run here.
        A failure is not remembered: the next call tries again."""
        if not settings.enabled:
            return None, KompressStatus(False, reason="disabled", detail="kompress.enabled is false")
        # the session runs ``threads``; the setting only chose it (``cpus.CpuShare.settle`` fills it in)
        key = (dataclasses.replace(settings, threads=0), threads)
        with self._lock:
            loaded = self._opened.get(key)
            if loaded is None:
                try:
                    model = load_model(settings, threads=threads)
                except KompressUnavailable as exc:
                    return None, KompressStatus(False, reason=exc.reason, detail=exc.detail)
                loaded = self._opened[key] = Kompress(settings, model, _file_digest(model.info.path))
        info = loaded._model.info
        return loaded, KompressStatus(True, model=info.name, provider=info.provider, max_batch=loaded.max_batch)


def load_kompress(settings: KompressSettings, *, threads: int,
                  shelf: ModelShelf | None = None) -> tuple[Kompress | None, KompressStatus]:
    """Kompress for ``settings``, from ``shelf`` (shared with what else it opened), or opened
    afresh; and its status."""
    return (shelf if shelf is not None else ModelShelf()).open(settings, threads=threads)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
