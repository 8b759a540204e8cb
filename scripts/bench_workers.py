"""Does the worker pool use both cores? Throughput of the compression path, side by side.

Runs the same request bodies through ``WorkerPool`` configured three ways, in one run:
an in-process thread (workers=0), one worker process, and N worker processes, with several
requests in flight at once as a busy gateway has. Prints bodies per second and the ratios.

The machine drifts over a run, so the variants take turns: ``--rounds`` rounds, each running
every variant for ``--seconds``, in an order that rotates from round to round. A variant's rate
is its median over the rounds, and each ratio the median of the rounds' own ratios.

    python scripts/bench_workers.py [--corpus ../shared/corpus/corpus.jsonl] [--seconds 4]
        [--rounds 3] [--write]

``--write`` replaces the workers section of docs/benchmarks.md with the table printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.compress import BodyRequest  # noqa: E402
from extproc.config import load_settings  # noqa: E402
from extproc.formats import detect_format  # noqa: E402
from extproc.workers import WorkerPool, usable_cpus  # noqa: E402
from scripts._benchmarks_doc import publish, rotated  # noqa: E402


def load_bodies(corpus: Path) -> list[tuple[bytes, BodyRequest]]:
    bodies = []
    if corpus.exists():
        for line in corpus.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            body = row["body"]
            bodies.append((json.dumps(body).encode(), BodyRequest(format=detect_format(body))))
        return bodies
    # No corpus: synthetic agent-shaped bodies with pretty JSON tool output.
    for n in range(20):
        output = json.dumps({"items": [{"id": i, "name": f"pod-{n}-{i}", "status": "Running"}
                                       for i in range(300)]}, indent=2)
        body = {"model": "m", "max_tokens": 1, "messages": [
            {"role": "user", "content": "list pods"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{n}", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": output}]}]}
        bodies.append((json.dumps(body).encode(), BodyRequest(format="anthropic")))
    return bodies


async def measure(workers: int, bodies, seconds: float, concurrency: int) -> float:
    # The block cache off: the same bodies again and again would otherwise measure cache lookups.
    settings = load_settings(env={}, workers=workers, block_cache_bytes=0)
    pool = WorkerPool(settings)
    await pool.warm_up()
    async def run(raw: bytes, request: BodyRequest) -> None:  # off the event loop, as the HTTP API calls it
        await asyncio.to_thread(pool.run_blocking, raw, request, settings.request_deadline_ms / 1000)

    # Warm every worker's token-count cache (each process has its own): one copy of each body
    # per worker, sent together, so each idle worker takes one.
    for raw, request in bodies:
        await asyncio.gather(*(run(raw, request) for _ in range(max(1, pool.processes))))
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            raw, request = bodies[i % len(bodies)]
            await run(raw, request)
            done += 1
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    pool.close()
    return done / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--seconds", type=float, default=4.0, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    bodies = load_bodies(args.corpus)
    cpus = usable_cpus()
    variants = [("in-process thread (workers=0)", 0), ("1 worker process", 1), (f"{cpus} worker processes", cpus)]
    rounds: list[list[float]] = []  # bodies/s per round, in the order of ``variants``
    for number in range(args.rounds):
        rates = [0.0] * len(variants)
        for index in rotated(range(len(variants)), number):
            label, workers = variants[index]
            rates[index] = await measure(workers, bodies, args.seconds, args.concurrency)
            print(f"round {number + 1}: {label:32s} {rates[index]:8.1f} bodies/s", flush=True)
        rounds.append(rates)
    lines = [
        f"Measured by `python scripts/bench_workers.py --seconds {args.seconds:g} --rounds {args.rounds}` on "
        f"{cpus} usable CPUs ({platform.machine()}, Python {platform.python_version()}), {len(bodies)} bodies "
        f"({'shared corpus' if args.corpus.exists() else 'synthetic'}), {args.concurrency} in flight; "
        f"{args.seconds:g} s per variant and round, the variants' order rotating from round to round.",
        "",
        "| variant | bodies/s (median of rounds) | vs 1 worker process (median of rounds) | each round |",
        "| --- | ---: | ---: | --- |",
    ]
    for index, (label, _) in enumerate(variants):
        ratios = [rates[index] / rates[1] for rates in rounds]
        each = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        lines.append(f"| {label} | {statistics.median(r[index] for r in rounds):.1f} "
                     f"| {statistics.median(ratios):.2f}x | {each} |")
    publish("bench_workers", "\n".join(lines), args.write)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main())
