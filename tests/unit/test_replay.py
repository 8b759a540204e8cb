"""Conversations replayed request by request, as an agent sends them (each request a prefix of the
next, ending after a tool result): in cache mode every message already sent comes out
byte-identical in every later request; in token mode stale file reads turn into markers.

Sessions come from ``sessions.py`` and, when it exists, from the shared corpus
(``../shared/corpus/corpus.jsonl`` next to the repository; rows have ``body`` and ``format``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extproc import BodyEngine, BodyRequest
from extproc.formats import parse_body
from extproc.pipeline.age import recent_tool_results
from extproc.pipeline.reads import file_read

from .sessions import STYLES, build, coding_session, prose_session, requests

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "corpus.jsonl"
PREFIXES_PER_ROW = 6    # requests replayed per corpus conversation, spread over its length
MARKER = "[trimwire: earlier read of "
_ITEMS = {"openai": "messages", "anthropic": "messages", "responses": "input"}
_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output")


def corpus_rows() -> list[dict[str, Any]]:
    if not CORPUS.exists():
        return []
    with CORPUS.open(encoding="utf-8") as rows:
        return [row for row in map(json.loads, rows) if row.get("format") in _ITEMS]


def corpus_param(rows: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(row, id=str(row.get("id", index))) for index, row in enumerate(rows)] or [
        pytest.param(None, marks=pytest.mark.skip(reason=f"no corpus at {CORPUS}"))]


CORPUS_ROWS = corpus_param(corpus_rows())


def encode(body: dict[str, Any]) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates survive only escaped
        return json.dumps(body).encode("ascii")


def sent_messages(compressor: BodyEngine, fmt: str, body: dict[str, Any], mode: str) -> list[str]:
    """Each message (or input item) of the compressed request as bytes, cache_control markers left out."""
    raw = encode(body)
    result = compressor.run(raw, BodyRequest(fmt, mode=mode))
    assert result.outcome in ("compressed", "unchanged"), result.reason
    out = json.loads(result.body if result.body is not None else raw)
    return [json.dumps(_without_cache_control(item), ensure_ascii=False) for item in out[_ITEMS[fmt]]]


def _without_cache_control(value: Any) -> Any:
    """Claude Code moves its cache breakpoint to the newest message on every request."""
    if isinstance(value, dict):
        return {key: _without_cache_control(child) for key, child in value.items() if key != "cache_control"}
    if isinstance(value, list):
        return [_without_cache_control(child) for child in value]
    return value


def assert_history_unchanged(compressor: BodyEngine, fmt: str, bodies: list[dict[str, Any]]) -> None:
    """Every message of each request arrives byte-identical in every later request."""
    previous: list[str] = []
    for number, body in enumerate(bodies):
        messages = sent_messages(compressor, fmt, body, "cache")
        changed = [i for i, (old, new) in enumerate(zip(previous, messages)) if old != new]
        assert not changed, f"request {number}: earlier messages {changed} differ from the previous request"
        previous = messages


def tool_result_ends(fmt: str, items: list[Any]) -> list[int]:
    """Indices after which an agent would send a request: the last item of each run of tool results."""
    def is_result(item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        if fmt == "responses":
            return item.get("type") in _OUTPUTS
        if fmt == "openai":
            return item.get("role") in ("tool", "function")
        content = item.get("content")
        return isinstance(content, list) and any(isinstance(part, dict) and part.get("type") == "tool_result"
                                                 for part in content)
    flags = [is_result(item) for item in items]
    return [i for i, flag in enumerate(flags) if flag and (i + 1 == len(items) or not flags[i + 1])]


def corpus_requests(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to PREFIXES_PER_ROW growing requests of one corpus conversation, the whole one last."""
    fmt, body = row["format"], row["body"]
    ends = tool_result_ends(fmt, body[_ITEMS[fmt]])
    step = max(1, len(ends) // PREFIXES_PER_ROW)
    cuts = sorted({*ends[step - 1::step][-PREFIXES_PER_ROW:], len(body[_ITEMS[fmt]]) - 1})
    return [body | {_ITEMS[fmt]: body[_ITEMS[fmt]][:cut + 1]} for cut in cuts]


class TestCacheReplay:
    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_session_history_is_byte_identical(self, compressor, fmt, style):
        """Each request of a growing agent session repeats every earlier message byte for byte."""
        assert_history_unchanged(compressor, fmt, requests(fmt, coding_session(style)))

    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_prose_session_history_is_byte_identical(self, compressor, fmt, style):
        """With Kompress thinning an issue thread (twice in the session), history never changes."""
        turns = prose_session(style)
        assert_history_unchanged(compressor, fmt, requests(fmt, turns))
        body = build(fmt, turns)
        assert "kompress" in compressor.run(encode(body), BodyRequest(fmt)).transforms

    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_session_is_compressed(self, compressor, fmt, style):
        """The replayed session is really compressed (the history check above is not vacuous)."""
        body = build(fmt, coding_session(style))
        assert compressor.run(encode(body), BodyRequest(fmt)).blocks_changed >= 4

    @pytest.mark.parametrize("row", CORPUS_ROWS)
    def test_corpus_history_is_byte_identical(self, compressor, row):
        """Each replayed request of a captured conversation repeats every earlier message byte for byte."""
        assert_history_unchanged(compressor, row["format"], corpus_requests(row))


class TestTokenReplay:
    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_stale_reads_become_markers_as_the_session_grows(self, compressor, fmt, style):
        """A read turns into a marker once a later edit or full read makes it stale and it is no longer recent."""
        marked: list[list[int]] = []
        for body in requests(fmt, coding_session(style)):
            messages = sent_messages(compressor, fmt, body, "token")
            marked.append([i for i, message in enumerate(messages) if MARKER in message])
        # Items: chat has system and user before the turns, the others one user item; then call, result.
        app_read, util_part = (2 * turn + (3 if fmt == "openai" else 2) for turn in (2, 3))
        assert marked[:5] == [[]] * 5                               # before the edit nothing is stale
        assert marked[5] == [app_read]                             # app.py edited at turn 5
        assert all(m == [app_read, util_part] for m in marked[6:])  # util.py read in full at turn 6

    @pytest.mark.parametrize("row", CORPUS_ROWS)
    def test_corpus_markers_replace_only_reads(self, compressor, row):
        """In token mode a marker only ever replaces a file read's result, and recent results stay whole."""
        fmt, body = row["format"], row["body"]
        before = parse_body(fmt, json.loads(encode(body)))
        after = parse_body(fmt, json.loads(compressor.run(encode(body), BodyRequest(fmt, mode="token")).body
                                           or encode(body)))
        recent = recent_tool_results(before, compressor.pipeline.protect_recent)
        for old, new in zip(before.blocks, after.blocks):
            if old in recent:
                assert new.text == old.text
            if new.text.startswith(MARKER):
                assert file_read(old.tool_name, old.tool_input) is not None
                assert not old.is_error and len(new.text) < len(old.text)
