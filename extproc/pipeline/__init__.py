"""The compression pipeline: a policy that releases blocks, then an ordered list of compressors.

A compressor is a small class (see ``Compressor``): settings in ``__init__``, a ``name``, a
cheap ``applies`` check and a ``compress`` that returns new text or None. For each released
block the first compressor that applies and makes it shorter wins; a block nothing shrinks stays
byte-identical. Compressors are pure functions of the block's text and settings, so the same
block always compresses to the same bytes (what the provider's prompt cache needs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from ..conversation import Block, Conversation
from .policy import Policy

__all__ = ["Compressor", "Pipeline", "Policy"]


class Compressor(Protocol):
    name: str

    def applies(self, block: Block) -> bool:
        """Cheap check: is this block's content of the kind this compressor handles?"""

    def compress(self, text: str) -> str | None:
        """New text for the block, or None to leave it alone."""


class Pipeline:
    """Runs the policy and the compressors over one conversation, recording changes."""

    def __init__(self, policy: Policy, compressors: Sequence[Compressor]) -> None:
        self.policy = policy
        self.compressors = tuple(compressors)

    def run(self, conv: Conversation, timings: dict[str, float]) -> None:
        """Compress ``conv`` in place (recorded changes); add seconds per stage to ``timings``."""
        for block in conv.blocks:
            if not self.policy.releases(block):
                continue
            for compressor in self.compressors:
                if not compressor.applies(block):
                    continue
                started = time.perf_counter()
                new_text = compressor.compress(block.text)
                timings[compressor.name] = timings.get(compressor.name, 0.0) + time.perf_counter() - started
                if new_text is not None and len(new_text) < len(block.text):
                    conv.replace(block, new_text, compressor.name)
                    break
