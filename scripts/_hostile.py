"""The hostile requests of issue 20, for ``bench_hostile.py`` (its targets) and ``soak.py --hostile``
(the same attacks mixed into the replay).

Each attack is one request an attacker can send cheaply; ``ATTACKS`` names them, and each returns
what the attacker saw (``"HTTP 200"``, ``"HTTP 503"``, an exception type). None of them should
make trimwire fail a client request, declare a healthy worker dead, or grow past its bounds.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache

import httpx

__all__ = ["ATTACKS", "Targets", "HealthProbe", "attack", "prepare", "spaceless_gzip", "api_post_body"]

MIB = 2 ** 20
SPACELESS_MIB = 60        # decoded: just under max_decoded_bytes (64 MiB), as in the report
API_POST_MIB = 40
EMBEDDINGS_MIB = 51       # over the 50 MiB buffer of the LLM routes, on a path trimwire never reads
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Targets:
    """Where the attacks go: Envoy's trimwire listener and trimwire's HTTP API."""

    envoy: str             # http://127.0.0.1:PORT
    api: str               # http://127.0.0.1:PORT


@cache
def spaceless_gzip() -> bytes:
    """An OpenAI chat body whose user text is 60 MiB of ``A``, gzip-encoded (about 61 KB)."""
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"' + b"A" * (SPACELESS_MIB * MIB) + b'"}]}'
    return gzip.compress(body, compresslevel=6)


@cache
def api_post_body(mib: int = API_POST_MIB) -> bytes:
    """A /v1/compress call of about ``mib`` MiB: one tool result holding a service log."""
    line = "2026-12-06T21:00:00Z INFO worker-3 request 7f3a took 12 ms path=/api/v1/items status=200\n"
    log = line * (mib * MIB // len(line))
    return json.dumps({"model": "m", "messages": [
        {"role": "user", "content": "Why is the service slow?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": log}]}).encode()


@cache
def _million_messages() -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "a"}] * 1_000_000}).encode()


@cache
def _embeddings() -> bytes:
    return b'{"model":"e","input":"' + b"a" * (EMBEDDINGS_MIB * MIB) + b'"}'


_CHAT = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}).encode()
_JSON = {"content-type": "application/json", "authorization": "Bearer hostile"}


async def _send(client: httpx.AsyncClient, url: str, body: bytes, headers: list[tuple[str, str]]) -> str:
    try:
        response = await client.post(url, content=body, headers=[*_JSON.items(), *headers])
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return f"HTTP {response.status_code}"


def _spaceless(t: Targets, c: httpx.AsyncClient) -> Awaitable[str]:
    return _send(c, t.envoy + "/v1/chat/completions", spaceless_gzip(), [("content-encoding", "gzip")])


def _api_big(t: Targets, c: httpx.AsyncClient) -> Awaitable[str]:
    return _send(c, t.api + "/v1/compress", api_post_body(), [])


def _api_nan(t: Targets, c: httpx.AsyncClient) -> Awaitable[str]:
    return _send(c, t.api + "/v1/compress", b'{"model":"m","messages":[{"role":"user","content":"x","n":NaN}]}', [])


def _forged_headers(t: Targets, c: httpx.AsyncClient) -> Awaitable[str]:
    return _send(c, t.envoy + "/v1/chat/completions", _CHAT,
                 [("x-trimwire-outcome", "FORGED"), ("x-trimwire-tokens-saved", "999999")])


def _two_users(t: Targets, c: httpx.AsyncClient) -> Awaitable[str]:
    return _send(c, t.envoy + "/v1/chat/completions", _CHAT,
                 [("x-maas-username", "bob"), ("x-maas-username", "alice"), ("x-trimwire-bypass", "true")])


def _million(t: Targets, c: httpx.AsyncClient) -> Awaitable[str]:
    return _send(c, t.envoy + "/v1/chat/completions", _million_messages(), [])


def _big_embeddings(t: Targets, c: httpx.AsyncClient) -> Awaitable[str]:
    return _send(c, t.envoy + "/v1/embeddings", _embeddings(), [])


ATTACKS: dict[str, Callable[[Targets, httpx.AsyncClient], Awaitable[str]]] = {
    "spaceless_60mib_gzip": _spaceless, "api_40mib": _api_big, "api_nan": _api_nan,
    "forged_headers": _forged_headers, "two_user_headers": _two_users, "million_messages": _million,
    "embeddings_51mib": _big_embeddings,
}


async def attack(name: str, targets: Targets) -> str:
    """One attack on a connection of its own; what the attacker saw."""
    async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT_S) as client:
        return await ATTACKS[name](targets, client)


def prepare() -> None:
    """Build every attack body now (seconds of CPU), not while an attack is being timed."""
    spaceless_gzip(), api_post_body(), _million_messages(), _embeddings()


class HealthProbe(threading.Thread):
    """GETs ``/healthz`` every ``every`` seconds on a thread of its own (an event loop busy sending
    40 MiB bodies must not delay it) until ``stop``; keeps each answer's latency."""

    def __init__(self, url: str, every: float = 0.25) -> None:
        super().__init__(name="healthz-probe", daemon=True)
        self.url, self.every = url, every
        self.latencies: list[float] = []
        self.failures: Counter = Counter()
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(trust_env=False, timeout=30) as client:
            while not self.halt.is_set():
                started = time.monotonic()
                try:
                    response = client.get(self.url)
                    if response.status_code != 200:
                        self.failures[f"HTTP {response.status_code}"] += 1
                except httpx.HTTPError as exc:
                    self.failures[type(exc).__name__] += 1
                self.latencies.append(time.monotonic() - started)
                self.halt.wait(self.every)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=60)
