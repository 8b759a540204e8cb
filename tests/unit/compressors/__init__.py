"""Stage tests for the content-aware compressors, one class per compressor.

Fixtures in ``fixtures/`` are real-shaped tool outputs: pytest -v, pip, npm and cargo runs, a
kubectl pod list, a GitHub issues page, grep and ripgrep hits, git diffs and a docs page.
"""

from __future__ import annotations

import re
from pathlib import Path

from extproc.pipeline import BlockInputs

FIXTURES = Path(__file__).parent / "fixtures"
MARKER = re.compile(r"^\[trimwire: .*\]$")


def load(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def block(text: str) -> BlockInputs:
    """What the pipeline gives a compressor for a tool result of ``text``."""
    return BlockInputs(text)


def is_subsequence(kept: list[str], original: list[str]) -> bool:
    """Every kept line appears in the original, in the same order."""
    remaining = iter(original)
    return all(any(line == candidate for candidate in remaining) for line in kept)


def content_lines(text: str) -> list[str]:
    """The lines of compressed output that are not trimwire markers."""
    return [line for line in text.split("\n") if not MARKER.match(line)]
