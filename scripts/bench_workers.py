"""Does the worker pool use both cores? Throughput of the compression path, side by side.

Runs the same request bodies through ``CompressionWorkers`` configured three ways, in one run:
an in-process thread (workers=0), one worker process, and N worker processes, with several
requests in flight at once as a busy gateway has. Prints bodies per second and the ratios.

    python scripts/bench_workers.py [--corpus ../shared/corpus/corpus.jsonl] [--seconds 8] [--write]

``--write`` replaces the workers section of docs/benchmarks.md with the table printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.compress import BodyRequest  # noqa: E402
from extproc.config import load_settings  # noqa: E402
from extproc.formats import detect_format  # noqa: E402
from extproc.workers import CompressionWorkers, usable_cpus  # noqa: E402
from scripts._benchmarks_doc import write_section  # noqa: E402


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
    pool = CompressionWorkers(settings)
    await pool.warm_up()
    async def run(raw: bytes, request: BodyRequest) -> None:  # off the event loop, as the HTTP API calls it
        await asyncio.to_thread(pool.run_blocking, raw, request, settings.request_deadline_ms / 1000)

    for raw, request in bodies:  # warm tokenizer caches equally for every variant
        await run(raw, request)
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
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    bodies = load_bodies(args.corpus)
    cpus = usable_cpus()
    variants = [("in-process thread (workers=0)", 0), ("1 worker process", 1), (f"{cpus} worker processes", cpus)]
    rates = []
    for label, workers in variants:
        rate = await measure(workers, bodies, args.seconds, args.concurrency)
        rates.append(rate)
        print(f"{label:32s} {rate:8.1f} bodies/s", flush=True)
    base = rates[1]
    lines = [
        f"Measured by `python scripts/bench_workers.py --seconds {args.seconds:g}` on {cpus} usable CPUs "
        f"({platform.machine()}, Python {platform.python_version()}), {len(bodies)} bodies "
        f"({'shared corpus' if args.corpus.exists() else 'synthetic'}), {args.concurrency} in flight.",
        "",
        "| variant | bodies/s | vs 1 worker process |",
        "| --- | ---: | ---: |",
    ]
    for (label, _), rate in zip(variants, rates):
        lines.append(f"| {label} | {rate:.1f} | {rate / base:.2f}x |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.write:
        path = write_section("bench_workers", table)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main())
