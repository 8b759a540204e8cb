"""What does a resent turn cost the compressor when the agent sends a large system prompt and tool list?

Coding agents resend their whole request every turn, and besides the messages that means the
system prompt and the tool definitions: tens of KB each for Claude Code or Codex, unchanged from
turn to turn. The shared corpus carries small ones, so this benchmark wraps its longest
conversation of each format in an agent-sized pair (about 40 KB of system prompt and 80 KB of
tool definitions, in the place each format's agents put them) and replays it turn by turn
through ``BodyEngine.run`` in one process, side by side:

* small: the corpus bodies as they are;
* large: with the large system prompt and tools;
* large, no reuse: the same, with ``messages.Surroundings`` off (every turn parses the members
  around the messages again and hashes the system prompt to find its token count);
* small, idle: the corpus bodies with the process idle ``IDLE_S`` before each turn (not timed),
  as a worker is between an agent's turns: it wakes to CPU caches that other processes, or the
  machine's idling, have emptied. Against ``small`` it says what the cold caches cost a turn,
  which a loop of back-to-back turns hides and every request through Envoy pays.

Prints the median compressor time per turn (turns 6 and later: every conversation has its
history in the caches by then), the median of its last ten turns against that of turns 6-15 (does
a turn's cost grow with the history resent before it?), and the stage split; each variant runs
``--rounds`` times with a fresh compressor, the variants taking turns. Bodies are encoded as the
agents' HTTP clients send them: UTF-8, characters outside ASCII as they are.

    python scripts/bench_turns.py [--corpus ../shared/corpus/corpus.jsonl] [--turns 200] [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.compress import BodyRequest, build_engine  # noqa: E402
from extproc.config import load_settings  # noqa: E402
from scripts._bench_measures import turn_ends  # noqa: E402
from scripts._benchmarks_doc import publish, rotated  # noqa: E402

IDLE_S = 0.005  # the idle variant's pause before each turn: about one request through the other routes

_WORDS = ("the tool must be used when the user asks for a file path and never otherwise unless the task "
          "explicitly requires it so read the workspace first then edit with care").split()


def _prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def surround(fmt: str, body: dict, rng: random.Random) -> dict:
    """``body`` with a large system prompt and tool list where that format's agents put them:
    Claude Code after the messages, Codex its instructions first, chat agents the tools after."""
    system = _prose(rng, 6500)
    tools = [{"name": f"Tool{n}", "description": _prose(rng, 350),
              "input_schema": {"type": "object", "required": ["p0"], "properties": {
                  f"p{k}": {"type": "string", "description": _prose(rng, 25)} for k in range(5)}}}
             for n in range(20)]
    if fmt == "anthropic":
        return {"model": body["model"], "messages": body["messages"], "system": [{"type": "text", "text": system}],
                "tools": tools, "metadata": {"user_id": "bench-session"}, "max_tokens": 32000, "stream": True}
    if fmt == "responses":
        return {"model": body["model"], "instructions": system, "input": body["input"], "tools": tools}
    messages = [{"role": "system", "content": system}, *body["messages"][1:]] \
        if body["messages"] and body["messages"][0].get("role") == "system" else body["messages"]
    return {"model": body["model"], "messages": messages, "tools": tools}


def _encode(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def conversations(corpus: Path, turns: int) -> list[tuple[str, str, list[bytes], list[bytes]]]:
    """(id, format, bodies as sent, bodies with the large surroundings) of each format's longest."""
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for fmt in sorted({row["format"] for row in rows}):
        row = max((r for r in rows if r["format"] == fmt), key=lambda r: len(turn_ends(r["body"]["messages"])))
        rng = random.Random(7)
        large = surround(fmt, row["body"], rng)
        small_bodies, large_bodies = [], []
        for end in turn_ends(row["body"]["messages"])[:turns]:
            small_bodies.append(_encode(dict(row["body"], messages=row["body"]["messages"][:end])))
            large_bodies.append(_encode(dict(large, messages=large["messages"][:end])))
        out.append((row["id"], fmt, small_bodies, large_bodies))
    return out


def replay(bodies: list[bytes], fmt: str, reuse: bool, idle: float = 0.0) -> tuple[list[float], dict[str, float]]:
    """Seconds per turn from turn 6 on, and mean seconds per turn by stage; ``idle`` seconds of
    sleep before each turn, outside its time."""
    compressor = build_engine(load_settings(env={}, workers=0))
    if not reuse:
        compressor.history.reader.surroundings = None
    seconds, stages = [], {}
    for raw in bodies:
        if idle:
            time.sleep(idle)
        started = time.perf_counter()
        result = compressor.run(raw, BodyRequest(format=fmt))
        seconds.append(time.perf_counter() - started)
        for stage, spent in result.stage_seconds.items():
            stages[stage] = stages.get(stage, 0.0) + spent
    return seconds[5:], {stage: spent / len(bodies) for stage, spent in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    variants = [("small (corpus)", False, True, 0.0), ("large", True, True, 0.0),
                ("large, no reuse", True, False, 0.0), (f"small, idle {IDLE_S * 1000:.0f} ms", False, True, IDLE_S)]
    lines = [
        f"Measured by `python scripts/bench_turns.py --turns {args.turns} --rounds {args.rounds}` on "
        f"{platform.machine()}, Python {platform.python_version()}; median compressor time per turn "
        "from turn 6 on, over the rounds; last 10 = the median of the last ten turns, against turns 6-15; "
        "stages are means per turn.",
        "",
        "| conversation | format | turns | last body KB (small / large) | variant | ms per turn | vs small "
        "| last 10 turns ms | vs turns 6-15 | parse | tokens |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for conv_id, fmt, small, large in conversations(args.corpus, args.turns):
        times: dict[str, list[list[float]]] = {label: [] for label, *_ in variants}  # per round
        stages: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in variants}
        for number in range(args.rounds):
            for label, is_large, reuse, idle in rotated(variants, number):
                seconds, split = replay(large if is_large else small, fmt, reuse, idle)
                times[label].append(seconds)
                stages[label].append(split)
        base = statistics.median(t for run in times[variants[0][0]] for t in run)
        size = f"{len(small[-1]) / 1024:.0f} / {len(large[-1]) / 1024:.0f}"
        for label, *_ in variants:
            median = statistics.median(t for run in times[label] for t in run)
            early = statistics.median(t for run in times[label] for t in run[:10])
            late = statistics.median(t for run in times[label] for t in run[-10:])
            parse = statistics.mean(split.get("parse", 0.0) for split in stages[label])
            tokens = statistics.mean(split.get("tokens", 0.0) for split in stages[label])
            lines.append(f"| {conv_id} | {fmt} | {len(small)} | {size} | {label} | {1000 * median:.2f} "
                         f"| {median / base:.2f}x | {1000 * late:.2f} | {late / early:.2f}x "
                         f"| {1000 * parse:.2f} | {1000 * tokens:.2f} |")
            print(lines[-1], flush=True)
    publish("bench_turns", "\n".join(lines), args.write)


if __name__ == "__main__":
    main()
