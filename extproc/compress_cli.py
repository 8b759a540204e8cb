"""``trimwire compress``: captured request bodies compressed offline, as the server would.

Reads one JSON body, a ``.jsonl`` of bodies (or corpus rows ``{"format", "body"}``), or stdin;
writes each body (compressed where anything shrank) to stdout, or with ``--diff`` what changed in
each string, and one line per body plus a totals line on stderr. The Kompress model is opened
only when a prose block appears, so a body without prose takes milliseconds, not seconds.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from .compress import BodyRequest, BodyResult, build_engine
from .config import Settings
from .errors import UnsupportedBody, UsageError
from .formats import detect_format
from .outcomes import RequestOutcome

__all__ = ["read_input", "run_compress", "string_diff"]


def read_input(name: str) -> str:
    """The text of ``name`` (``-``: stdin), or a UsageError that says what is wrong with it."""
    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"{name} is a directory; give a JSON body, a .jsonl of bodies, or - for stdin")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{name} does not exist; give a JSON body, a .jsonl of bodies, or - for stdin") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text; request bodies are JSON") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None


def _bodies(text: str, jsonl: bool) -> Iterator[tuple[int, str]]:
    if not jsonl:
        yield 1, text.strip()
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def run_compress(settings: Settings, file: str, *, fmt: str = "auto", mode: str | None = None,
                 diff: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    text = read_input(file)
    engine = build_engine(settings, lazy_kompress=True)
    totals = {"bodies": 0, "compressed": 0, "before": 0, "after": 0}
    for number, line in _bodies(text, file.endswith(".jsonl")):
        raw = line.encode("utf-8")
        try:
            body = json.loads(raw)
            if isinstance(body, dict) and "body" in body and "format" in body:  # corpus rows
                body = body["body"]
                raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            name = detect_format(body) if fmt == "auto" else fmt
        except (ValueError, UnsupportedBody) as exc:
            err.write(f"#{number}: passthrough ({type(exc).__name__})\n")
            if not diff:
                out.write(line + "\n")
            continue
        result = engine.run(raw, BodyRequest(format=name, mode=mode))
        _count(totals, result)
        if diff:
            out.write(string_diff(body, json.loads(result.body) if result.body else body, f"#{number}"))
        else:
            out.write((result.body or raw).decode("utf-8") + "\n")
        err.write(f"#{number}: format={name} outcome={result.outcome} tokens_before={result.tokens_before} "
                  f"tokens_after={result.tokens_after} saved={result.tokens_saved}"
                  + (f" transforms={','.join(result.transforms)}" if result.transforms else "") + "\n")
    if file.endswith(".jsonl") or totals["bodies"] > 1:
        before, after = totals["before"], totals["after"]
        share = f" ({100 * (before - after) / before:.1f}%)" if before else ""
        err.write(f"total: {totals['bodies']} bodies, {totals['compressed']} compressed, tokens {before:,} -> "
                  f"{after:,}, saved {before - after:,}{share}\n")
    return 0


def _count(totals: dict[str, int], result: BodyResult) -> None:
    totals["bodies"] += 1
    totals["compressed"] += result.outcome == RequestOutcome.COMPRESSED
    totals["before"] += result.tokens_before
    totals["after"] += result.tokens_after


def _strings(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    else:
        yield path, value


def string_diff(before: Any, after: Any, label: str) -> str:
    """A unified diff of each string that changed between two bodies of the same shape."""
    old = dict(_strings(before, ""))
    chunks: list[str] = []
    for path, new in _strings(after, ""):
        was = old.get(path)
        if isinstance(new, str) and isinstance(was, str) and new != was:
            lines = difflib.unified_diff(was.splitlines(keepends=True), new.splitlines(keepends=True),
                                         f"{label} {path} (sent)", f"{label} {path} (compressed)")
            chunks.extend(line if line.endswith("\n") else line + "\n" for line in lines)
    return "".join(chunks) or f"{label}: nothing changed\n"
