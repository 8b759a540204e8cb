"""The operations port: ``/metrics`` (Prometheus), ``/healthz`` (liveness), ``/readyz`` (readiness),
``/stats`` (savings since start, JSON).

Separate from the gRPC port and from any API port; it serves no request content. The liveness,
readiness and stats routes are also served on the API port (``health_routes``), where
Headroom's clients look for ``/health`` and ``/stats``.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import Metrics
from .stats import SavingsStats

__all__ = ["start_ops_http", "health_routes"]


def health_routes(app: web.Application, is_ready: Callable[[], bool], stats: SavingsStats | None) -> None:
    """Liveness (``/healthz``, ``/livez``, ``/health``: 200 while the process serves), readiness
    (``/readyz``: 503 until the workers are warm) and ``/stats`` on ``app``."""
    async def live(request: web.Request) -> web.Response:
        # Headroom's clients read "healthy" from /health; the probes only read the status code
        status = "healthy" if request.path == "/health" else "ok"
        return web.json_response({"status": status, "ready": is_ready()})

    async def readyz(_: web.Request) -> web.Response:
        ready = is_ready()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def stats_handler(_: web.Request) -> web.Response:
        return web.json_response(stats.snapshot() if stats is not None else {})

    for path in ("/healthz", "/livez", "/health"):
        app.router.add_get(path, live)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/stats", stats_handler)


def _app(metrics: Metrics, is_ready: Callable[[], bool], stats: SavingsStats | None) -> web.Application:
    async def metrics_handler(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    health_routes(app, is_ready, stats)
    return app


async def start_ops_http(host: str, port: int, metrics: Metrics, is_ready: Callable[[], bool],
                         stats: SavingsStats | None = None) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (for cleanup) and the bound port (for port 0)."""
    runner = web.AppRunner(_app(metrics, is_ready, stats), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=False)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
