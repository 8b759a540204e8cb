"""How ``man`` lays out a line (justified to the margin) and how ``col -b`` rewrites it: for
tests that build man-page-shaped text."""

from __future__ import annotations


def justify(words: str, width: int = 78, indent: int = 7) -> str:
    """A line as groff justifies it: spaces added between words, from the left, up to ``width``."""
    tokens = words.split()
    gaps = [1] * (len(tokens) - 1)
    for i in range(width - indent - len(" ".join(tokens))):
        gaps[i % len(gaps)] += 1
    return " " * indent + "".join(t + " " * g for t, g in zip(tokens, gaps + [0]))


def col_b(line: str) -> str:
    """The line as ``col -b`` writes it: spaces that end at a tab stop, two or more, as a tab."""
    chunks = [line[i:i + 8] for i in range(0, len(line), 8)]
    return "".join(c.rstrip(" ") + "\t" if len(c) == 8 and c.endswith("  ") else c for c in chunks)
