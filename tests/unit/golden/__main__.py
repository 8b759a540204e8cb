"""Regenerate the golden outputs: ``.venv/bin/python -m tests.unit.golden`` from the repository root.

Writes ``<case>.txt`` for every case. An output that differs from the pinned one under the same
``_CACHE_SCHEMA`` and compressor settings is not written: cached results of the old code would be
reused as if they were the new code's, so bump the version first (``extproc/pipeline/core.py``).
"""

from __future__ import annotations

import sys

from extproc.pipeline import _CACHE_SCHEMA

from . import CASES, HERE, parse, read_golden, render


def main() -> int:
    refused = []
    for case in CASES:
        text = render(case, case.make())
        pinned = read_golden(case)
        if pinned is not None and pinned.changed_unkeyed(parse(text)):
            refused.append(case.name)
            continue
        with open(HERE / f"{case.name}.txt", "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    if refused:
        print(f"outputs changed under {_CACHE_SCHEMA}: {', '.join(refused)}; bump _CACHE_SCHEMA in "
              "extproc/pipeline/__init__.py and run this again", file=sys.stderr)
        return 1
    print(f"{len(CASES)} golden outputs written under {_CACHE_SCHEMA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
