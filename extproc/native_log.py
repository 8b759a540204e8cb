"""What native code writes to stderr, turned into the JSON log: one line each, rate-limited.

gRPC's C core logs failed TLS handshakes and other transport errors straight to file descriptor
2 (400 junk connections once wrote 210 plain-text lines into a JSON log), and a worker process
that aborts in native code writes a backtrace there. ``capture_stderr`` (``trimwire serve``)
points descriptor 2 at a pipe, inherited by the worker processes, and a thread turns each line
into a ``native_log`` warning. A line in the C core's format (``E0000 00:00:... file.cc:12]
message``) keeps its severity, source file and message (sanitised, cut to 200 characters: they
name peers and errors, never request content); any other line (a traceback, a backtrace) is
counted by its length only, since Python or Rust may quote a value in it. At most ``BURST``
lines per ``WINDOW_S``; the rest are counted in one ``native_log_suppressed`` line.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["capture_stderr", "NativeLines", "BURST", "WINDOW_S"]

BURST = 20
WINDOW_S = 60.0
_CORE = re.compile(r"^([EWIF])\d{4} [\d:.]+\s+\d+ ([\w./-]+:\d+)\] (.*)$")
_SEVERITY = {"E": "error", "W": "warning", "I": "info", "F": "fatal"}
_UNSAFE = re.compile(r"[^\x20-\x7e]")
_F_SETPIPE_SZ = 1031   # Linux fcntl
_PIPE_BYTES = 1 << 20


class NativeLines:
    """Turns stderr lines into log calls, at most ``burst`` per ``window`` seconds."""

    def __init__(self, log: Any, burst: int = BURST, window: float = WINDOW_S) -> None:
        self.log, self.burst, self.window = log, burst, window
        self._started = time.monotonic()
        self._logged = 0
        self._suppressed = 0

    def line(self, raw: bytes) -> None:
        now = time.monotonic()
        if now - self._started >= self.window:
            if self._suppressed:
                self.log.warning("native_log_suppressed", lines=self._suppressed, window_s=self.window)
            self._started, self._logged, self._suppressed = now, 0, 0
        if self._logged >= self.burst:
            self._suppressed += 1
            return
        self._logged += 1
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        core = _CORE.match(text)
        if core is not None:
            severity, source, message = core.groups()
            self.log.warning("native_log", source=source, severity=_SEVERITY[severity],
                             message=_UNSAFE.sub("?", message)[:200])
        else:
            self.log.warning("native_log", source="stderr", chars=len(text))


def capture_stderr(log: Any) -> Callable[[], None]:
    """Send everything written to descriptor 2 from now on (this process and the workers it
    starts) through ``NativeLines`` into the JSON log; returns what puts the old stderr back
    (for the CLI's one-sentence errors on the way out)."""
    read_end, write_end = os.pipe()
    try:  # room for a burst, so a writer (gRPC's C threads) does not wait for the reader
        fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    lines = NativeLines(log)

    def pump() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *whole, pending = pending.split(b"\n")
                if len(pending) > _PIPE_BYTES:  # a line without end: counted as one
                    whole.append(pending)
                    pending = b""
                for raw in whole:
                    if raw.strip():
                        lines.line(raw)

    threading.Thread(target=pump, name="native-log", daemon=True).start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(saved, 2)

    return restore
