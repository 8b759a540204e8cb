"""A running trimwire server plus the clients a test needs: ext_proc stub, health, ops HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from extproc.server import TrimwireServer

from .envoy_stream import EnvoyStream

__all__ = ["Harness", "eventually", "http_get", "sample_value"]

_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024),
                    ("grpc.max_send_message_length", 64 * 1024 * 1024)]


@dataclass
class Harness:
    """One started server and a channel to it; ``close`` stops the server unless a test did."""

    server: TrimwireServer
    channel: grpc.aio.Channel = field(init=False)
    stopped: bool = False

    def __post_init__(self) -> None:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.server.grpc_port}",
                                                 options=_CHANNEL_OPTIONS)
        self.stub: pb_grpc.ExternalProcessorStub = pb_grpc.ExternalProcessorStub(self.channel)
        self.health: health_pb2_grpc.HealthStub = health_pb2_grpc.HealthStub(self.channel)

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.server.ops_port}"

    def stream(self) -> EnvoyStream:
        return EnvoyStream(self.stub)

    async def health_status(self, service: str = "") -> int:
        reply = await self.health.Check(health_pb2.HealthCheckRequest(service=service))
        return reply.status

    async def stop(self, grace: float = 0.0) -> None:
        self.stopped = True
        await self.server.stop(grace)

    async def metrics(self) -> dict[str, Metric]:
        """Parsed /metrics: family name as exposed (counters with ``_total``) -> family.

        prometheus_client adds a ``*_created`` timestamp gauge beside each counter and histogram;
        those belong to the client library, not to trimwire's contract, and are left out.
        """
        status, text = await http_get(self.ops_url + "/metrics")
        assert status == 200
        families: dict[str, Metric] = {}
        for family in text_string_to_metric_families(text):
            if family.type == "gauge" and family.name.endswith("_created"):
                continue
            name = family.name + "_total" if family.type == "counter" else family.name
            families[name] = family
        return families

    async def close(self) -> None:
        await self.channel.close()
        if not self.stopped:
            await self.stop(0)


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def sample_value(families: dict[str, Metric], sample_name: str, **labels: str) -> float:
    """The value of one sample (0.0 when absent, as Prometheus treats a missing series)."""
    family_name = sample_name.removesuffix("_count").removesuffix("_sum")
    family = families.get(family_name) or families.get(sample_name)
    for sample in family.samples if family else ():
        if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return 0.0


async def eventually(check: Callable[[], Awaitable[bool]], attempts: int = 200) -> None:
    """Wait for something another task does (a cancel being noticed); not a timing check."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never became true")
