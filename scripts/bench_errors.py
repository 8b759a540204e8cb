"""What the error guard releases and saves: failed commands' output, per content type.

Every distinct tool result of the shared corpus that the policy guards (``is_error``, or a
traceback in it), and the failure fixtures of ``tests/unit/compressors/fixtures``, each sent
through the default pipeline as a guarded block (``compress_errors`` on) and, for comparison,
with the old rule (off: such blocks untouched). Prints, per content type, blocks, tokens before
and after, the share saved, and how many outputs kept every protected line verbatim
(``pipeline/guard.py``); then one line per fixture.

    python scripts/bench_errors.py [--corpus ../shared/corpus/corpus.jsonl]
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
from extproc.pipeline.guard import Guard  # noqa: E402
from extproc.pipeline.router import ContentType, detect  # noqa: E402
from extproc.tokens import TokenCounter  # noqa: E402

FIXTURES = ROOT / "tests" / "unit" / "compressors" / "fixtures"
FAILURES = ("pytest_verbose.txt", "pip_install.txt", "npm_install.txt", "cargo_failed.txt", "gcc_make_failed.txt",
            "maven_test.txt", "diff_u.txt", "docs_traceback.html")


def guarded_blocks(corpus: Path, policy: Policy) -> list[Block]:
    """Distinct tool results of the corpus the policy releases under the guard."""
    seen: set[str] = set()
    found = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for block in parse_body(row["format"], row["body"]).blocks:
            if block.kind is Kind.TOOL_RESULT and block.text not in seen and policy.releases(block) \
                    and policy.guards(block):
                seen.add(block.text)
                found.append(block)
    return found


def measure(pipeline: Pipeline, block: Block, tokens: TokenCounter) -> tuple[str, int, int, bool]:
    """(content type, tokens before, after, every protected line kept) for one guarded block."""
    outcome = pipeline._run_compressors(BlockInputs(block.text, block.tool_name, guarded=True), {}, Budget())
    out = outcome[0] if outcome else block.text
    envelope = open_envelope(block.text)
    inner, out_inner = (block.text, out) if envelope is None else (envelope.inner, open_envelope(out).inner)
    kind = detect(inner)
    kept = Guard(inner, is_html=kind is ContentType.HTML).kept_by(out_inner)
    return kind.value, tokens.count(block.text), tokens.count(out), kept


def table(rows: list[tuple[str, int, int, bool]], label: str) -> list[str]:
    groups: dict[str, list[tuple[str, int, int, bool]]] = defaultdict(list)
    for row in rows:
        groups[row[0]].append(row)
    groups["all"] = rows
    lines = [f"| {label} | blocks | tokens before | after | saved | protected lines all kept |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind, items in sorted(groups.items(), key=lambda item: (item[0] == "all", item[0])):
        before, after = sum(r[1] for r in items), sum(r[2] for r in items)
        saved = f"{100 * (before - after) / before:.1f}%" if before else "-"
        lines.append(f"| {kind} | {len(items)} | {before:,} | {after:,} | {saved} | "
                     f"{sum(r[3] for r in items)}/{len(items)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    args = parser.parse_args()
    settings = load_settings(env={})
    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars)
    pipeline = Pipeline(policy, default_routes(settings))
    tokens = TokenCounter()
    corpus = [measure(pipeline, block, tokens) for block in guarded_blocks(args.corpus, policy)]
    fixtures = []
    for name in FAILURES:
        text = "Exit code 1\n" + (FIXTURES / name).read_text(encoding="utf-8")
        block = Block(kind=Kind.TOOL_RESULT, role="tool", text=text, message_index=0, is_error=True, path=("x",))
        fixtures.append((name, *measure(pipeline, block, tokens)))
    print("Shared corpus, distinct guarded tool results (is_error or a traceback), per content type:\n")
    print("\n".join(table(corpus, "content type")))
    print("\nFailure fixtures (each sent as an is_error result):\n")
    print("\n".join(table([row[1:] for row in fixtures], "content type")))
    print("\n| fixture | type | tokens before | after | saved | protected lines kept |\n| --- | --- | ---: | ---: | ---: | --- |")
    for name, kind, before, after, kept in fixtures:
        print(f"| {name} | {kind} | {before:,} | {after:,} | {100 * (before - after) / before:.1f}% | {kept} |")


if __name__ == "__main__":
    main()
