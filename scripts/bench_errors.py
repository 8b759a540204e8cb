"""What the error guard releases and saves: failed commands' output, trimwire and Headroom side by side.

Every distinct tool result of the shared corpus that the policy guards (``is_error``, or a
traceback in it), and one failure fixture per class (``tests/unit/compressors/fixtures``: a
pytest run with failures, compiler errors, ``npm ERR!``, Java, Go and Rust traces, a ``diff``
that found differences, a ``grep`` with no match, a failed ``pip install``, a docs page showing a
traceback, JSON log records with traces in their strings), each sent as a guarded block
(``compress_errors`` on):

* trimwire: the default pipeline's compressors on the block on its own (``Pipeline``: cache
  mode, so a block comes out the same wherever it stands; no dedup);
* trimwire+dedup (corpus only): the block as the whole engine sends it in its conversation's last
  request (compressors, then dedup, ``dedup_errors`` as configured). A protected line a dedup
  pointer stands for counts as kept only when the pointer, read back from that request as sent
  (``tests/unit/dedup_resolve.py``, written apart from the code that makes pointers), gives it;
* Headroom 0.42 (``compress()``, ML off, run by ``bench_compression.HeadroomDriver`` in its own
  virtualenv under ``.bench/``): a corpus block inside its whole conversation as the agent last
  sent it, a fixture as the ``is_error`` result of a Claude Code ``Bash`` call after a question.

For both: tokens before and after (cl100k_base), the share saved, and whether every line
``pipeline/guard.py`` protects reached the model verbatim. Prints markdown tables per content
type and per fixture class; ``--write`` puts them in docs/benchmarks.md.

    python scripts/bench_errors.py [--corpus ../shared/corpus/corpus.jsonl] [--no-headroom] [--write]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc import BodyRequest, build_engine  # noqa: E402
from extproc.compressors import default_routes  # noqa: E402
from extproc.compressors.content_types import detect  # noqa: E402
from extproc.config import load_settings  # noqa: E402
from extproc.conversation import Block, Kind  # noqa: E402
from extproc.formats import parse_body  # noqa: E402
from extproc.pipeline import BlockInputs, Budget, Pipeline, Policy  # noqa: E402
from extproc.pipeline.envelope import open_envelope  # noqa: E402
from extproc.pipeline.guard import Guard  # noqa: E402
from extproc.pipeline.router import ContentType  # noqa: E402
from extproc.tokens import TokenCounter  # noqa: E402
from scripts._benchmarks_doc import publish  # noqa: E402
from scripts.bench_compression import HeadroomDriver, machine_facts, start_headroom  # noqa: E402
from tests.unit.dedup_resolve import expand  # noqa: E402

FIXTURES = ROOT / "tests" / "unit" / "compressors" / "fixtures"
# (class, fixture file or None, the command the agent ran); each result is "Exit code N\n" + file.
CLASSES = (
    ("pytest failures", "pytest_verbose.txt", "pytest -v"),
    ("compiler errors (gcc)", "gcc_make_failed.txt", "make"),
    ("compiler errors (rustc)", "cargo_failed.txt", "cargo build"),
    ("npm ERR!", "npm_install.txt", "npm install"),
    ("Java trace (Maven)", "maven_test.txt", "mvn test"),
    ("Go panic (go test)", "go_test_panic.txt", "go test -v ./..."),
    ("Rust panic (cargo test)", "cargo_test_panic.txt", "RUST_BACKTRACE=1 cargo test"),
    ("diff with differences", "diff_u.txt", "diff -u old new"),
    ("grep, no match", None, "grep -rn needle src/"),
    ("failed pip install", "pip_install.txt", "pip install -r requirements.txt"),
    ("docs page with a traceback", "docs_traceback.html", "curl -s https://docs.example.com/errors"),
    ("JSON log records with traces", "json_log_traces.json", "curl -s localhost:8080/logs"),
)


@dataclass
class Row:
    """One guarded block: its label and type, tokens before, and per tool (tokens after, kept)."""

    label: str
    kind: str
    before: int
    tools: dict[str, tuple[int, bool]]


def guarded_blocks(corpus: Path, policy: Policy) -> list[tuple[dict, Block]]:
    """Distinct tool results of the corpus the policy releases under the guard, with their row."""
    seen: set[str] = set()
    found = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for block in parse_body(row["format"], row["body"]).blocks:
            if block.kind is Kind.TOOL_RESULT and block.text not in seen and policy.releases(block) \
                    and policy.guards(block):
                seen.add(block.text)
                found.append((row, block))
    return found


def inner_guard(text: str) -> tuple[str, Guard]:
    """The block's content type and its guard, read inside a harness wrapper."""
    envelope = open_envelope(text)
    inner = text if envelope is None else envelope.inner
    kind = detect(inner)
    return str(kind), Guard(inner, is_html=kind == ContentType.HTML)


def kept(guard: Guard, text: str, out: str) -> bool:
    """Every protected line reached the model (an output left as sent keeps them all: a page's
    markup is read by its visible lines only in what the HTML compressor wrote)."""
    if out == text:
        return True
    envelope = open_envelope(out)
    return guard.kept_by(out if envelope is None else envelope.inner)


def trimwire(pipeline: Pipeline, block: Block) -> str:
    """What the pipeline's compressors make of the guarded block on its own."""
    outcome = pipeline._run_compressors(BlockInputs(block.text, block.tool_name, guarded=True), {}, Budget())
    return outcome[0] if outcome else block.text


def json_envelope(text: str) -> Any:
    """Codex's {"output": "..."}, whose lines are dedup's (a tagged wrapper's are the text's own)."""
    return open_envelope(text) if text[:64].lstrip()[:1] == "{" else None


def sent_texts(fmt: str, body: dict) -> dict[tuple[str, str | None], str]:
    """What a dedup pointer can name in a request as sent: each call's output (its first text) and
    multi-line string arguments, by (call id, None or argument name)."""
    texts: dict[tuple[str, str | None], str] = {}
    for block in parse_body(fmt, body).blocks:
        if block.tool_call_id is None:
            continue
        if block.kind is Kind.TOOL_RESULT:
            envelope = json_envelope(block.text)
            texts.setdefault((block.tool_call_id, None), block.text if envelope is None else envelope.inner)
        elif block.kind is Kind.TOOL_CALL:
            for key, value in (block.tool_input or {}).items():
                items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
                text = next((item for item in items if isinstance(item, str) and item.count("\n") >= 2), None)
                if text is not None:
                    texts[(block.tool_call_id, key)] = text
    return texts


def with_dedup(engine: Any, row: dict) -> tuple[dict, dict[tuple[str, str | None], str]]:
    """The row's last request as the whole engine sends it, and what its pointers can name."""
    raw = json.dumps(row["body"], ensure_ascii=False).encode()
    result = engine.run(raw, BodyRequest(format=row["format"]))
    body = json.loads(result.body) if result.body is not None else row["body"]
    return body, sent_texts(row["format"], body)


def resolved(out: str, texts: dict[tuple[str, str | None], str]) -> str:
    """``out`` with each pointer read back (inside a harness's JSON envelope, its output string)."""
    envelope = json_envelope(out)
    return expand(out if envelope is None else envelope.inner, texts)


def kept_resolved(guard: Guard, out: str, texts: dict[tuple[str, str | None], str]) -> bool:
    """Every protected line is in ``out`` once its pointers are read back; a pointer that does not
    read back (a range its source lacks) keeps nothing."""
    try:
        return guard.kept_by(resolved(out, texts))
    except (AssertionError, KeyError):
        return False


def at(node: Any, path: tuple) -> str | None:
    """The string at ``path`` (keys and indexes) in ``node``, or None when it is not there."""
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, str) else None


def headroom_block(driver: HeadroomDriver | None, messages: list[dict], path: tuple) -> str | None:
    """Headroom's text for the block at ``path`` (from ``messages``) of the request ``messages``."""
    if driver is None:
        return None
    answer = next(driver.answers(messages, [len(messages)]))
    if answer["error"]:
        print(f"  headroom failed a request: {answer['error']}", file=sys.stderr)
    found = at({"messages": answer["messages"]}, path)
    return found if found is not None else at({"messages": messages}, path)  # a moved block: as sent


def fixture_request(text: str, command: str) -> list[dict]:
    """A Claude Code request whose last message is the failed ``Bash`` call's ``is_error`` result."""
    return [{"role": "user", "content": f"Run `{command}` and tell me what failed."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Bash",
                                               "input": {"command": command}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "is_error": True,
                                          "content": text}]}]


def measure(label: str, text: str, outs: dict[str, str | None], tokens: TokenCounter) -> Row:
    kind, guard = inner_guard(text)
    return Row(label, kind, tokens.count(text), {tool: (tokens.count(out), kept(guard, text, out))
                                                 for tool, out in outs.items() if out is not None})


def corpus_rows(corpus: Path, policy: Policy, pipeline: Pipeline, engine: Any, driver: HeadroomDriver | None,
                tokens: TokenCounter) -> list[Row]:
    """Every guarded corpus block; the whole engine and Headroom see each conversation once, as last sent."""
    by_row: dict[str, tuple[dict, list[Block]]] = {}
    for row, block in guarded_blocks(corpus, policy):
        by_row.setdefault(row["id"], (row, []))[1].append(block)
    rows = []
    for row, blocks in by_row.values():
        messages = row["body"]["messages"]
        answer = next(driver.answers(messages, [len(messages)]))["messages"] if driver is not None else None
        ours, texts = with_dedup(engine, row)
        for block in blocks:
            theirs = at({"messages": answer}, block.path) if answer is not None else None
            if answer is not None and theirs is None:
                theirs = block.text  # Headroom moved or merged the message: counted as sent
            item = measure(row["id"], block.text, {"trimwire": trimwire(pipeline, block), "headroom": theirs},
                           tokens)
            out = at(ours, block.path)
            out = block.text if out is None else out
            _, guard = inner_guard(block.text)
            item.tools["trimwire+dedup"] = (tokens.count(out), out == block.text or kept_resolved(guard, out, texts))
            rows.append(item)
    return rows


def fixture_rows(pipeline: Pipeline, driver: HeadroomDriver | None, tokens: TokenCounter) -> list[Row]:
    rows = []
    for label, name, command in CLASSES:
        body = (FIXTURES / name).read_text(encoding="utf-8") if name else ""
        text = f"Exit code {2 if name and 'panic' in name else 1}\n{body}".rstrip("\n")
        block = Block(kind=Kind.TOOL_RESULT, role="tool", text=text, message_index=2, is_error=True,
                      path=("messages", 2, "content", 0, "content"), tool_name="Bash")
        request = fixture_request(text, command)
        rows.append(measure(label, text, {"trimwire": trimwire(pipeline, block),
                                          "headroom": headroom_block(driver, request, block.path)}, tokens))
    return rows


def pct(before: int, after: int) -> str:
    return f"{100 * (before - after) / before:.1f}%" if before else "-"


def table(rows: list[Row], label: str, tools: list[str], grouped: bool) -> list[str]:
    """Per group (content type, then all) or per row: tokens before, and per tool after, saved, kept."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.kind if grouped else f"{row.label} | {row.kind}"].append(row)
    if grouped:
        groups["all"] = rows
    head = f"| {label} | {'blocks' if grouped else 'type'} | tokens before |"
    cols = "| --- | ---: | ---: |" if grouped else "| --- | --- | ---: |"
    for tool in tools:
        head += f" {tool} after | {tool} saved | {tool} protected lines kept |"
        cols += " ---: | ---: | ---: |"
    lines = [head, cols]
    for name, items in sorted(groups.items(), key=lambda item: (item[0] == "all", item[0] if grouped else 0)):
        before = sum(r.before for r in items)
        cells = [name if not grouped else f"{name} | {len(items)}", f"{before:,}"]
        for tool in tools:
            after = sum(r.tools[tool][0] for r in items)
            kept_count = sum(r.tools[tool][1] for r in items)
            cells += [f"{after:,}", pct(before, after),
                      f"{kept_count}/{len(items)}" if grouped else ("yes" if kept_count else "**no**")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--no-headroom", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    settings = load_settings(env={})
    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars)
    pipeline = Pipeline(policy, default_routes())
    engine = build_engine(settings)
    tokens = TokenCounter()
    notes: list[str] = ["Headroom not run (--no-headroom)."] if args.no_headroom else []
    driver = None if args.no_headroom else start_headroom("default", notes)[1]
    tools = ["trimwire"] + (["headroom"] if driver is not None else [])
    try:
        corpus = corpus_rows(args.corpus, policy, pipeline, engine, driver, tokens)
        fixtures = fixture_rows(pipeline, driver, tokens)
    finally:
        if driver is not None:
            driver.close()
    command = "python scripts/bench_errors.py " + shlex.join(sys.argv[1:])
    publish("bench_errors", "\n".join([
        f"Measured by `{command.strip()}` on {machine_facts()}. {' '.join(notes)}", "",
        "Shared corpus, distinct guarded tool results (is_error or a traceback), per content type:", "",
        *table(corpus, "content type", [tools[0], "trimwire+dedup", *tools[1:]], True), "",
        "Failure fixtures, one per class, each sent as an is_error result:", "",
        *table(fixtures, "class", tools, False), "",
        "The same fixtures per content type:", "", *table(fixtures, "content type", tools, True)]), args.write)


if __name__ == "__main__":
    main()
