"""Issue 20's targets, measured: do cheap attacks still take compression away from everyone?

Two spaceless bodies (60 MiB of ``A`` in user text, gzip, about 61 KB each, through Envoy) and
four 40 MiB posts to trimwire's ``POST /v1/compress`` are sent at once; while they are in flight
15 ordinary agent requests (corpus conversations' last turns, a new nonce in the first user
message) go through Envoy, three at a time, and ``/healthz`` on the ops port is asked every
0.25 s. The stack is ``soak.py``'s (``_e2e_stack.py``: loopback upstream, the shipped Envoy
listener, ``python -m extproc serve`` with production settings and one worker per usable CPU).

The 15 are chosen first, on a fresh trimwire with no attack: the first 15 candidates that come
back compressed there. trimwire is then restarted (empty caches) before the attack, so every
ordinary request is first-seen in both runs. Prints: how many of the 15 came back compressed
(target: at least 12), /healthz's slowest answer and how many took over 2 s (target: none), what
each attack got back and when it finished, trimwire's peak RSS by process, and the worker
deaths, kills and cancellations in its log.

    python scripts/bench_hostile.py [--corpus ../shared/corpus/corpus.jsonl] [--workers N] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.workers import usable_cpus  # noqa: E402
from scripts._e2e_stack import Proc, free_port, percentile, start_envoy3, start_helper, start_trimwire  # noqa: E402
from scripts._hostile import HealthProbe, Targets, attack, prepare  # noqa: E402
from scripts.soak import HEADERS, MESSAGE_TIMEOUT_S, Conversation, _rss, load_conversations  # noqa: E402

ORDINARY = 15
NEEDED = 12
HEALTH_LIMIT_S = 2.0
ATTACK_MIX = ("spaceless_60mib_gzip",) * 2 + ("api_40mib",) * 4


def _last_turn(conv: Conversation, nonce: str) -> bytes:
    *_, last = conv.turns(nonce)
    return last


async def _ordinary(url: str, convs: list[Conversation], nonce: str, at_once: int) -> list[tuple[str, float]]:
    """Each conversation's last turn through Envoy, ``at_once`` in flight: (outcome, seconds)."""
    queue = list(convs)
    results: list[tuple[str, float]] = []

    async def agent() -> None:
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=60) as client:
            while queue:
                conv = queue.pop(0)
                started = time.monotonic()
                try:
                    response = await client.post(conv.path, content=_last_turn(conv, nonce), headers=HEADERS)
                    outcome = (response.headers.get("x-trimwire-outcome") or "missing"
                               if response.status_code == 200 else f"HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                results.append((outcome, time.monotonic() - started))

    await asyncio.gather(*(agent() for _ in range(at_once)))
    return results


class PeakRss(threading.Thread):
    """The largest resident size each process of trimwire's tree reached, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in [self.pid, *_children(self.pid)]:
                self.peak[pid] = max(self.peak[pid], _rss(pid))


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def _under_attack(envoy_url: str, targets: Targets, ops: str, convs: list[Conversation]) -> dict:
    probe = HealthProbe(ops + "/healthz")
    probe.start()
    started = time.monotonic()
    finished: list[tuple[str, str, float]] = []

    async def one(name: str) -> None:
        seen = await attack(name, targets)
        finished.append((name, seen, time.monotonic() - started))

    attacks = [asyncio.create_task(one(name)) for name in ATTACK_MIX]
    await asyncio.sleep(0.5)   # the attacks' bodies are on their way
    ordinary = await _ordinary(envoy_url, convs, f"hostile-{secrets.token_hex(6)}", 3)
    ordinary_done = time.monotonic() - started
    await asyncio.gather(*attacks)
    probe.stop()
    return {"ordinary": ordinary, "ordinary_done": ordinary_done, "attacks": finished, "probe": probe}


def _log_events(path: Path, offset: int) -> Counter:
    """Worker deaths, kills and deadline fail-opens in trimwire's log from ``offset`` (bytes) on."""
    found: Counter = Counter()
    for line in path.read_bytes()[offset:].decode(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            found["non-JSON line"] += 1
            continue
        if isinstance(entry, dict) and entry.get("event") in ("worker_died", "worker_killed"):
            found[entry["event"]] += 1
        elif isinstance(entry, dict) and entry.get("event") == "request" and entry.get("reason") == "deadline":
            found["request failed open at its deadline"] += 1
    return found


def _trimwire(workdir: Path, port: int, api_port: int, workers: int) -> Proc:
    return start_trimwire(workdir, port, workers, {"TRIMWIRE_API_ADDRESS": f"127.0.0.1:{api_port}",
                                                    "TRIMWIRE_LOG_LEVEL": "info"})


def run(args: argparse.Namespace, workdir: Path, stack: ExitStack) -> str:
    conversations = load_conversations(args.corpus)
    prepare()
    upstream = start_helper("upstream", workdir)
    stack.callback(upstream.stop)
    port, api_port = free_port(), free_port()
    envoy = start_envoy3(workdir, f"http://127.0.0.1:{upstream.port}", free_port(), port, MESSAGE_TIMEOUT_S)
    stack.callback(envoy.stop)
    envoy_url = f"http://127.0.0.1:{envoy.ports['trimwire']}"

    calm = _trimwire(workdir, port, api_port, args.workers)
    calm_outcomes = asyncio.run(_ordinary(envoy_url, conversations, f"calm-{secrets.token_hex(6)}", 1))
    calm.stop()
    chosen = [c for c, (outcome, _) in zip(conversations, calm_outcomes) if outcome == "compressed"][:ORDINARY]

    lines = [f"bench_hostile: {args.workers} workers on {usable_cpus()} usable CPUs (load average "
             f"{os.getloadavg()[0]:.1f}); {len(chosen)} ordinary requests chosen (compressed with no attack, "
             f"of {len(conversations)} candidates)"]
    for round_number in range(1, args.rounds + 1):
        offset = calm.log.stat().st_size   # the log is appended to by every trimwire started here
        trimwire = _trimwire(workdir, port, api_port, args.workers)
        peak = PeakRss(trimwire.pid)
        peak.start()
        try:
            seen = asyncio.run(_under_attack(envoy_url, Targets(envoy_url, f"http://127.0.0.1:{api_port}"),
                                             f"http://127.0.0.1:{trimwire.ports['ops']}", chosen))
        finally:
            peak.stop.set()
            trimwire.stop()
        lines += _report(round_number, seen, peak.peak, trimwire.pid, _log_events(trimwire.log, offset))
    return "\n".join(lines)


def _report(number: int, seen: dict, peak: Counter, server: int, events: Counter) -> list[str]:
    outcomes = Counter(outcome for outcome, _ in seen["ordinary"])
    compressed = outcomes["compressed"]
    probe: HealthProbe = seen["probe"]
    slow = sum(latency > HEALTH_LIMIT_S for latency in probe.latencies)
    attacks = Counter((name, result) for name, result, _ in seen["attacks"])
    last_attack = max(t for *_, t in seen["attacks"])
    mib = 2 ** 20
    rss = ", ".join(f"{'server' if pid == server else 'worker'} {value / mib:.0f}" for pid, value in peak.items())
    ok = compressed >= NEEDED and slow == 0 and not probe.failures
    return [
        "",
        f"round {number}: {'targets met' if ok else 'targets NOT met'}",
        f"  ordinary requests compressed: {compressed} of {len(seen['ordinary'])} (target >= {NEEDED}); "
        f"outcomes {dict(outcomes)}; latency p50 / max "
        f"{percentile([s for _, s in seen['ordinary']], 0.5) * 1000:.0f} / "
        f"{max(s for _, s in seen['ordinary']) * 1000:.0f} ms; all answered by {seen['ordinary_done']:.1f} s",
        f"  /healthz: {len(probe.latencies)} answers, slowest {max(probe.latencies) * 1000:.0f} ms, "
        f"p99 {percentile(probe.latencies, 0.99) * 1000:.0f} ms, over {HEALTH_LIMIT_S:g} s: {slow}, "
        f"failed: {dict(probe.failures) or 0}",
        f"  attacks: {', '.join(f'{name} -> {result} x{n}' for (name, result), n in sorted(attacks.items()))}; "
        f"the last answered at {last_attack:.1f} s",
        f"  trimwire peak RSS MiB: {rss}",
        f"  trimwire log: {dict(events) or 'no worker deaths, kills or deadline fail-opens'}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--workers", type=int, default=usable_cpus())
    parser.add_argument("--rounds", type=int, default=1, help="attack rounds, each on a fresh trimwire")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trimwire-hostile-") as tmp, ExitStack() as stack:
        print(run(args, Path(tmp), stack), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
