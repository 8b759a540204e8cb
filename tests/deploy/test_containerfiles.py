"""The Containerfiles, which cannot be built here (no container engine), read as text and held to
the chart: same user, ports, paths, environment and entrypoint. Their HEALTHCHECK and the chart's
helm test command are run for real against a trimwire server on loopback.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .chart import NAMESPACE, RELEASE, REPO_ROOT
from .stub_trimwire import NonCompressingServer

CONTAINER_DIR = REPO_ROOT / "deploy" / "container"
FLAVOURS = ("cpu", "gpu")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse(flavour: str) -> list[list[Instruction]]:
    """The Containerfile's stages, each a list of instructions (continuation lines joined)."""
    text = (CONTAINER_DIR / f"Containerfile.{flavour}").read_text()
    lines = [line for line in text.replace("\\\n", " ").splitlines() if line.strip() and not line.lstrip().startswith("#")]
    stages: list[list[Instruction]] = []
    for line in lines:
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(Instruction(keyword.upper(), args.strip()))
    return stages


def final_stage(flavour: str) -> list[Instruction]:
    return parse(flavour)[-1]


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    return dict(pair.split("=", 1) for args in args_of(stage, "ENV") for pair in shlex.split(args))


def healthcheck_command(stage: list[Instruction]) -> list[str]:
    [check] = args_of(stage, "HEALTHCHECK")
    return json.loads(check[check.index("CMD") + 3:])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_image_matches_the_chart(render: Any, chart: Any, flavour: str) -> None:
    """User, exposed ports, config and cache paths, entrypoint and health path are the chart's."""
    values, rendered = chart.values, render("gpu" if flavour == "gpu" else "default")
    server, stage = rendered.server(), final_stage(flavour)
    assert args_of(stage, "USER") == [str(values["podSecurity"]["runAsUser"])]
    assert {int(p) for args in args_of(stage, "EXPOSE") for p in args.split()} == set(values["ports"].values())
    chart_env = {e["name"]: e["value"] for e in server["env"]}
    image_env = env_of(stage)
    assert {k: image_env[k] for k in chart_env} == chart_env
    assert "command" not in server
    assert json.loads(args_of(stage, "ENTRYPOINT")[0]) == ["trimwire"]
    assert json.loads(args_of(stage, "CMD")[0]) == server["args"]
    made = " ".join(args_of(stage, "RUN"))
    mounts = {m["mountPath"] for m in server["volumeMounts"]} - {"/tmp"}
    for path in mounts | {values["kompress"]["model"]["mountPath"]}:
        assert path in made, f"{path} is not created in the image"
    probe = server["livenessProbe"]["httpGet"]
    assert f"127.0.0.1:{values['ports']['metrics']}{probe['path']}" in healthcheck_command(stage)[2]


def test_cpu_and_gpu_images_differ_only_in_base_and_runtime() -> None:
    """Both final stages set the same user, ports, environment, entrypoint and healthcheck."""
    def surface(flavour: str) -> dict[str, Any]:
        stage = final_stage(flavour)
        return {k: args_of(stage, k) for k in ("USER", "EXPOSE", "ENTRYPOINT", "CMD", "HEALTHCHECK")} | {"ENV": env_of(stage)}

    assert surface("cpu") == surface("gpu")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_final_stage_has_no_build_tools(flavour: str) -> None:
    """The final stage copies the built venv and installs at most the Python interpreter."""
    stage = final_stage(flavour)
    assert any(i.keyword == "COPY" and i.args.startswith("--from=build /opt/trimwire") for i in stage)
    run = " ".join(args_of(stage, "RUN"))
    for tool in ("pip install", "gcc", "build-essential", "-dev", "git", "python3-venv", "python3-pip"):
        assert tool not in run, f"{tool} in the final {flavour} stage"
    installed = [words for cmd in run.split("&&") if "apt-get install" in cmd for words in cmd.split()[3:]]
    assert [w for w in installed if not w.startswith("-")] in ([], ["python3"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    grpc_port: int
    metrics_port: int
    api_port: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/v1/compress"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``trimwire serve`` on loopback with one in-process worker, stopped by its own handle."""
    grpc_port, metrics_port, api_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMWIRE_")}
    env.update(TRIMWIRE_GRPC_ADDRESS=f"127.0.0.1:{grpc_port}", TRIMWIRE_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}",
               TRIMWIRE_API_ADDRESS=f"127.0.0.1:{api_port}", TRIMWIRE_WORKERS="0", TRIMWIRE_DRAIN_GRACE_S="0")
    log = tmp_path_factory.mktemp("trimwire") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "extproc", "serve"], cwd=REPO_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _ready(metrics_port):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield Server(grpc_port, metrics_port, api_port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_healthcheck_passes_against_a_running_server(server: Server, flavour: str) -> None:
    """The image's HEALTHCHECK command succeeds against a live server's /healthz."""
    command = healthcheck_command(final_stage(flavour))
    assert command[0] == "python" and ":9090/" in command[2]
    result = _run([sys.executable, command[1], command[2].replace(":9090/", f":{server.metrics_port}/")])
    assert result.returncode == 0, result.stderr


def _smoke_test(render: Any, grpc_target: str, api_url: str | None, overrides: dict[str, Any] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    """The rendered helm test Pod's command, run here against ``grpc_target`` and ``api_url``."""
    command = render(overrides=overrides).one("Pod")["spec"]["containers"][0]["command"]
    assert command[:2] == ["python", "-c"] and command[3].endswith(".svc:50051")
    assert command[4] == ("" if api_url is None else f"http://{RELEASE}.{NAMESPACE}.svc:8080/v1/compress")
    return _run([sys.executable, "-c", command[2], grpc_target, api_url or ""])


API_OFF = {"config": {"api_enabled": False}}


def test_smoke_test_compresses_through_the_api(render: Any, server: Server) -> None:
    """Against a live trimwire: three services SERVING, and the log comes back with tokens saved."""
    result = _smoke_test(render, f"127.0.0.1:{server.grpc_port}", server.api_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" SERVING") == 3
    saved = int(result.stdout.split("tokens_saved")[1].split()[0])
    assert saved > 0


def test_smoke_test_uses_grpc_when_the_api_is_off(render: Any, server: Server) -> None:
    """With api_enabled false the log goes through trimwire.v1.Compressor instead, and still shrinks."""
    result = _smoke_test(render, f"127.0.0.1:{server.grpc_port}", None, API_OFF)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split("tokens_saved")[1].split()[0]) > 0


@pytest.mark.parametrize("api", ["http", "grpc"])
def test_smoke_test_fails_against_a_server_that_does_not_compress(render: Any, api: str) -> None:
    """Healthy, answering, but saving nothing: the helm test fails and says why."""
    with NonCompressingServer() as stub:
        result = _smoke_test(render, f"127.0.0.1:{stub.grpc_port}", stub.api_url if api == "http" else None,
                             None if api == "http" else API_OFF)
    assert result.returncode != 0
    assert result.stdout.count(" SERVING") == 3
    assert "compressed nothing" in result.stderr


def test_smoke_test_fails_when_nothing_serves(render: Any) -> None:
    """Against a port where nothing listens the helm test command fails."""
    result = _smoke_test(render, f"127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}/v1/compress")
    assert result.returncode != 0
