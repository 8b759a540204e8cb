"""What the benchmarks share: the order side-by-side runs take turns in, and writing a report
into its marked section of docs/benchmarks.md (``--write``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(name: str, text: str) -> Path:
    """Replace what stands between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` with ``text``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    doc = DOC.read_text(encoding="utf-8")
    start, stop = doc.index(begin) + len(begin), doc.index(end)
    DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[stop:], encoding="utf-8")
    return DOC


def publish(name: str, text: str, write: bool) -> None:
    """Print a benchmark's report; with ``write`` (its ``--write``) also put it in its section."""
    print("\n" + text)
    if write:
        write_section(name, text)
        print(f"wrote {DOC.relative_to(DOC.parents[1])}")


def rotated(items: Sequence[T], number: int) -> list[T]:
    """``items`` starting at ``number`` (modulo their count): run ``number``'s order, so that side
    by side runs take turns and none is always first while the machine drifts."""
    shift = number % len(items)
    return [*items[shift:], *items[:shift]]
