"""The contract between the pipeline and a compressor: what a compressor is given and gives back.

A compressor never sees the conversation's ``Block``. The pipeline hands it a ``BlockInputs``: the
text to compress and the few facts about it that a result may depend on (the tool that made it,
the context terms it holds, whether it is guarded). Its content type, detected from the text, is
not among them: the pipeline's router has decided it before the compressor is offered the block,
and only that type's compressors are offered it (``compressors/content_types.py``). The block
cache key (``BlockInputs.key``) is a digest of those same fields and the pipeline's settings
version (``config_version``: every routed compressor's public attributes
under ``_CACHE_SCHEMA``), so a compressor has no way to read what the key does not hold (the
message's position or age, later messages, the body) and a cached result is the one a fresh run
would give. In cache mode that is what keeps history already sent byte-identical.

The one exception is time: a compressor given a ``Budget`` (Kompress) may do less when the
request's deadline is near. What it gave is remembered under the key all the same, so a block
goes out the same way in every later turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .cache import digest

__all__ = ["BlockInputs", "Budget", "Compressor", "FocusedCompressor"]


@dataclass(frozen=True)
class BlockInputs:
    """Everything a compressor's result may depend on besides its own settings; the block cache
    key is derived from every field (``key``)."""

    text: str
    tool_name: str | None = None
    terms: tuple[str, ...] = ()     # what the block's context names (``focus.py``), to keep first
    guarded: bool = False           # a failure's output: protected lines must survive (``guard.py``)

    def key(self, version: str) -> bytes:
        """The block cache key: a digest of every field and the pipeline's settings ``version``."""
        return digest(version, self.tool_name or "", "guarded" if self.guarded else "", "\x00".join(self.terms),
                      self.text)

    def with_text(self, text: str) -> BlockInputs:
        """The same facts about other text (a wrapper's contents, a compressor's output)."""
        # the fields named, not ``dataclasses.replace``: asked of most released blocks, which reads them all
        return BlockInputs(text, self.tool_name, self.terms, self.guarded)


@dataclass
class Budget:
    """What one request allows its compressors: a deadline, and a tally of what they did."""

    deadline: float | None = None     # a time.monotonic() instant (system-wide on Linux); None: none
    events: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, amount: int = 1) -> None:
        self.events[name] = self.events.get(name, 0) + amount


class Compressor(Protocol):
    """A compressor: settings in ``__init__`` (its public attributes are in the cache version), a
    ``name``, a cheap ``applies`` check and ``compress_block``. Each module keeps a plain
    ``compress(text)`` beside it for direct calls (``trimwire compress``, tests, benchmarks)."""

    name: str

    @property
    def then(self) -> str | None:
        """None, or the type of text ``compress_block`` makes (HTML's main text is prose): its
        output is then offered on to that type's compressors."""

    def applies(self, block: BlockInputs) -> bool:
        """Cheap check of this compressor's own preconditions (a minimum size, its library loaded).
        The router has already decided the block's type: a compressor never checks it again."""

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        """New text for the block, or None to leave it alone. A compressor that keeps what the
        block's context names (``block.terms``) keeps those first; one whose work can outlast the
        request (model inference) stops at ``budget.deadline`` and counts what it did in ``budget``."""


class FocusedCompressor:
    """What most compressors share: a result that depends on the text and the context terms
    alone. A subclass writes ``compress_for``; ``compress_block`` (the protocol's) and
    ``compress`` (direct calls, no terms) come from here."""

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress_for(block.text, block.terms)

    def compress(self, text: str) -> str | None:
        return self.compress_for(text, ())

    def compress_for(self, text: str, terms: Sequence[str]) -> str | None:
        """New text for ``text``, keeping first what holds one of ``terms``; None to leave it."""
        raise NotImplementedError
