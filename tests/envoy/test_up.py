"""``trimwire up`` as a user runs it: a subprocess that starts Envoy in front of an in-process
trimwire, prints a banner, proxies requests, and on SIGTERM takes Envoy down and exits 0.
"""

from __future__ import annotations

import json
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
from .stack import (REPO_ROOT, TEST_ID_HEADER, RequestCapture, child_pids, free_ports, process_gone, recorded,
                    stop_process, trimwire_env, wait_until)

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


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _envoy_child(pid: int) -> int:
    [envoy] = [c for c in child_pids(pid) if Path(f"/proc/{c}/comm").read_text().strip() == "envoy"]
    return envoy


@pytest.fixture(scope="module")
def up_run(envoy_binary: str) -> Iterator[UpRun]:
    upstream = RecordingUpstream().start()
    port, grpc_port, ops_port = free_ports(3)
    env = trimwire_env(grpc_port, ops_port, TRIMWIRE_WORKERS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "extproc", "up", "--listen", f"127.0.0.1:{port}",
         "--openai-upstream", upstream.url, "--anthropic-upstream", upstream.url],
        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(proc.stdout)  # type: ignore[arg-type]
    try:
        wait_until(lambda: BANNER in output.text, "the `trimwire up` banner", alive=proc)
        wait_until(lambda: _accepts(port), "Envoy's listener", alive=proc)
        yield UpRun(proc, output, f"http://127.0.0.1:{port}", port, _envoy_child(proc.pid), upstream)
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


def test_sigterm_exits_zero_and_stops_envoy(up_run: UpRun) -> None:
    """SIGTERM makes ``trimwire up`` exit 0 with its Envoy gone and the listener closed."""
    assert not process_gone(up_run.envoy_pid)
    up_run.proc.send_signal(signal.SIGTERM)
    assert up_run.proc.wait(60) == 0, up_run.output.text[-3000:]
    # the pipe closes only when Envoy and every worker holding it have exited too
    assert up_run.output.closed.wait(30), "something started by `trimwire up` still holds its stdout"
    assert process_gone(up_run.envoy_pid)
    assert not _accepts(up_run.listen_port)
