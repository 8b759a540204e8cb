"""The gRPC server: ExternalProcessor, health and reflection on one port, the ops HTTP port
beside it, and a graceful drain on SIGTERM/SIGINT.

Start-up order: ops port (liveness answers at once) and the HTTP compression API (503 until
ready) -> gRPC server -> compression workers warm -> gRPC health SERVING. Shutdown: health
NOT_SERVING -> stop accepting -> in-flight streams get ``drain_grace_s``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from aiohttp import web
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import tls
from ._proto import compressor_pb2_grpc
from .compressors import unavailable_compressors
from .config import Settings
from .errors import KompressUnavailable
from .grpc_api import SERVICE_NAME as COMPRESSOR_SERVICE
from .grpc_api import GrpcApiServicer
from .http_api import start_api_http
from .logging_setup import get_logger
from .metrics import Metrics
from .native_log import capture_stderr
from .ops_http import start_ops_http
from .processor import StreamProcessor
from .service import ApiService
from .stats import SavingsStats, parse_prices
from .tracing import RequestTracer, start_tracing
from .workers import WorkerPool

__all__ = ["TrimwireServer", "start_server", "serve"]

log = get_logger("trimwire.server")
_SERVICE_NAME = "envoy.service.ext_proc.v3.ExternalProcessor"
_HEALTH_NAMES = ("", _SERVICE_NAME, COMPRESSOR_SERVICE)


class _ExternalProcessor(pb_grpc.ExternalProcessorServicer):
    def __init__(self, processor: StreamProcessor, metrics: Metrics) -> None:
        self.processor = processor
        self.metrics = metrics

    def Process(self, request_iterator: Iterator[pb.ProcessingRequest],
                context: grpc.ServicerContext) -> Iterator[pb.ProcessingResponse]:
        try:  # a cancel (Envoy's reset) is counted by the processor
            yield from self.processor.process(request_iterator, context.cancel)
        except Exception as exc:  # one broken stream never affects another
            self.metrics.stream_errors.labels(type(exc).__name__).inc()
            log.warning("stream_error", error=type(exc).__name__)
            context.abort(grpc.StatusCode.INTERNAL, "trimwire stream error")


@dataclass
class TrimwireServer:
    """A running server; ``grpc_port`` and ``ops_port`` are the bound ports (useful with port 0)."""

    settings: Settings
    server: grpc.Server
    health: health.HealthServicer
    workers: WorkerPool
    metrics: Metrics
    ops_runner: web.AppRunner
    grpc_port: int
    ops_port: int
    api_runner: web.AppRunner | None = None
    api_port: int | None = None        # None when the HTTP API is disabled
    ready: bool = False
    stats: SavingsStats | None = None  # what /stats shows
    tracer: RequestTracer | None = None

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.drain_grace_s if grace is None else grace
        self.ready = False
        self.metrics.ready.set(0)
        for name in _HEALTH_NAMES:
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        log.info("draining", grace_s=grace)
        if self.api_runner is not None:
            await self.api_runner.shutdown()
        stopped = self.server.stop(grace)  # new calls refused at once; streams in flight get ``grace``
        await asyncio.get_running_loop().run_in_executor(None, stopped.wait)
        if self.api_runner is not None:
            await self.api_runner.cleanup()
        await self.ops_runner.cleanup()
        self.workers.close()
        if self.tracer is not None:
            self.tracer.shutdown()  # the spans of the drained requests still go out
        log.info("stopped")


def _grpc_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 1 if settings.so_reuseport else 0),
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", settings.keepalive_timeout_ms),
        ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


async def start_server(settings: Settings, workers: WorkerPool | None = None,
                       metrics: Metrics | None = None, stats: SavingsStats | None = None) -> TrimwireServer:
    """Build and start everything; returns once the server reports SERVING."""
    metrics = metrics or Metrics()
    stats = stats or SavingsStats(parse_prices(settings.prices))
    workers = workers or WorkerPool(settings)
    metrics.workers.set(workers.processes)
    holder: dict[str, TrimwireServer] = {}

    def is_ready() -> bool:
        return "s" in holder and holder["s"].ready

    host, _, port = settings.metrics_address.rpartition(":")
    ops_runner, ops_port = await start_ops_http(host, int(port), metrics, is_ready, stats)

    tracer = start_tracing(settings, metrics)
    processor = StreamProcessor(settings, workers, metrics, stats, tracer)
    service = ApiService(processor)
    api_runner, api_port = (await start_api_http(settings, service, metrics, is_ready, stats)
                            if settings.api_enabled else (None, None))

    # grpc's threaded server, not grpc.aio: aio leaks native memory on each stream Envoy resets
    # (grpc/grpc#43360), and Envoy resets every ext_proc stream once it has the last reply.
    server = grpc.server(ThreadPoolExecutor(max_workers=settings.stream_threads, thread_name_prefix="grpc"),
                         options=_grpc_options(settings))
    pb_grpc.add_ExternalProcessorServicer_to_server(_ExternalProcessor(processor, metrics), server)
    compressor_pb2_grpc.add_CompressorServicer_to_server(
        GrpcApiServicer(settings, service, metrics, is_ready), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in _HEALTH_NAMES:
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        (pb.DESCRIPTOR.services_by_name["ExternalProcessor"].full_name, COMPRESSOR_SERVICE,
         health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    grpc_port = (server.add_secure_port(settings.grpc_address, tls.grpc_credentials(settings))
                 if tls.enabled(settings) else server.add_insecure_port(settings.grpc_address))
    if grpc_port == 0:
        raise OSError(f"cannot bind gRPC address {settings.grpc_address}")
    server.start()

    running = TrimwireServer(settings, server, health_servicer, workers, metrics, ops_runner,
                             grpc_port, ops_port, api_runner, api_port, stats=stats, tracer=tracer)
    holder["s"] = running
    kompress = await workers.warm_up()
    metrics.kompress_status(kompress)
    if kompress.available:
        log.info("kompress_ready", model=kompress.model, provider=kompress.provider, max_batch=kompress.max_batch)
    else:
        log.warning("kompress_unavailable", reason=kompress.reason, detail=kompress.detail,
                    required=settings.kompress.required)
        if settings.kompress.required and kompress.reason != "disabled":
            await running.stop(grace=0)
            raise KompressUnavailable(kompress.reason, kompress.detail)
    for missing in unavailable_compressors():
        metrics.compressor_unavailable.labels(missing.compressor, missing.reason).set(1)
        log.warning("compressor_unavailable", compressor=missing.compressor, reason=missing.reason,
                    detail=missing.detail)
    for name in _HEALTH_NAMES:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    running.ready = True
    metrics.ready.set(1)
    log.info("serving", grpc_port=grpc_port, ops_port=ops_port, api_port=api_port, workers=workers.processes,
             tls="mutual" if settings.tls_client_ca_file else "on" if tls.enabled(settings) else "off")
    return running


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain within ``drain_grace_s``."""
    restore = capture_stderr(get_logger("trimwire.native"))  # gRPC core's own lines, into the JSON log
    try:
        running = await start_server(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()
    finally:
        restore()
