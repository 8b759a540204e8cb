"""Writes a benchmark's table into its marked section of docs/benchmarks.md (``--write``)."""

from __future__ import annotations

from pathlib import Path

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
