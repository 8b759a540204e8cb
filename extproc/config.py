"""Frozen service settings, loaded once at start-up from an optional YAML file and env vars.

Precedence: defaults < YAML file (``TRIMWIRE_CONFIG`` or ``--config``) < ``TRIMWIRE_<FIELD>`` env
vars. Every value is validated here, so a bad one stops start-up with a message naming it; the
rest of the code trusts the object it is handed. A reload builds a new object.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .metrics import UNKNOWN_LABEL, sanitise
from .stats import parse_prices

__all__ = ["KompressSettings", "Settings", "load_settings", "ENV_PREFIX", "MODES", "KOMPRESS_DEVICES"]

ENV_PREFIX = "TRIMWIRE_"

DEFAULT_GRPC_ADDRESS = "0.0.0.0:50051"
DEFAULT_METRICS_ADDRESS = "0.0.0.0:9090"
DEFAULT_API_ADDRESS = "0.0.0.0:8080"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_STREAM_THREADS = 1024
DEFAULT_MAX_BODY_BYTES = 48 * 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024
MIN_WORKER_MEMORY_MB = 256  # below it no worker loads its tokenizer and model
DEFAULT_REQUEST_DEADLINE_MS = 2500
DEFAULT_DRAIN_GRACE_S = 15.0
DEFAULT_HEADER_PREFIX = "x-trimwire-"
DEFAULT_BYPASS_HEADER = "x-trimwire-bypass"
DEFAULT_USER_HEADER = "x-maas-username"
DEFAULT_USER_LABEL_LIMIT = 1000
DEFAULT_MIN_BLOCK_CHARS = 200
# Tools whose output the agent edits against: it must reach the model byte for byte.
DEFAULT_PROTECTED_TOOLS = (
    "Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "NotebookRead",
    "read_file", "write_file", "edit_file", "create_file", "apply_patch",
    "str_replace_editor", "str_replace_based_edit_tool", "view", "view_file",
)
# cache: a block's treatment depends only on its own text (prompt-cache safe); token: age rules too.
DEFAULT_MODE = "cache"
MODES = ("cache", "token")
DEFAULT_PROTECT_RECENT_TOOL_RESULTS = 2
# dedup (pipeline/dedup.py): a repeated run of lines is replaced only when its tokens are at least
# this many times its pointer's.
DEFAULT_DEDUP_MARGIN = 1.5
# Per compression worker: what the compressors made of each block seen before (pipeline/cache.py).
DEFAULT_BLOCK_CACHE_BYTES = 64 * 1024 * 1024
DEFAULT_REDIS_TIMEOUT_MS = 50

# Kompress (compressors/kompress): the ONNX word-importance model for prose.
KOMPRESS_DEVICES = ("auto", "cuda", "cpu")
DEFAULT_KOMPRESS_KEEP_RATIO = 0.6
DEFAULT_KOMPRESS_MIN_CHARS = 600
DEFAULT_KOMPRESS_MAX_BATCH = 16
DEFAULT_KOMPRESS_MAX_WAIT_MS = 2.0
DEFAULT_KOMPRESS_QUEUE_CHUNKS = 256

_USER_LABEL_MODES = ("raw", "hash", "drop")
_LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, kw_only=True)
class KompressSettings:
    """The ``kompress:`` section: which model, where it runs, how much prose it keeps."""

    enabled: bool = True
    device: str = "auto"               # auto: CUDA when onnxruntime-gpu finds a GPU, else CPU
    model_dir: str = ""                # an upstream model on disk; empty: the embedded default
    # Share of a prose block's words kept; threshold > 0 keeps words scored at least that instead.
    keep_ratio: float = DEFAULT_KOMPRESS_KEEP_RATIO
    threshold: float = 0.0
    min_chars: int = DEFAULT_KOMPRESS_MIN_CHARS
    max_batch: int = DEFAULT_KOMPRESS_MAX_BATCH          # chunks per inference call
    max_wait_ms: float = DEFAULT_KOMPRESS_MAX_WAIT_MS    # how long a batch waits for more chunks
    queue_chunks: int = DEFAULT_KOMPRESS_QUEUE_CHUNKS    # chunks waiting; past it a block is left alone
    threads: int = 0                   # onnxruntime intra-op threads; 0: the CPUs per worker
    cpu_arena: bool = False            # onnxruntime's CPU memory arena (docs/benchmarks.md: RSS)
    # The model cannot load: false serves with the structural compressors; true fails start-up.
    required: bool = False

    def __post_init__(self) -> None:
        if self.device not in KOMPRESS_DEVICES:
            raise ConfigError(f"kompress.device must be one of {KOMPRESS_DEVICES}, got {self.device!r}")
        if not 0.0 < self.keep_ratio <= 1.0:
            raise ConfigError(f"kompress.keep_ratio must be in (0, 1], got {self.keep_ratio!r}")
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"kompress.threshold must be in [0, 1), got {self.threshold!r}")
        for name in ("max_batch", "queue_chunks"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"kompress.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("min_chars", "threads", "max_wait_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"kompress.{name} must be >= 0, got {getattr(self, name)!r}")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything trimwire reads from its environment, validated."""

    grpc_address: str = DEFAULT_GRPC_ADDRESS
    metrics_address: str = DEFAULT_METRICS_ADDRESS
    # POST /v1/compress (http_api.py) for gateways that call a service instead of ext_proc.
    api_enabled: bool = True
    api_address: str = DEFAULT_API_ADDRESS
    # What the API takes on at once (api_limits.py); more is answered 503 with Retry-After.
    # Calls in flight, 0: half the workers (at least one), so ext_proc always keeps a worker;
    # request bytes in flight (a call without a content-length counts as max_body_bytes).
    api_max_inflight: int = 0
    api_max_inflight_bytes: int = DEFAULT_MAX_BODY_BYTES
    # TLS for the gRPC listener and the HTTP API (tls.py): a certificate and key, and with a client
    # CA, mutual TLS (clients must present a certificate it signed). Empty: plaintext (in a mesh).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # Threads of the gRPC server. An ext_proc stream holds one from the request's headers to its
    # response headers, the upstream call included: this many requests are in flight at most, and
    # more wait for a thread (past Envoy's message_timeout they go on uncompressed).
    stream_threads: int = DEFAULT_STREAM_THREADS
    so_reuseport: bool = False
    keepalive_time_ms: int = 30_000
    keepalive_timeout_ms: int = 10_000
    drain_grace_s: float = DEFAULT_DRAIN_GRACE_S
    # Compression worker processes; -1 = one per usable CPU, 0 = a thread in the server process.
    workers: int = -1
    # Per worker process: heap it may use (RLIMIT_DATA) before an allocation fails; 0 = no limit.
    # A request that blows past it fails open with MemoryError; the worker and the others go on.
    worker_memory_mb: int = 0
    request_deadline_ms: int = DEFAULT_REQUEST_DEADLINE_MS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    header_prefix: str = DEFAULT_HEADER_PREFIX
    bypass_header: str = DEFAULT_BYPASS_HEADER
    bypass_enabled: bool = True
    # Who may bypass: the user from user_header (or the Compressor API's user field), named as its
    # sanitised metric label; empty: everyone, when bypass_enabled. See bypass_allowed.
    bypass_users: tuple[str, ...] = ()
    user_header: str = DEFAULT_USER_HEADER
    user_label_mode: str = "raw"
    user_label_limit: int = DEFAULT_USER_LABEL_LIMIT
    min_block_chars: int = DEFAULT_MIN_BLOCK_CHARS
    protected_tools: tuple[str, ...] = DEFAULT_PROTECTED_TOOLS
    # Failed commands' output (is_error, tracebacks) compressed with every error and trace line
    # kept verbatim (pipeline/guard.py); false: such output is never touched.
    compress_errors: bool = True
    mode: str = DEFAULT_MODE
    protect_recent_tool_results: int = DEFAULT_PROTECT_RECENT_TOOL_RESULTS
    dedup: bool = True
    dedup_margin: float = DEFAULT_DEDUP_MARGIN
    # File reads get dedup's pointers too (to lines standing verbatim earlier); false: reads stay whole.
    dedup_reads: bool = True
    # A failed command's error and traceback lines may be pointers to their earlier verbatim copy
    # (a re-run's repeated traceback); false: the lines the error guard protects stay verbatim.
    dedup_errors: bool = True
    block_cache_bytes: int = DEFAULT_BLOCK_CACHE_BYTES
    # A Redis shared by every worker and replica (pipeline/shared_cache.py); empty: none.
    redis_url: str = ""
    redis_timeout_ms: int = DEFAULT_REDIS_TIMEOUT_MS
    log_level: str = "info"
    # Dollars per million input tokens by model pattern (``claude-sonnet-*=3``), for the money
    # /stats says was saved; first match wins. Empty: /stats gives tokens only.
    prices: tuple[str, ...] = ()
    # One OpenTelemetry span per request over OTLP (tracing.py; the exporter reads OTEL_* vars).
    tracing: bool = False
    kompress: KompressSettings = field(default_factory=KompressSettings)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_address("grpc_address", self.grpc_address)
        _check_address("metrics_address", self.metrics_address)
        _check_address("api_address", self.api_address)
        for name in ("max_message_bytes", "max_body_bytes", "max_decoded_bytes",
                     "request_deadline_ms", "keepalive_time_ms", "keepalive_timeout_ms",
                     "user_label_limit", "redis_timeout_ms", "stream_threads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("min_block_chars", "protect_recent_tool_results", "block_cache_bytes", "worker_memory_mb"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.dedup_margin < 1:
            raise ConfigError(f"dedup_margin must be >= 1 (a pointer never costs more than its run), "
                              f"got {self.dedup_margin!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.workers < -1:
            raise ConfigError(f"workers must be -1 (auto), 0 (in-process) or more, got {self.workers}")
        if self.drain_grace_s < 0:
            raise ConfigError(f"drain_grace_s must be >= 0, got {self.drain_grace_s!r}")
        if 0 < self.worker_memory_mb < MIN_WORKER_MEMORY_MB:
            raise ConfigError(f"worker_memory_mb must be 0 (no limit) or at least {MIN_WORKER_MEMORY_MB}, "
                              f"got {self.worker_memory_mb}")
        if self.api_max_inflight < 0 or self.api_max_inflight_bytes <= 0:
            raise ConfigError("api_max_inflight must be >= 0 and api_max_inflight_bytes > 0")
        if self.user_label_mode not in _USER_LABEL_MODES:
            raise ConfigError(f"user_label_mode must be one of {_USER_LABEL_MODES}, got {self.user_label_mode!r}")
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {_LOG_LEVELS}, got {self.log_level!r}")
        for name in ("header_prefix", "bypass_header", "user_header"):
            value = getattr(self, name)
            if not value or value != value.lower() or not all(c.isalnum() or c in "-_" for c in value):
                raise ConfigError(f"{name} must be a lower-case header name, got {value!r}")
        for user in self.bypass_users:
            if user != sanitise(user) or user == UNKNOWN_LABEL:
                raise ConfigError(f"bypass_users: {user!r} can never match a user (users are compared "
                                  "sanitised: letters, digits and ._@:/+- only, at most 64 characters)")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("redis_url must start with redis://, rediss:// or unix://")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("tls_cert_file and tls_key_file must be set together")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ConfigError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            path = getattr(self, name)
            if path and not os.access(path, os.R_OK):
                raise ConfigError(f"{name}: cannot read {path}")
        if self.max_body_bytes > self.max_message_bytes:
            raise ConfigError("max_body_bytes must not exceed max_message_bytes")
        try:
            parse_prices(self.prices)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def bypass_allowed(self, user: str | None) -> bool:
        """Whether a request that asks to skip compression for ``user`` may do so.

        The one rule for the ext_proc path and both compression APIs, so no entry point is a
        way around it: bypass must be enabled, and with ``bypass_users`` the user must be listed.
        The user must be listed as sanitising leaves it (its metric label): a name sanitising
        would change never matches, so ``a b`` cannot pass for ``a_b``, nor a 70-character name
        for its first 64. A request naming no user is never listed.
        """
        if not self.bypass_enabled:
            return False
        if not self.bypass_users:
            return True
        name = (user or "").strip()
        return name == sanitise(name) and name in self.bypass_users

    def replace(self, **changes: Any) -> Settings:
        """A new validated Settings with some fields changed (used by reloads and tests)."""
        return dataclasses.replace(self, **changes)


def _check_address(name: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{name} must look like HOST:PORT, got {value!r}")


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    """Turn a YAML or env value into the field's type, or say clearly why not."""
    kind = str(kind)
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            # int(True) and int(2.7) would quietly give 1 and 2
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if kind == "str":
            if not isinstance(raw, (str, int)):
                raise ValueError(raw)
            return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot read {raw!r} as {kind}") from None
    raise ConfigError(f"{name}: unsupported setting type {kind}")


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from defaults, an optional YAML file, env vars and explicit overrides.

    ``defaults`` replace the built-in defaults of some fields (``trimwire up``: loopback
    addresses); the file, env vars and overrides still win over them.

    The ``kompress:`` section reads the same way: a mapping in the file, ``TRIMWIRE_KOMPRESS_<FIELD>``
    env vars, and an override given as a KompressSettings or a mapping of its fields.
    """
    env = os.environ if env is None else env
    known = {f.name: f for f in fields(Settings) if f.name not in ("extra", "kompress")}
    values: dict[str, Any] = dict(defaults or {})
    kompress: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    loaded = _read_file(config_file or env.get(ENV_PREFIX + "CONFIG"))
    for key, raw in loaded.items():
        if key == "prices" and isinstance(raw, Mapping):  # {pattern: dollars} reads as pattern=dollars
            raw = [f"{pattern}={dollars}" for pattern, dollars in raw.items()]
        if key in known:
            values[key] = _coerce(key, known[key].type, raw)
        elif key == "kompress":
            kompress.update(_kompress_values(raw, "kompress."))
        else:
            extra[key] = raw  # sections trimwire does not own, kept for whoever reads the file

    for key, spec in known.items():
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None:
            values[key] = _coerce(ENV_PREFIX + key.upper(), spec.type, raw)
    prefix = ENV_PREFIX + "KOMPRESS_"
    kompress.update(_kompress_values({k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)},
                                     prefix, upper=True))
    for key, raw in overrides.items():
        if key == "kompress" and raw is not None:
            raw = dataclasses.asdict(raw) if isinstance(raw, KompressSettings) else raw
            kompress.update(_kompress_values(raw, "kompress."))
            continue
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        if raw is not None:  # None is an unset flag: the file and env values stand
            values[key] = _coerce(key, known[key].type, raw)
    return Settings(**values, kompress=KompressSettings(**kompress), extra=extra)


def _read_file(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping")
    return loaded


def _kompress_values(raw: Any, prefix: str, *, upper: bool = False) -> dict[str, Any]:
    """The ``kompress`` section's fields, typed; an unknown key is an error that names it."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('._')} must be a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(KompressSettings)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = prefix + (str(key).upper() if upper else str(key))
        if key not in known:
            raise ConfigError(f"unknown setting {name}")
        out[key] = _coerce(name, known[key].type, value)
    return out
