"""The pipeline itself (``pipeline/__init__.py`` tells what it does): ``Pipeline``, which offers
each released block to the compressors routed for its type, and the cache version of a set of
routes; the compressor protocol it offers them through is ``contract.py``."""


from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence

from ..config import DEFAULT_PROTECT_RECENT_TOOL_RESULTS
from ..conversation import Block, Conversation, Kind
from .age import recent_tool_results, stale_reads
from .ansi import ANSI, strip_ansi
from .cache import BlockCache, Outcome, digest
from .contract import BlockInputs, Budget, Compressor
from .envelope import exit_status, open_envelope
from .focus import terms_for
from .guard import Guard
from .policy import Policy
from .router import ContentType, Detections, Router
from .shared_cache import SharedBlockStore

__all__ = ["BlockInputs", "Budget", "Compressor", "Pipeline", "Policy", "Routes", "config_version"]

# Bump when a compressor's output changes for the same settings, so no stale result is reused;
# then regenerate the golden outputs pinned under it (tests/unit/golden/__init__.py says how).
_CACHE_SCHEMA = "trimwire-block-cache-12"


class Routes(dict[str, tuple[Compressor, ...]]):
    """Each content type's compressors, in the order they are tried, and the ``router`` that names
    a block's type (``compressors/content_types.py`` declares both; a type not here has none)."""

    def __init__(self, router: Router, compressors: Mapping[str, Sequence[Compressor]]) -> None:
        super().__init__({name: tuple(offered) for name, offered in compressors.items()})
        self.router = router


class Pipeline:
    """Runs the policy, the age rules (token mode) and the routed compressors, recording changes."""

    def __init__(self, policy: Policy, routes: Routes, *,
                 protect_recent: int = DEFAULT_PROTECT_RECENT_TOOL_RESULTS, cache_bytes: int = 0,
                 shared: SharedBlockStore | None = None) -> None:
        self.policy = policy
        self.routes = routes
        self.router = routes.router
        self.detections = Detections(self.router)  # types remembered per text (router.py)
        self.protect_recent = protect_recent
        self.version = config_version(self.routes)
        # What the compressors made of each block seen before: this process's (cache.py), then
        # every worker's and replica's (shared_cache.py, Redis). Neither: always recompute.
        self.cache = BlockCache(cache_bytes) if cache_bytes > 0 else None
        self.shared = shared

    def key(self, inputs: BlockInputs) -> bytes:
        """The block cache key: everything the compressors are given (``contract.BlockInputs``)
        and this pipeline's compressor settings."""
        return inputs.key(self.version)

    def cache_counters(self) -> dict[str, int]:
        """Running totals of the block caches, by the ``trimwire_block_cache_total`` result label."""
        counters: dict[str, int] = {}
        if self.cache is not None:
            stats = self.cache.stats
            counters.update(hit=stats.hits, miss=stats.misses, eviction=stats.evictions)
        if self.shared is not None:
            stats = self.shared.stats
            counters.update(shared_hit=stats.hits, shared_miss=stats.misses, shared_error=self.shared.errors)
        return counters

    def run(self, conv: Conversation, timings: dict[str, float], mode: str = "cache", *,
            protect_recent: int | None = None, frozen_messages: int = 0,
            budget: Budget | None = None) -> tuple[set[Block], set[Block]]:
        """Compress ``conv`` in place (recorded changes); add seconds per stage to ``timings``.
        Returns the blocks released to the compressors, and those held whole by rule this request
        (a caller's frozen prefix; in token mode also the recent results): ``dedup.py`` may write
        pointers into the first, and into file reads not held.

        ``protect_recent`` overrides the setting for this request; blocks of messages before
        ``frozen_messages`` (a caller's already-cached prefix) are never touched. ``budget``
        carries the request's deadline to timed compressors and collects their counts.
        """
        recent = self.protect_recent if protect_recent is None else protect_recent
        # Only tool results are ever released (``Policy.releases``): the rest are not walked again.
        results = [block for block in conv.blocks if block.kind is Kind.TOOL_RESULT]
        for block in results:  # what the policy and the age rules may ask of a wrapped result
            block.exit_code = exit_status(block.text)
        frozen = {block for block in conv.blocks if 0 <= block.message_index < frozen_messages} \
            if frozen_messages > 0 else set()
        held = self._age_rules(conv, timings, recent, frozen) if mode == "token" else frozen
        budget = budget if budget is not None else Budget()
        released = set()
        for block in results:
            if block not in held and self.policy.releases(block):
                self._compress(conv, block, timings, budget, self.policy.guards(block))
                released.add(block)
        return released, held

    def _age_rules(self, conv: Conversation, timings: dict[str, float], recent: int,
                   frozen: set[Block]) -> set[Block]:
        """Record stale-read markers; return every block the compressors must leave alone now."""
        started = time.perf_counter()
        held = recent_tool_results(conv, recent) | frozen
        for block, marker in stale_reads(conv).items():
            if block not in held:
                conv.replace(block, marker, "stale_read")
                held.add(block)
        timings["age"] = timings.get("age", 0.0) + time.perf_counter() - started
        return held

    def _compress(self, conv: Conversation, block: Block, timings: dict[str, float], budget: Budget,
                  guarded: bool = False) -> None:
        cached = self.cache is not None or self.shared is not None
        # All the compressors will see of the block, and so all its cache key must hold.
        inputs = BlockInputs(block.text, block.tool_name, terms_for(block), guarded)
        key = self.key(inputs) if cached else None
        found = self._lookup(key, timings) if key is not None else None
        if found is None:
            # A block left alone for want of time is remembered so too: it has gone out as it
            # was, and compressing it next turn would change bytes the provider has cached.
            outcome = self._run_compressors(inputs, timings, budget)
            self._store(key, outcome)
        else:
            outcome = found[0]
        if outcome is not None:
            conv.replace(block, *outcome)

    def _lookup(self, key: bytes, timings: dict[str, float]) -> tuple[Outcome] | None:
        """``(outcome,)`` from this process's cache, else from the shared one; None if unseen."""
        started = time.perf_counter()
        found = self.cache.get(key) if self.cache is not None else None
        if found is None and self.shared is not None:
            found = self.shared.get(key)
            if found is not None and self.cache is not None:
                self.cache.put(key, found[0])
        timings["cache"] = timings.get("cache", 0.0) + time.perf_counter() - started
        return found

    def _store(self, key: bytes | None, outcome: Outcome) -> None:
        if key is None:
            return
        if self.cache is not None:
            self.cache.put(key, outcome)
        if self.shared is not None:
            self.shared.put(key, outcome)

    def _run_compressors(self, block: BlockInputs, timings: dict[str, float], budget: Budget) -> Outcome:
        """(new text, compressor name) from the first routed compressor that shrinks the block
        (and, when it is guarded, keeps every protected line of it: ``guard.py``)."""
        started = time.perf_counter()
        envelope = open_envelope(block.text)
        # A wrapped output is routed and compressed by its content; the wrapper stays as it was.
        target = block if envelope is None else block.with_text(envelope.inner)
        plain = strip_ansi(target.text)  # colours and cursor moves: routed and compressed without them
        if plain is not None:
            target = target.with_text(plain)
        kind = self.detections.detect(target.text)
        timings["router"] = timings.get("router", 0.0) + time.perf_counter() - started
        if plain is not None and kind == ContentType.CODE:
            return None  # a file's text stays exact, escapes and all: an edit must match it
        compressors = self.routes.get(kind, ())
        guard = Guard.of(target.text, is_html=kind == ContentType.HTML) if block.guarded and compressors else None
        for compressor, new_text in _shrinks(compressors, target, timings, budget, guard):
            name = compressor.name
            if compressor.then is not None:  # what it made is offered on, as text of that type (HTML -> prose)
                new_text, name = self._chain(compressor.then, target.with_text(new_text), name,
                                             timings, budget, guard)
            out = new_text if envelope is None else envelope.wrap(new_text)
            if len(out) < len(block.text):
                return out, name
        if plain is not None:  # nothing else shrank it: the escape codes still go
            return (plain if envelope is None else envelope.wrap(plain)), ANSI
        return None

    def _chain(self, kind: str, made: BlockInputs, name: str, timings: dict[str, float], budget: Budget,
               guard: Guard | None) -> tuple[str, str]:
        """``made``'s text shrunk further by the first compressor of ``kind`` that applies and
        shrinks it (keeping what ``guard`` protects), and the names of both ("html+kompress");
        else as it was. Only text that is of ``kind`` goes on (a page's text may read as a log)."""
        if self.detections.detect(made.text) != kind:
            return made.text, name
        for compressor, new_text in _shrinks(self.routes.get(kind, ()), made, timings, budget, guard):
            return new_text, f"{name}+{compressor.name}"
        return made.text, name


def _shrinks(compressors: Sequence[Compressor], block: BlockInputs, timings: dict[str, float], budget: Budget,
             guard: Guard | None) -> Iterator[tuple[Compressor, str]]:
    """Each compressor that applies to ``block`` and makes it shorter, in order, with its text;
    an output missing a line ``guard`` protects is counted and passed over."""
    for compressor in compressors:
        if not compressor.applies(block):
            continue
        started = time.perf_counter()
        new_text = compressor.compress_block(block, budget)
        timings[compressor.name] = timings.get(compressor.name, 0.0) + time.perf_counter() - started
        if new_text is None or len(new_text) >= len(block.text):
            continue
        if guard is not None and not guard.kept_by(new_text):
            budget.count("guard_rejected")
            continue
        yield compressor, new_text


def config_version(routes: Mapping[str, Sequence[Compressor]]) -> str:
    """A digest of the routes and every compressor's settings: cached results are per version.

    A compressor's settings are its public attributes; ``_private`` ones (a model session, a
    batcher) are run-time machinery and would make the version differ per process.
    """
    parts = [f"{kind}=" + ";".join(f"{c.name}{_settings(c)!r}" for c in compressors)
             for kind, compressors in sorted(routes.items())]
    return digest(_CACHE_SCHEMA, *parts).hex()


def _settings(compressor: Compressor) -> list[tuple[str, object]]:
    return sorted((k, v) for k, v in vars(compressor).items() if not k.startswith("_"))
