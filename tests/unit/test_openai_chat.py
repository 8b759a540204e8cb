"""The OpenAI chat-completions adapter: blocks out, recorded changes back in, nothing else moved."""

from __future__ import annotations

import copy

import pytest

from extproc import Kind, UnsupportedBody
from extproc.formats import openai_chat, parse_body

from .bodies import DIRECTORY_LISTING, SEARCH_RESULTS, apply, diff_paths, openai_chat_body, summary


class TestOpenAIChat:
    def test_blocks_follow_the_messages(self):
        """Every text, call and result becomes one block with its kind, role and tool."""
        conv = parse_body(openai_chat.FORMAT, openai_chat_body())
        assert conv.format == "openai" and conv.model == "gpt-4o-2024-08-06"
        assert summary(conv) == [
            ("text", "developer", None, None, False, False),
            ("text", "system", None, None, False, False),
            ("text", "user", None, None, False, True),
            ("tool_call", "assistant", "search_issues", "call_search_1", False, False),
            ("tool_call", "assistant", "read_file", "call_read_2", False, False),
            ("tool_call", "assistant", "list_dir", "call_ls_3", False, False),
            ("tool_result", "tool", "search_issues", "call_search_1", False, True),
            ("tool_result", "tool", "read_file", "call_read_2", False, True),
            ("tool_result", "tool", "list_dir", "call_ls_3", False, True),
            ("text", "assistant", None, None, False, True),
        ]
        assert [b.message_index for b in conv.blocks] == [0, 1, 2, 3, 3, 3, 4, 5, 6, 7]

    def test_block_text_is_the_wire_text(self):
        """A block reads exactly the string the body holds, arguments included."""
        conv = parse_body(openai_chat.FORMAT, openai_chat_body())
        texts = [b.text for b in conv.blocks]
        assert texts[3] == "{\"query\": \"timeout\", \"limit\": 3}"
        assert texts[6] == SEARCH_RESULTS and texts[8] == DIRECTORY_LISTING

    def test_image_parts_give_no_block(self):
        """An image_url part is not text, so the user message yields only its text part."""
        conv = parse_body(openai_chat.FORMAT, openai_chat_body())
        user_blocks = [b for b in conv.blocks if b.message_index == 2]
        assert [b.text for b in user_blocks] == ["Why does the upload time out? Screenshot attached."]

    def test_unknown_call_id_leaves_tool_name_empty(self):
        """A tool message whose call id was never issued keeps its id but has no tool name."""
        body = {"messages": [{"role": "tool", "tool_call_id": "call_gone", "content": "ok"}]}
        (block,) = parse_body(openai_chat.FORMAT, body).blocks
        assert (block.kind, block.tool_name, block.tool_call_id) == (Kind.TOOL_RESULT, None, "call_gone")

    def test_legacy_function_role_is_a_named_tool_result(self):
        """role: function messages are tool results named by their name field."""
        body = {"messages": [{"role": "function", "name": "get_weather", "content": "{\"temp\": 21}"}]}
        (block,) = parse_body(openai_chat.FORMAT, body).blocks
        assert (block.kind, block.tool_name, block.writable) == (Kind.TOOL_RESULT, "get_weather", True)

    def test_system_developer_and_calls_are_read_only(self):
        """System and developer prompts and tool-call arguments have no writer; replace refuses them."""
        conv = parse_body(openai_chat.FORMAT, openai_chat_body())
        read_only = [b for b in conv.blocks if not b.writable]
        assert {(b.kind, b.role) for b in read_only} == {
            (Kind.TEXT, "developer"), (Kind.TEXT, "system"), (Kind.TOOL_CALL, "assistant")}
        with pytest.raises(ValueError, match="read-only"):
            conv.replace(read_only[0], "x", by="test")

    def test_apply_writes_only_the_replaced_fields(self):
        """A string content and an array text part are rewritten; nothing else in the body moves."""
        original = openai_chat_body()
        conv = parse_body(openai_chat.FORMAT, copy.deepcopy(original))
        conv.replace(conv.blocks[6], "SEARCH", by="test")
        conv.replace(conv.blocks[8], "LISTING", by="test")
        after = apply(original, conv)
        assert diff_paths(original, after) == {("messages", 4, "content"), ("messages", 6, "content", 0, "text")}
        assert after["messages"][4]["content"] == "SEARCH"
        assert after["messages"][6]["content"] == [{"type": "text", "text": "LISTING"}]

    def test_untouched_fields_survive_apply(self):
        """Tools, tool_choice, call ids, arguments, images and unknown keys are identical after apply."""
        original = openai_chat_body()
        conv = parse_body(openai_chat.FORMAT, copy.deepcopy(original))
        conv.replace(conv.blocks[7], "{}", by="test")
        after = apply(original, conv)
        for key in ("tools", "tool_choice", "temperature", "stream", "stream_options", "x_gateway_trace", "model"):
            assert after[key] == original[key]
        assert after["messages"][3] == original["messages"][3]
        assert after["messages"][2]["content"][1] == original["messages"][2]["content"][1]
        assert after["messages"][5] == {"role": "tool", "tool_call_id": "call_read_2", "content": "{}"}

    def test_apply_without_changes_is_identity(self):
        """A conversation with no recorded change returns the body exactly as parsed."""
        conv = parse_body(openai_chat.FORMAT, openai_chat_body())
        assert not conv.changes
        assert apply(openai_chat_body(), conv) == openai_chat_body()

    @pytest.mark.parametrize("body", [
        {},
        {"messages": {"role": "user", "content": "hi"}},
        {"messages": "hi"},
        {"messages": ["hi"]},
        {"messages": [{"role": "user", "content": "hi"}, None]},
    ], ids=["no-messages", "messages-object", "messages-string", "message-string", "message-null"])
    def test_malformed_shapes_raise_unsupported(self, body):
        """messages must be an array of objects, or the body is not ours."""
        with pytest.raises(UnsupportedBody, match="messages"):
            parse_body(openai_chat.FORMAT, body)

    @pytest.mark.parametrize("tool_calls", [None, 5, "call", {"id": "x"}, [None, 3, {"function": 7}]])
    def test_junk_tool_calls_give_no_call_blocks(self, tool_calls):
        """A tool_calls value that is not an array of calls yields no call blocks and no error."""
        body = {"messages": [{"role": "assistant", "content": "done", "tool_calls": tool_calls}]}
        conv = parse_body(openai_chat.FORMAT, body)
        assert [b.kind for b in conv.blocks] == [Kind.TEXT]

    def test_non_string_model_is_none(self):
        """A model that is not a string is not reported as one."""
        assert parse_body(openai_chat.FORMAT, {"model": 4, "messages": []}).model is None
