"""BodyEngine.run: bytes in, one decision out, never an exception."""

from __future__ import annotations

import json
import time

import pytest

from extproc import BodyRequest, Settings, build_engine, rawjson
from extproc.codec import decode, encode
from extproc.formats import parse_body
from extproc.pipeline import BlockInputs, Budget
from extproc.tokens import TokenCounter
from tests.shelf import SHELF

from .bodies import anthropic_body, diff_paths, openai_chat_body, openai_responses_body

FIXTURES = {"openai": openai_chat_body, "anthropic": anthropic_body, "responses": openai_responses_body}
# Where each fixture's released tool results live; everything else must come back identical.
RELEASED_PATHS = {
    "openai": {("messages", 4, "content"), ("messages", 6, "content", 0, "text")},
    # the last: an is_error result, released under the error guard (compress_errors)
    "anthropic": {("messages", 2, "content", 0, "content"), ("messages", 2, "content", 2, "content", 0, "text"),
                  ("messages", 2, "content", 3, "content")},
    "responses": {("input", 4, "output"), ("input", 8, "output", 0, "text")},
}


def raw(body) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def strict_loads(data: bytes):
    def reject(name):
        raise ValueError(name)
    return json.loads(data.decode("utf-8"), parse_constant=reject)


class TestBodyEngine:
    @pytest.mark.parametrize("fmt", FIXTURES)
    def test_released_results_are_compacted(self, compressor, fmt):
        """Each fixture comes back smaller, valid JSON, changed only where tool results were released."""
        original = FIXTURES[fmt]()
        result = compressor.run(raw(original), BodyRequest(fmt))
        assert (result.outcome, result.reason, result.blocks_changed) == ("compressed", "", len(RELEASED_PATHS[fmt]))
        after = strict_loads(result.body)
        assert diff_paths(original, after) == RELEASED_PATHS[fmt]
        assert result.bytes_before == len(raw(original)) and result.bytes_after == len(result.body)
        assert result.bytes_after < result.bytes_before
        assert result.model == original["model"]

    @pytest.mark.parametrize("fmt", FIXTURES)
    def test_token_counts_add_up(self, compressor, fmt):
        """Before and after are the block token totals of the two bodies; saved is their difference."""
        tokens = TokenCounter()
        original = FIXTURES[fmt]()
        result = compressor.run(raw(original), BodyRequest(fmt))
        before = sum(tokens.count(b.text) for b in parse_body(fmt, FIXTURES[fmt]()).blocks)
        after = sum(tokens.count(b.text) for b in parse_body(fmt, strict_loads(result.body)).blocks)
        assert (result.tokens_before, result.tokens_after) == (before, after)
        assert result.tokens_before > result.tokens_after > 0
        assert result.tokens_saved == result.tokens_before - result.tokens_after

    def test_stages_are_timed(self):
        """A compressed body reports time for parse, tokens, the block cache, routing, each compressor
        run, serialise and the rest ("other"); the same body again is answered from the message
        cache, with no block looked up and no compressor run. The stages add up to the run."""
        compressor = build_engine(Settings(workers=0), shelf=SHELF)
        started = time.perf_counter()
        first = compressor.run(raw(openai_chat_body()), BodyRequest("openai"))
        elapsed = time.perf_counter() - started
        assert set(first.stage_seconds) == {"parse", "tokens", "cache", "router", "json_compact", "dedup",
                                            "serialize", "other"}
        assert 0 < sum(first.stage_seconds.values()) <= elapsed
        assert "hit" not in first.cache and first.cache["miss"] >= 1
        again = compressor.run(raw(openai_chat_body()), BodyRequest("openai"))
        assert set(again.stage_seconds) == {"parse", "tokens", "serialize", "other"}
        assert set(again.cache) == {"message_hit"} and again.body == first.body

    def test_same_body_same_bytes(self, compressor):
        """Compression is deterministic, so a resent history hits the provider's prompt cache."""
        first = compressor.run(raw(anthropic_body()), BodyRequest("anthropic"))
        second = compressor.run(raw(anthropic_body()), BodyRequest("anthropic"))
        assert first.body == second.body is not None

    def test_nothing_released_means_no_body(self, compressor):
        """A body with nothing to compress is unchanged: no new body, equal counts."""
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello there " * 40}]}
        result = compressor.run(raw(body), BodyRequest("openai"))
        assert (result.outcome, result.body, result.blocks_changed) == ("unchanged", None, 0)
        assert result.tokens_after == result.tokens_before > 0
        assert result.bytes_after == result.bytes_before == len(raw(body))

    def test_already_compact_results_are_unchanged(self, compressor):
        """Released tool results that are already compact JSON give nothing to gain."""
        compact = json.dumps({"k": "v" * 300, "n": [1, 2]}, separators=(",", ":"))
        body = {"messages": [{"role": "tool", "tool_call_id": "c", "content": compact}]}
        assert compressor.run(raw(body), BodyRequest("openai")).outcome == "unchanged"

    @pytest.mark.parametrize(("data", "fmt", "encoding", "reason"), [
        (b"not json", "openai", "identity", "invalid_json"),
        (b"", "openai", "identity", "invalid_json"),
        (b'\xef\xbb\xbf{"messages":[]}', "openai", "identity", "invalid_json"),
        ('{"messages":[]}'.encode("utf-16"), "openai", "identity", "invalid_json"),
        (b'{"messages":[{"role":"user","content":"\xff\xfe"}]}', "openai", "identity", "invalid_json"),
        (b'{"messages":[],"metadata":{"a":1,"a":2}}', "openai", "identity", "duplicate_keys"),
        (b'{"messages":[],"temperature":NaN}', "openai", "identity", "invalid_json"),
        (b'{"messages":[],"seed":-Infinity}', "openai", "identity", "invalid_json"),
        (b'{"messages":[],"seed":' + b"9" * 5000 + b"}", "openai", "identity", "invalid_json"),
        (b"[" * 100_000, "openai", "identity", "invalid_json"),
        (b'{"messages":[],"x":' + b"[" * 5000 + b"]" * 5000 + b"}", "openai", "identity", "invalid_json"),
        (b"[]", "openai", "identity", "unsupported_body"),
        (b'"messages"', "anthropic", "identity", "unsupported_body"),
        (b'{"messages":{"role":"user"}}', "openai", "identity", "unsupported_body"),
        (b'{"input":7}', "responses", "identity", "unsupported_body"),
        (b'{"messages":[]}', "gemini", "identity", "unsupported_body"),
        (b'{"messages":[]}', "openai", "br", "unsupported_encoding"),
        (b'{"messages":[]}', "openai", "gzip", "corrupt_encoding"),
    ], ids=["not-json", "empty", "bom", "utf-16", "bad-utf-8", "duplicate-keys", "nan", "infinity", "huge-int",
            "unclosed-nesting", "deep-nesting", "array", "string", "messages-object", "input-number",
            "unknown-format", "brotli", "not-gzip"])
    def test_bodies_we_cannot_read_pass_through(self, compressor, data, fmt, encoding, reason):
        """Anything trimwire cannot read safely is passed through with a reason, never raised."""
        result = compressor.run(data, BodyRequest(fmt, encoding))
        assert (result.outcome, result.reason, result.body) == ("passthrough", reason, None)
        assert result.bytes_before == len(data)

    def test_numbers_keep_their_spelling_in_a_rewritten_body(self, compressor):
        """Fields no compressor touched keep their bytes: 1e400, 1E+2, 1.10, -0, long decimals and
        huge integers are written back as the client spelled them."""
        numbers = ('{"a":1e400,"b":1E+2,"c":1.10,"d":-0,"e":1.000000000000000000001,'
                   '"f":' + "9" * 400 + ',"g":[0.5,-1e-7],"h":12}')
        body = json.loads(raw(openai_chat_body()))
        text = json.dumps(body, separators=(",", ":"))
        data = (text[:-1] + ',"metadata":' + numbers + "}").encode()
        result = compressor.run(data, BodyRequest("openai"))
        assert result.outcome == "compressed"
        assert b'"metadata":' + numbers.encode() in result.body

    def test_placeholder_shaped_strings_are_left_alone(self, compressor):
        """A body whose strings hold \\u0000 escapes keeps its strings exactly."""
        body = json.loads(raw(openai_chat_body()))
        body["metadata"] = {"note": "\u00001\u0000", "ratio": 1.5}
        result = compressor.run(json.dumps(body).encode(), BodyRequest("openai"))
        assert json.loads(result.body)["metadata"] == {"note": "\u00001\u0000", "ratio": 1.5}

    def test_only_the_changed_strings_are_rewritten(self, compressor):
        """A rewritten body is the client's text with new strings over the released ones: its
        whitespace, key order, escapes and numbers everywhere else stay byte for byte."""
        text = json.dumps(openai_chat_body(), indent=2, ensure_ascii=True).replace('"model"', '"model" ', 1)
        result = compressor.run(text.encode(), BodyRequest("openai"))
        assert result.outcome == "compressed"
        out = result.body.decode()
        doc = rawjson.scan(text, "messages")
        spans = sorted(doc.span_of(path) for path in RELEASED_PATHS["openai"])
        kept, at = [], 0
        for start, end in spans:
            kept.append(text[at:start])
            at = end
        kept.append(text[at:])
        position = 0
        for piece in kept:  # every stretch between the released strings is in the output, in order
            found = out.find(piece, position)
            assert found >= 0, piece[:80]
            position = found + len(piece)
        assert len(out) < len(text)

    @pytest.mark.parametrize("fmt", FIXTURES)
    def test_strings_after_characters_of_several_bytes_are_rewritten_in_place(self, compressor, fmt):
        """With 2-, 3- and 4-byte characters before and between the released strings (spans are
        found in characters, written in bytes), every other byte comes back as it was."""
        original = {"metadata": {"note": "Réponds ✓ 日本語 🚀"}, **FIXTURES[fmt]()}
        items = original["input" if fmt == "responses" else "messages"]
        first = items[0]  # the task: a string, or a list of parts that begins with a text part
        if isinstance(first["content"], str):
            first["content"] = "Ünïcödé ✓ 🚀 " + first["content"]
        else:
            first["content"][0]["text"] = "Ünïcödé ✓ 🚀 " + first["content"][0]["text"]
        for number in {path[1] for path in RELEASED_PATHS[fmt]}:  # inside the message, before its strings
            items[number] = {"x_note": "ß ✓ 🚀", **items[number]}
        text = json.dumps(original, ensure_ascii=False)
        result = compressor.run(text.encode(), BodyRequest(fmt))
        assert result.outcome == "compressed"
        assert diff_paths(original, strict_loads(result.body)) == RELEASED_PATHS[fmt]
        doc = rawjson.scan(text, "input" if fmt == "responses" else "messages")
        spans = sorted(doc.span_of(path) for path in RELEASED_PATHS[fmt])
        out, position, at = result.body.decode("utf-8"), 0, 0
        for start, end in spans:  # the text before each span, then one JSON string in its place
            assert out.startswith(text[at:start], position), text[at:start][:80]
            position += start - at
            assert out[position] == '"'
            _, position = json.decoder.scanstring(out, position + 1)
            at = end
        assert out[position:] == text[at:]
        assert len(out) < len(text)

    def test_body_over_max_body_bytes_passes_through(self):
        """A body over max_body_bytes is not even decoded."""
        small = build_engine(Settings(workers=0, max_body_bytes=1024), shelf=SHELF)
        result = small.run(raw(openai_chat_body()), BodyRequest("openai"))
        assert (result.outcome, result.reason, result.body) == ("passthrough", "too_large", None)

    def test_body_over_max_decoded_bytes_passes_through(self):
        """A small gzip body that inflates past max_decoded_bytes passes through as too large."""
        small = build_engine(Settings(workers=0, max_decoded_bytes=1024), shelf=SHELF)
        result = small.run(encode(raw(openai_chat_body()), "gzip"), BodyRequest("openai", "gzip"))
        assert (result.outcome, result.reason) == ("passthrough", "too_large")

    @pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "zstd"])
    def test_encoded_body_comes_back_in_its_encoding(self, compressor, encoding):
        """A gzip or zstd body is decoded, compressed and re-encoded the same way."""
        plain = compressor.run(raw(openai_chat_body()), BodyRequest("openai"))
        result = compressor.run(encode(raw(openai_chat_body()), encoding), BodyRequest("openai", encoding))
        assert (result.outcome, result.content_encoding) == ("compressed", encoding)
        assert decode(result.body, encoding, 1 << 20) == plain.body


    @pytest.mark.parametrize("fmt", FIXTURES)
    def test_edits_only_gives_the_same_body_written_by_the_caller(self, fmt):
        """With ``edits_only`` (a worker's hand-off) the body stays None and its edits, written over
        the caller's bytes, give the very body and byte count a plain run gives."""
        plain_engine, edits_engine = (build_engine(Settings(workers=0), shelf=SHELF) for _ in range(2))
        data = raw(FIXTURES[fmt]())
        plain = plain_engine.run(data, BodyRequest(fmt))
        result = edits_engine.run(data, BodyRequest(fmt, edits_only=True))
        assert result.body is None and result.edits
        assert result.bytes_after == plain.bytes_after
        assert result.with_body(data).body == plain.body and result.edits == ()

    def test_edits_only_still_encodes_an_encoded_body(self, compressor):
        """An encoded body has no byte spans the caller could write over: it comes back whole."""
        data = encode(raw(openai_chat_body()), "gzip")
        result = compressor.run(data, BodyRequest("openai", "gzip", edits_only=True))
        assert result.edits == () and decode(result.body, "gzip", 1 << 20) == \
            compressor.run(raw(openai_chat_body()), BodyRequest("openai")).body
    def test_missing_encoding_means_identity(self, compressor):
        """An empty content-encoding is reported back as identity."""
        result = compressor.run(raw(openai_chat_body()), BodyRequest("openai", ""))
        assert result.content_encoding == "identity" and result.outcome == "compressed"

    def test_non_ascii_stays_utf8(self, compressor):
        """Non-ASCII text is written back as UTF-8, not as \\u escapes."""
        body = openai_chat_body()
        body["messages"][0]["content"] = "Réponds en français, 日本語も可。"
        result = compressor.run(raw(body), BodyRequest("openai"))
        assert "Réponds en français, 日本語も可。".encode() in result.body

    def test_lone_surrogates_survive(self, compressor):
        """\\ud800-style escapes that are not valid UTF-8 come back escaped, as the same strings."""
        body = openai_chat_body()
        body["messages"][0]["content"] = "broken emoji \ud83d here"
        body["messages"][4]["content"] = json.dumps({"title": "half \udc00 pair", "rows": list(range(40))},
                                                    indent=2, ensure_ascii=False)
        data = json.dumps(body).encode("ascii")
        result = compressor.run(data, BodyRequest("openai"))
        assert result.outcome == "compressed"
        after = json.loads(result.body)
        assert after["messages"][0]["content"] == "broken emoji \ud83d here"
        assert json.loads(after["messages"][4]["content"])["title"] == "half \udc00 pair"


class TokenHeavy:
    """Applies to every block; returns fewer characters that cost more tokens."""

    name = "token_heavy"

    then = None

    def applies(self, block: BlockInputs) -> bool:
        return True

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        return "\U0001f600\u2603\u0f04" * (len(text) // 4)


class TestNeverMoreTokens:
    def test_a_change_that_costs_more_tokens_is_dropped(self):
        """Fewer characters but more tokens is no saving: the block stays, the body is unchanged."""
        from extproc import Pipeline, Policy
        from extproc.compress import BodyEngine
        from extproc.compressors.content_types import ROUTER
        from extproc.pipeline import Routes
        from extproc.pipeline.router import ContentType

        settings = Settings(workers=0)
        routes = Routes(ROUTER, dict.fromkeys(ContentType, [TokenHeavy()]))
        pipeline = Pipeline(Policy(protected_tools=(), min_block_chars=0), routes)
        compressor = BodyEngine(settings, pipeline)
        body = {"model": "m", "messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
                                          {"role": "tool", "tool_call_id": "c", "content": "hello world " * 200}]}
        assert len(TokenHeavy().compress("hello world " * 200)) < len("hello world " * 200)
        result = compressor.run(json.dumps(body).encode(), BodyRequest("openai"))
        assert result.outcome == "unchanged" and result.body is None and result.tokens_saved == 0
