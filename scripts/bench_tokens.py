"""Does linear token counting (``tokens.count_linear``) cost ordinary text anything, and what does
it save on text without spaces?

Counts every distinct string of more than 64 characters in the corpus (what a first-seen request
counts: no cache) with tiktoken handed each text whole, then with ``count_linear``, in turns
(``--rounds``), and prints the time per character and the token totals of each; then the same for
``A`` runs of 10k, 100k and 1M characters (the whole-text count only up to 100k: it grows
superlinearly).

    python scripts/bench_tokens.py [--corpus ../shared/corpus/corpus.jsonl] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import tiktoken

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.tokens import ENCODING_NAME, Encoding, count_linear  # noqa: E402


def _texts(corpus: Path) -> list[str]:
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str) and len(value) > 64:
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for line in corpus.read_text(encoding="utf-8").splitlines():
        if line.strip():
            walk(json.loads(line))
    return list(dict.fromkeys(found))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    encode = tiktoken.get_encoding(ENCODING_NAME).encode_ordinary
    bpe = Encoding().count  # built once, as TokenCounter builds it, not inside the timed loop
    ways = {"tiktoken, text whole": lambda text: len(encode(text)),
            "count_linear": lambda text: count_linear(bpe, text)}
    texts = _texts(args.corpus)
    chars = sum(map(len, texts))
    print(f"{len(texts)} distinct corpus texts over 64 characters, {chars:,} characters")
    for round_number in range(1, args.rounds + 1):
        for name, count in ways.items():
            started = time.perf_counter()
            tokens = sum(count(text) for text in texts)
            seconds = time.perf_counter() - started
            print(f"  round {round_number}: {name}: {tokens:,} tokens, {seconds * 1000:.0f} ms, "
                  f"{seconds / chars * 1e9:.0f} ns a character")
    for size in (10_000, 100_000, 1_000_000):
        text = "A" * size
        for name, count in ways.items():
            if name.startswith("tiktoken") and size > 100_000:
                continue
            started = time.perf_counter()
            tokens = count(text)
            print(f"  {size:,} x A: {name}: {tokens:,} tokens, {(time.perf_counter() - started) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
