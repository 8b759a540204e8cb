"""The block cache: bounded by bytes, least recently used out first, and a hit gives exactly the
bytes a fresh run would; token counts of resent blocks are not recomputed."""

from __future__ import annotations

import json

import pytest

from extproc import BodyRequest, Settings, build_engine, tokens
from extproc.messages import MessageReader
from extproc.pipeline import Routes
from extproc.pipeline.cache import MEMO_CHARS, ByteLRU, TextMemo
from extproc.tokens import TokenCounter
from tests.shelf import SHELF

from .compressors import load
from .sessions import STYLES, coding_session, requests

FIXTURES = ("pytest_verbose.txt", "pip_install.txt", "kubectl_pods.json", "github_issues.json", "grep_rn.txt",
            "rg_heading.txt", "git_diff.txt", "docs_page.html", "kubectl_get_pods.txt", "cargo_build.txt")


def tool_body(outputs: list[str]) -> bytes:
    """An OpenAI chat body with one tool call and result per output."""
    messages: list[dict] = [{"role": "user", "content": "What is going on?"}]
    for index, output in enumerate(outputs):
        messages.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{index}", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]})
        messages.append({"role": "tool", "tool_call_id": f"call_{index}", "content": output})
    return json.dumps({"model": "gpt-4o", "messages": messages}).encode()


class TestByteLRU:
    def test_evicts_least_recently_used_past_the_byte_bound(self):
        """Entries go out oldest-use first once their bytes pass the bound; a get refreshes an entry."""
        lru: ByteLRU[str] = ByteLRU(max_bytes=1000)
        for key in (b"a", b"b", b"c"):
            lru.put(key, key.decode(), 200)
        assert lru.get(b"a") == "a"
        lru.put(b"d", "d", 200)
        assert lru.get(b"b") is None and lru.get(b"a") == "a" and lru.get(b"d") == "d"
        assert lru.bytes <= 1000 and lru.stats.evictions == 1

    def test_entry_bigger_than_the_cache_is_not_stored(self):
        """A value that alone exceeds the bound is never stored and evicts nothing."""
        lru: ByteLRU[str] = ByteLRU(max_bytes=500)
        lru.put(b"small", "s", 10)
        lru.put(b"huge", "h", 10_000)
        assert lru.get(b"huge") is None and lru.get(b"small") == "s" and lru.stats.evictions == 0

    def test_zero_bytes_stores_nothing(self):
        """max_bytes 0 is a cache that never holds anything."""
        lru: ByteLRU[int] = ByteLRU(0)
        lru.put(b"k", 1, 0)
        assert len(lru) == 0 and lru.get(b"k") is None


class TestTextMemo:
    def test_a_short_texts_value_is_made_once_none_included(self):
        memo: TextMemo[int | None] = TextMemo(1 << 20)
        made: list[str] = []

        def make(text: str) -> int | None:
            made.append(text)
            return None if text == "none" else len(text)

        assert [memo.recall(text, make) for text in ("none", "abc", "none", "abc")] == [None, 3, None, 3]
        assert made == ["none", "abc"]

    def test_a_long_text_is_made_every_time(self):
        memo: TextMemo[int] = TextMemo(1 << 20)
        made: list[str] = []
        long = "x" * MEMO_CHARS
        for _ in range(2):
            assert memo.recall(long, lambda text: made.append(text) or len(text)) == MEMO_CHARS
        assert len(made) == 2 and memo.get(long) is None

    def test_past_its_bytes_everything_is_forgotten(self):
        memo: TextMemo[int] = TextMemo(400)
        memo.recall("a" * 100, len, 50)
        memo.recall("b" * 100, len, 50)  # 2 * (100 + 50 + overhead) is past 400
        assert memo.get("a" * 100) is None and memo.get("b" * 100) == 100


class TestBlockCache:
    @pytest.mark.parametrize("mode", ["cache", "token"])
    def test_a_hit_gives_the_bytes_a_fresh_run_gives(self, mode):
        """Every body, compressed again from the cache, is byte-identical to an uncached compressor's output."""
        cached = build_engine(Settings(workers=0), shelf=SHELF)
        cached.history.reader = MessageReader()  # the block cache alone, no message answered whole
        fresh = build_engine(Settings(workers=0, block_cache_bytes=0), shelf=SHELF)
        assert fresh.pipeline.cache is None and fresh.history.reader.messages is fresh.history.reader.checkpoints is None
        raw = tool_body([load(name) for name in FIXTURES])
        first = cached.run(raw, BodyRequest("openai", mode=mode))
        again = cached.run(raw, BodyRequest("openai", mode=mode))
        assert again.cache.get("hit", 0) > 0 and "miss" not in again.cache
        assert first.body == again.body == fresh.run(raw, BodyRequest("openai", mode=mode)).body is not None

    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_replayed_session_is_the_same_with_and_without_the_cache(self, fmt, style):
        """A conversation replayed turn by turn gives the same bytes every turn, cache or no cache."""
        cached = build_engine(Settings(workers=0), shelf=SHELF)
        fresh = build_engine(Settings(workers=0, block_cache_bytes=0), shelf=SHELF)
        hits = 0
        for body in requests(fmt, coding_session(style)):
            raw = json.dumps(body).encode()
            result = cached.run(raw, BodyRequest(fmt))
            hits += result.cache.get("hit", 0) + result.cache.get("message_hit", 0)
            assert result.body == fresh.run(raw, BodyRequest(fmt)).body
        assert hits > 0

    def test_other_settings_do_not_share_results(self):
        """A compressor setting change gives another config version, so no result is reused across it."""
        default = build_engine(Settings(workers=0), shelf=SHELF).pipeline
        other = build_engine(Settings(workers=0, min_block_chars=50), shelf=SHELF).pipeline
        assert default.version == other.version  # the policy is not part of a block's result
        from extproc.compressors.logs import LogCompressor
        from extproc.pipeline import BlockInputs, Pipeline
        tighter = Pipeline(default.policy, Routes(default.router, {**default.routes, next(iter(default.routes)): [LogCompressor(tail_lines=5)]}),
                           cache_bytes=1024)
        assert tighter.version != default.version
        assert default.key(BlockInputs("text", "bash")) != tighter.key(BlockInputs("text", "bash"))
        assert default.key(BlockInputs("text", "bash")) != default.key(BlockInputs("text", "grep"))

    def test_bounded_by_its_setting(self):
        """Block, message and checkpoint caches together never hold more than block_cache_bytes."""
        compressor = build_engine(Settings(workers=0, block_cache_bytes=40_000), shelf=SHELF)
        for name in FIXTURES:
            compressor.run(tool_body([load(name)]), BodyRequest("openai"))
        reader = compressor.history.reader
        held = compressor.pipeline.cache.bytes + reader.messages._lru.bytes + reader.checkpoints._lru.bytes
        assert 0 < held <= 40_000
        assert compressor.pipeline.cache.stats.evictions > 0


class TestMessageCache:
    def test_a_resent_body_is_answered_message_by_message(self):
        """The same body again is answered from the message cache: no block is looked up or counted,
        and the bytes and token counts are those of the first run and of an uncached compressor."""
        cached = build_engine(Settings(workers=0), shelf=SHELF)
        fresh = build_engine(Settings(workers=0, block_cache_bytes=0), shelf=SHELF)
        raw = tool_body([load(name) for name in FIXTURES])
        first = cached.run(raw, BodyRequest("openai"))
        again = cached.run(raw, BodyRequest("openai"))
        assert again.cache == {"message_hit": 1 + 2 * len(FIXTURES)}  # none read, no block looked up
        uncached = fresh.run(raw, BodyRequest("openai"))
        assert first.body == again.body == uncached.body is not None
        assert (again.tokens_before, again.tokens_after) == (uncached.tokens_before, uncached.tokens_after)
        assert again.blocks_changed == uncached.blocks_changed and again.transforms == uncached.transforms

    def test_a_message_answering_another_tool_is_read_again(self):
        """A cached tool result is not reused when the call it answers now names another tool: the
        same output from a protected file-read tool stays as it is."""
        compressor = build_engine(Settings(workers=0), shelf=SHELF)
        output = load("pytest_verbose.txt")
        compressed = compressor.run(tool_body([output]), BodyRequest("openai"))
        assert compressed.outcome == "compressed"
        body = json.loads(tool_body([output]))
        body["messages"][1]["tool_calls"][0]["function"]["name"] = "Read"
        result = compressor.run(json.dumps(body).encode(), BodyRequest("openai"))
        assert result.outcome == "unchanged" and result.body is None
        assert result.cache == {"message_hit": 1, "message_miss": 2}  # the user message only; Read is held

    @pytest.mark.parametrize("request_", [BodyRequest("openai", mode="token"), BodyRequest("openai", frozen_messages=1)])
    def test_only_cache_mode_without_a_frozen_prefix_uses_it(self, request_):
        """Token mode (age rules read the whole conversation) and a frozen prefix read every message."""
        compressor = build_engine(Settings(workers=0), shelf=SHELF)
        raw = tool_body([load("pytest_verbose.txt")])
        compressor.run(raw, BodyRequest("openai"))
        assert "message_hit" not in compressor.run(raw, request_).cache

    def test_only_the_new_messages_of_a_turn_are_read(self, monkeypatch):
        """A turn that adds one tool result to a cached conversation reads only that result's message
        and the call before it into blocks."""
        from extproc.formats import openai_chat
        compressor = build_engine(Settings(workers=0), shelf=SHELF)
        outputs = [load(name) for name in FIXTURES]
        compressor.run(tool_body(outputs[:-1]), BodyRequest("openai"))
        read: list[int] = []
        real = openai_chat.add_item
        monkeypatch.setattr(openai_chat, "add_item", lambda conv, index, *rest: read.append(index) or real(conv, index, *rest))
        result = compressor.run(tool_body(outputs), BodyRequest("openai"))
        assert read == [2 * len(outputs) - 1, 2 * len(outputs)]
        assert result.cache["message_hit"] == 2 * len(outputs) - 1


class TestTokenCounts:
    def test_resent_blocks_are_not_recounted(self, monkeypatch):
        """The second request with the same blocks counts no token of them again."""
        counter = TokenCounter()
        calls: list[int] = []
        real = counter._count
        monkeypatch.setattr(counter, "_count", lambda text: calls.append(len(text)) or real(text))
        text = load("pytest_verbose.txt")
        assert counter.count(text) == counter.count(text) > 0
        assert len(calls) == 1

    def test_a_long_text_handed_out_again_is_found_without_hashing(self, monkeypatch):
        """The very same long string (a system prompt the message reader reuses), once it has come
        back, is found by identity; an equal copy of it is found by its digest, with the same count."""
        counter = TokenCounter()
        hashed: list[int] = []
        real = tokens.digest
        monkeypatch.setattr(tokens, "digest", lambda text: hashed.append(len(text)) or real(text))
        text = load("pytest_verbose.txt")
        low, high = tokens._SAME_OBJECT_CHARS
        assert low <= len(text) <= high
        first = counter.count(text)       # counted
        assert counter.count(text) == first and len(hashed) == 2  # remembered by digest: now held
        assert counter.count(text) == counter.count(text) == first and len(hashed) == 2
        copy = "".join(list(text))  # equal, another object
        assert copy is not text and counter.count(copy) == first and len(hashed) == 3

    def test_new_text_counted_once_is_not_held(self):
        """Tool output counted for the first time takes no place among the texts held by identity."""
        counter = TokenCounter()
        counter.count(load("pytest_verbose.txt"))
        assert not counter._same
