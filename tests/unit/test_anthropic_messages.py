"""The Anthropic messages adapter: blocks out, recorded changes back in, nothing else moved."""

from __future__ import annotations

import copy

import pytest

from extproc import Kind, UnsupportedBody
from extproc.formats import anthropic_messages, parse_body

from .bodies import FILE_BODY, SEARCH_RESULTS, TEST_REPORT, anthropic_body, apply, diff_paths, summary


class TestAnthropicMessages:
    def test_blocks_follow_the_content(self):
        """System, text, thinking, tool uses and tool results become blocks in body order."""
        conv = parse_body(anthropic_messages.FORMAT, anthropic_body())
        assert conv.format == "anthropic" and conv.model == "claude-opus-4-1-20250805"
        assert summary(conv) == [
            ("text", "system", None, None, False, False),
            ("text", "system", None, None, False, False),
            ("text", "user", None, None, False, True),
            ("thinking", "assistant", None, None, False, False),
            ("text", "assistant", None, None, False, True),
            ("tool_call", "assistant", "Bash", "toolu_01A", False, False),
            ("tool_call", "assistant", "Read", "toolu_01B", False, False),
            ("tool_call", "assistant", "WebSearch", "toolu_01C", False, False),
            ("tool_call", "assistant", "Bash", "toolu_01D", False, False),
            ("tool_result", "user", "Bash", "toolu_01A", False, True),
            ("tool_result", "user", "Read", "toolu_01B", False, True),
            ("tool_result", "user", "WebSearch", "toolu_01C", False, True),
            ("tool_result", "user", "Bash", "toolu_01D", True, True),
            ("text", "user", None, None, False, True),
        ]
        assert [b.message_index for b in conv.blocks] == [-1, -1, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]

    def test_tool_result_text_from_string_and_blocks(self):
        """String content is one block; block content yields its text parts and skips its images."""
        conv = parse_body(anthropic_messages.FORMAT, anthropic_body())
        results = [b.text for b in conv.blocks if b.kind is Kind.TOOL_RESULT]
        assert results[:3] == [TEST_REPORT, FILE_BODY, SEARCH_RESULTS]

    def test_tool_use_input_is_json_text(self):
        """A tool_use block reads as its input serialised, non-ASCII kept."""
        body = {"messages": [{"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "café"}}]}]}
        (block,) = parse_body(anthropic_messages.FORMAT, body).blocks
        assert (block.kind, block.tool_name, block.text) == (Kind.TOOL_CALL, "web_search", '{"query": "café"}')

    def test_string_system_is_one_read_only_block(self):
        """A plain-string system prompt is a single read-only system block."""
        conv = parse_body(anthropic_messages.FORMAT, {"system": "Be brief.", "messages": []})
        assert [(b.role, b.text, b.writable) for b in conv.blocks] == [("system", "Be brief.", False)]

    def test_text_block_with_cache_control_stays_writable(self):
        """A text block carrying cache_control is a block like any other: writable."""
        body = {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]}
        (block,) = parse_body(anthropic_messages.FORMAT, body).blocks
        assert (block.text, block.writable) == ("long context", True)

    def test_redacted_thinking_images_and_documents_give_no_block(self):
        """Non-text content is not in the model at all, so nothing can touch it."""
        conv = parse_body(anthropic_messages.FORMAT, anthropic_body())
        assert [b.kind for b in conv.blocks if b.message_index == 0] == [Kind.TEXT]
        assert [b.kind for b in conv.blocks if b.message_index == 1].count(Kind.THINKING) == 1

    def test_system_thinking_and_calls_are_read_only(self):
        """System blocks, thinking and tool_use inputs have no writer; replace refuses them."""
        conv = parse_body(anthropic_messages.FORMAT, anthropic_body())
        read_only = {(b.kind, b.role) for b in conv.blocks if not b.writable}
        assert read_only == {(Kind.TEXT, "system"), (Kind.THINKING, "assistant"), (Kind.TOOL_CALL, "assistant")}
        thinking = next(b for b in conv.blocks if b.kind is Kind.THINKING)
        with pytest.raises(ValueError, match="read-only"):
            conv.replace(thinking, "", by="test")

    def test_apply_writes_only_the_replaced_fields(self):
        """A string tool_result and a text part inside block content are rewritten, nothing else."""
        original = anthropic_body()
        conv = parse_body(anthropic_messages.FORMAT, copy.deepcopy(original))
        conv.replace(conv.blocks[9], "REPORT", by="test")
        conv.replace(conv.blocks[11], "RESULTS", by="test")
        after = apply(original, conv)
        assert diff_paths(original, after) == {
            ("messages", 2, "content", 0, "content"),
            ("messages", 2, "content", 2, "content", 0, "text"),
        }
        assert after["messages"][2]["content"][0]["content"] == "REPORT"

    def test_untouched_fields_survive_apply(self):
        """Signatures, redacted data, inputs, images, documents and cache_control are identical after apply."""
        original = anthropic_body()
        conv = parse_body(anthropic_messages.FORMAT, copy.deepcopy(original))
        conv.replace(conv.blocks[9], "REPORT", by="test")
        after = apply(original, conv)
        for key in ("system", "tools", "tool_choice", "thinking", "metadata", "max_tokens", "stream"):
            assert after[key] == original[key]
        assert after["messages"][0] == original["messages"][0]
        assert after["messages"][1] == original["messages"][1]
        assert after["messages"][1]["content"][0]["signature"] == "EqQBCkYIBxgCKkDx1cM2s0Zm"
        result = after["messages"][2]["content"][0]
        assert result == {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "REPORT",
                          "cache_control": {"type": "ephemeral"}}
        image = original["messages"][2]["content"][2]["content"][1]
        assert after["messages"][2]["content"][2]["content"][1] == image

    def test_is_error_must_be_true_exactly(self):
        """Only is_error: true marks an error; a truthy string does not."""
        body = {"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "is_error": "yes", "content": "x"},
            {"type": "tool_result", "tool_use_id": "t2", "is_error": True, "content": "y"}]}]}
        assert [b.is_error for b in parse_body(anthropic_messages.FORMAT, body).blocks] == [False, True]

    @pytest.mark.parametrize("body", [
        {"system": "s"},
        {"messages": {"role": "user", "content": "hi"}},
        {"messages": [["user", "hi"]]},
        {"messages": [{"role": "user", "content": "hi"}, "assistant: hello"]},
    ], ids=["no-messages", "messages-object", "message-array", "message-string"])
    def test_malformed_shapes_raise_unsupported(self, body):
        """messages must be an array of objects, or the body is not ours."""
        with pytest.raises(UnsupportedBody, match="messages"):
            parse_body(anthropic_messages.FORMAT, body)

    def test_unknown_block_types_are_skipped(self):
        """Block types trimwire does not know, and non-object blocks, give no block and no error."""
        body = {"messages": [{"role": "user", "content": [
            "loose string", 7, {"type": "search_result", "content": [{"type": "text", "text": "r"}]},
            {"type": "text", "text": 5}]}]}
        assert parse_body(anthropic_messages.FORMAT, body).blocks == []
