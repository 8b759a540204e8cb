"""What each content type's compressors save on the shared corpus's tool results.

Every distinct tool result of the corpus the default policy releases is classified by the
declared content types (``compressors/content_types.py``) and sent through the default routes
(no prose model, no block cache). Prints, per type (or only ``--type``), blocks, characters and
tokens before and after, and the share of tokens saved. Use it to measure a newly added type.

    python scripts/bench_types.py [--type kube_describe] [--corpus ../shared/corpus/corpus.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.compressors import default_routes  # noqa: E402
from extproc.config import load_settings  # noqa: E402
from extproc.conversation import Block, Kind  # noqa: E402
from extproc.formats import parse_body  # noqa: E402
from extproc.pipeline import BlockInputs, Budget, Pipeline, Policy  # noqa: E402
from extproc.pipeline.envelope import open_envelope  # noqa: E402
from extproc.tokens import TokenCounter  # noqa: E402


def released_blocks(corpus: Path, policy: Policy) -> list[Block]:
    """Distinct tool results of the corpus the policy releases to the compressors."""
    seen: set[str] = set()
    found = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for block in parse_body(row["format"], row["body"]).blocks:
            if block.kind is Kind.TOOL_RESULT and block.text not in seen and policy.releases(block):
                seen.add(block.text)
                found.append(block)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--type", help="only blocks of this content type")
    args = parser.parse_args()
    settings = load_settings(env={})
    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars,
                    compress_errors=settings.compress_errors)
    pipeline = Pipeline(policy, default_routes())
    tokens = TokenCounter()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for block in released_blocks(args.corpus, policy):
        envelope = open_envelope(block.text)
        kind = str(pipeline.router.detect(block.text if envelope is None else envelope.inner))
        if args.type and kind != args.type:
            continue
        inputs = BlockInputs(block.text, block.tool_name, guarded=policy.guards(block))
        outcome = pipeline._run_compressors(inputs, {}, Budget())
        out = outcome[0] if outcome else block.text
        row = totals[kind]
        for index, value in enumerate((1, len(block.text), len(out), tokens.count(block.text), tokens.count(out))):
            row[index] += value
    print("| type | blocks | chars before | after | tokens before | after | tokens saved |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, (blocks, chars, chars_out, before, after) in sorted(totals.items()):
        saved = f"{100 * (before - after) / before:.1f}%" if before else "-"
        print(f"| {kind} | {blocks} | {chars:,} | {chars_out:,} | {before:,} | {after:,} | {saved} |")


if __name__ == "__main__":
    main()
