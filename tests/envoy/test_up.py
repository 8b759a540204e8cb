"""``trimwire up`` as a user runs it: a subprocess that starts Envoy in front of an in-process
trimwire, prints a banner, proxies requests, and on SIGTERM takes Envoy down and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anthropic
import pytest

from tests.upstream import RecordingUpstream

from .bodies import anthropic_conversation, assert_only_tool_output_compressed
from .stack import (
    REPO_ROOT,
    TEST_ID_HEADER,
    RequestCapture,
    child_pids,
    free_ports,
    http_get,
    process_gone,
    recorded,
    stop_process,
    trimwire_env,
    wait_until,
)

pytestmark = pytest.mark.envoy

BANNER = "trimwire is up behind Envoy on"


class Output:
    """Collects a pipe's lines on a thread; ``closed`` is set once every writer has let go of it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self.closed = threading.Event()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.lines.append(line.decode("utf-8", "replace"))
        self.closed.set()

    @property
    def text(self) -> str:
        return "".join(self.lines)


@dataclass
class UpRun:
    proc: subprocess.Popen
    output: Output
    url: str
    listen_port: int
    envoy_pid: int
    upstream: RecordingUpstream
    ops_port: int
    api_port: int


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _envoy_child(pid: int) -> int:
    [envoy] = [c for c in child_pids(pid) if Path(f"/proc/{c}/comm").read_text().strip() == "envoy"]
    return envoy


@pytest.fixture(scope="module")
def up_run(envoy_binary: str) -> Iterator[UpRun]:
    upstream = RecordingUpstream().start()
    port, grpc_port, ops_port, api_port = free_ports(4)
    # Each address setting on its own: gRPC left to up's loopback default, the API from its env
    # var alone, metrics from the flag.
    env = trimwire_env(grpc_port, ops_port, TRIMWIRE_WORKERS="1", TRIMWIRE_API_ADDRESS=f"127.0.0.1:{api_port}")
    for name in ("TRIMWIRE_GRPC_ADDRESS", "TRIMWIRE_METRICS_ADDRESS"):
        del env[name]
    proc = subprocess.Popen(
        [sys.executable, "-m", "extproc", "up", "--listen", f"127.0.0.1:{port}", "--metrics", f"127.0.0.1:{ops_port}",
         "--openai-upstream", upstream.url, "--anthropic-upstream", upstream.url],
        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(proc.stdout)  # type: ignore[arg-type]
    try:
        wait_until(lambda: BANNER in output.text, "the `trimwire up` banner", alive=proc)
        wait_until(lambda: _accepts(port), "Envoy's listener", alive=proc)
        yield UpRun(proc, output, f"http://127.0.0.1:{port}", port, _envoy_child(proc.pid), upstream, ops_port, api_port)
    finally:
        stop_process(proc)
        upstream.stop()


def test_banner_tells_clients_where_to_point(up_run: UpRun) -> None:
    """The banner names the listener as the Anthropic and OpenAI base URLs."""
    assert f"{BANNER} {up_run.url}" in up_run.output.text
    assert f"ANTHROPIC_BASE_URL={up_run.url}\n" in up_run.output.text
    assert f"OPENAI_BASE_URL={up_run.url}/v1\n" in up_run.output.text


def test_anthropic_request_through_up_is_compressed(up_run: UpRun) -> None:
    """An Anthropic SDK request through ``trimwire up`` reaches the upstream compressed."""
    body, compressible = anthropic_conversation()
    test_id = uuid.uuid4().hex
    capture = RequestCapture()
    client = anthropic.Anthropic(base_url=up_run.url, api_key="test", max_retries=0, http_client=capture.client())
    raw = client.messages.with_raw_response.create(**body, extra_headers={TEST_ID_HEADER: test_id})
    assert raw.parse().content[0].text == "ok"
    assert int(raw.headers["x-trimwire-tokens-saved"]) > 0
    [received] = recorded(up_run.upstream, test_id)
    assert_only_tool_output_compressed(json.loads(capture.body), received.json(), compressible)


def _listening_addresses(pid: int) -> set[str]:
    """host:port of every TCP socket ``pid`` listens on (Linux /proc), hosts as dotted quads."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                host, port = cols[1].split(":")
                if host.startswith("0000000000000000FFFF0000"):  # IPv4-mapped IPv6 (gRPC binds so)
                    host = host[-8:]
                quad = ".".join(str(b) for b in bytes.fromhex(host)[::-1]) if len(host) == 8 else host
                found.add(f"{quad}:{int(port, 16)}")
    return found


def test_every_port_on_loopback_and_where_asked(up_run: UpRun) -> None:
    """trimwire's ports listen on loopback only, the API and metrics where their setting and flag say."""
    addresses = _listening_addresses(up_run.proc.pid)
    assert {f"127.0.0.1:{up_run.ops_port}", f"127.0.0.1:{up_run.api_port}"} <= addresses
    assert len(addresses) == 3 and all(a.startswith("127.0.0.1:") for a in addresses), addresses
    assert http_get(f"http://127.0.0.1:{up_run.api_port}/health").json()["status"] == "healthy"


def test_each_request_gets_a_line_and_stats_show_it(up_run: UpRun) -> None:
    """A request through Envoy with x-maas-username prints one human line with a running total,
    and `trimwire stats` and /stats on both ports show it for that user."""
    body, _ = anthropic_conversation()
    client = anthropic.Anthropic(base_url=up_run.url, api_key="test", max_retries=0)
    raw = client.messages.with_raw_response.create(**body, extra_headers={"x-maas-username": "up-user"})
    before, after = raw.headers["x-trimwire-tokens-before"], raw.headers["x-trimwire-tokens-after"]
    line = f"up-user  {body['model']}  {int(before):,} -> {int(after):,} tokens"
    wait_until(lambda: line in up_run.output.text, "the request line", timeout=30)
    assert "compressed" in up_run.output.text and "total: " in up_run.output.text
    for port in (up_run.ops_port, up_run.api_port):
        stats = http_get(f"http://127.0.0.1:{port}/stats").json()
        assert stats["users"]["up-user"]["tokens_saved"] == int(before) - int(after) > 0
    printed = subprocess.run([sys.executable, "-m", "extproc", "stats", f"http://127.0.0.1:{up_run.ops_port}"],
                             cwd=REPO_ROOT, env=trimwire_env(0, 0), capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert "up-user" in printed.stdout and body["model"] in printed.stdout and "Traceback" not in printed.stderr


def test_sigterm_exits_zero_and_stops_envoy(up_run: UpRun) -> None:
    """SIGTERM makes ``trimwire up`` exit 0 with its Envoy gone and the listener closed."""
    assert not process_gone(up_run.envoy_pid)
    up_run.proc.send_signal(signal.SIGTERM)
    assert up_run.proc.wait(60) == 0, up_run.output.text[-3000:]
    # the pipe closes only when Envoy and every worker holding it have exited too
    assert up_run.output.closed.wait(30), "something started by `trimwire up` still holds its stdout"
    assert process_gone(up_run.envoy_pid)
    assert not _accepts(up_run.listen_port)


def test_no_banner_when_envoy_does_not_listen(tmp_path: Path, envoy_binary: str) -> None:
    """An Envoy that exits instead of listening gets one sentence and exit code 1, never the banner."""
    port, ops_port = free_ports(2)
    env = trimwire_env(0, ops_port, TRIMWIRE_WORKERS="0", TRIMWIRE_ENVOY_BIN="/bin/false")
    del env["TRIMWIRE_GRPC_ADDRESS"]
    done = subprocess.run([sys.executable, "-m", "extproc", "up", "--listen", f"127.0.0.1:{port}"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and BANNER not in done.stdout and "export " not in done.stdout
    assert f"Envoy did not start listening on 127.0.0.1:{port} (it exited with code 1)" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
