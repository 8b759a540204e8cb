"""What the compression APIs take in and give back, kept off the event loop and within bounds.

``http_api.py`` and ``grpc_api.py`` call this module; ``service.py`` compresses. Three things:

- ``Admission``: the HTTP API's calls and request bytes in flight. Past either bound a call is
  answered 503 with ``Retry-After`` before its body is read, so a burst of large posts never
  takes the server's memory, the workers ext_proc needs (calls are capped below the worker
  count), or the event loop the health endpoints answer on. Admitted calls run on the
  admission's own threads: parsing a 40 MiB body is never done on the event loop.
- ``read_messages``: a strict parse (no duplicate keys, no NaN or Infinity) that also hands back
  the ``messages`` array's own bytes. The workers splice compressed strings into those bytes, so
  the messages come back as ext_proc would send them upstream: numbers keep their spelling
  (``1.10``, ``1E+2``, ``-0``, ``1e999999``), keys their order, strings their escapes.
- ``response_body``: the response written around those bytes, always valid JSON.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import rawjson
from .errors import PassThrough

__all__ = ["Admission", "BadJson", "read_messages", "read_messages_array", "response_body", "RETRY_AFTER_S"]

RETRY_AFTER_S = 1


class BadJson(ValueError):
    """A body the APIs refuse (400 / INVALID_ARGUMENT); the message names the problem, never a value."""


class Admission:
    """Bounds on the calls and request bytes the HTTP API holds at once."""

    def __init__(self, max_calls: int, max_bytes: int) -> None:
        self.max_calls = max_calls
        self.max_bytes = max_bytes
        self.threads = ThreadPoolExecutor(max_workers=max_calls, thread_name_prefix="api")
        self._lock = threading.Lock()
        self._calls = 0
        self._bytes = 0

    def enter(self, size: int) -> bool:
        """Take a place for a call of ``size`` request bytes; False when that would pass a bound."""
        with self._lock:
            if self._calls >= self.max_calls or (self._calls and self._bytes + size > self.max_bytes):
                return False
            self._calls += 1
            self._bytes += size
            return True

    @property
    def calls(self) -> int:
        return self._calls

    def leave(self, size: int) -> None:
        with self._lock:
            self._calls -= 1
            self._bytes -= size

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)


def read_messages(raw: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The request object, and the own bytes of its ``messages`` and ``input`` values (the ones it has).

    Raises BadJson for what is not strict JSON: invalid UTF-8 or syntax, NaN or Infinity, and
    duplicate keys (parsers disagree on which wins, so no answer could keep the caller's meaning).
    """
    try:
        doc = rawjson.scan(raw.decode("utf-8"), "messages")
    except UnicodeDecodeError:
        raise BadJson("Request body is not UTF-8.") from None
    except PassThrough as exc:
        if exc.reason == "duplicate_keys":
            raise BadJson("Request body has a duplicate object key.") from None
        if "not a JSON object" in str(exc):
            raise BadJson("Request body must be a JSON object.") from None
        if "constant" in str(exc):
            raise BadJson("Invalid JSON in request body. NaN and Infinity are not JSON.") from None
        raise BadJson("Invalid JSON in request body.") from None
    return doc.body, {key: doc.text[start:end].encode("utf-8") for key, (start, end) in doc.members.items()
                      if key in ("messages", "input")}


def read_messages_array(messages_json: bytes) -> list[Any]:
    """A ``messages_json`` array (gRPC API), parsed strictly like ``read_messages``."""
    try:
        text = messages_json.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("messages_json is not UTF-8") from None
    body, _ = read_messages(('{"messages":' + text + "}").encode("utf-8"))
    return body["messages"]


def response_body(key: str, items_json: bytes, fields: dict[str, Any]) -> bytes:
    """``{key: <items_json>, ...fields}``: the items' bytes as they are, then fields that are
    plain JSON (no NaN or Infinity: ``allow_nan=False`` refuses them)."""
    rest = json.dumps(fields, ensure_ascii=True, allow_nan=False)[1:]  # '"tokens_before": ...}'
    return b"{" + json.dumps(key).encode() + b":" + items_json + (b"," + rest.encode("ascii") if fields else b"}")
