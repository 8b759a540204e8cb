"""The OpenAI responses adapter: blocks out, recorded changes back in, nothing else moved."""

from __future__ import annotations

import copy

import pytest

from extproc import Kind, UnsupportedBody
from extproc.formats import openai_responses, parse_body

from .bodies import DIRECTORY_LISTING, apply, diff_paths, openai_responses_body, summary


class TestOpenAIResponses:
    def test_blocks_follow_the_items(self):
        """Instructions, messages, calls and outputs become blocks; reasoning gives none."""
        conv = parse_body(openai_responses.FORMAT, openai_responses_body())
        assert conv.format == "responses" and conv.model == "gpt-5-codex"
        assert summary(conv) == [
            ("text", "system", None, None, False, False),
            ("text", "user", None, None, False, True),
            ("text", "developer", None, None, False, False),
            ("tool_call", "assistant", "shell", "call_A", False, False),
            ("tool_result", "tool", "shell", "call_A", False, True),
            ("tool_call", "assistant", "apply_patch", "call_B", False, False),
            ("tool_result", "tool", "apply_patch", "call_B", False, True),
            ("tool_call", "assistant", "list_dir", "call_C", False, False),
            ("tool_result", "tool", "list_dir", "call_C", False, True),
            ("text", "assistant", None, None, False, True),
        ]
        assert [b.message_index for b in conv.blocks] == [-1, 0, 1, 3, 4, 5, 6, 7, 8, 9]

    def test_custom_tool_call_reads_its_input(self):
        """A custom_tool_call block is its free-form input, not JSON arguments."""
        conv = parse_body(openai_responses.FORMAT, openai_responses_body())
        assert conv.blocks[5].text.startswith("*** Begin Patch\n")

    def test_string_input_is_one_user_block(self):
        """A plain-string input is one writable user message."""
        body = {"model": "gpt-5", "instructions": "Be brief.", "input": "Summarise the log."}
        conv = parse_body(openai_responses.FORMAT, body)
        assert [(b.role, b.text, b.writable) for b in conv.blocks] == [
            ("system", "Be brief.", False), ("user", "Summarise the log.", True)]
        conv.replace(conv.blocks[1], "Summarise.", by="test")
        assert apply(body, conv) == {"model": "gpt-5", "instructions": "Be brief.", "input": "Summarise."}

    def test_local_shell_output_is_named_local_shell(self):
        """A local_shell_call_output with no matching call is still attributed to local_shell."""
        body = {"input": [{"type": "local_shell_call_output", "call_id": "ls_1", "output": "total 0"}]}
        (block,) = parse_body(openai_responses.FORMAT, body).blocks
        assert (block.kind, block.tool_name) == (Kind.TOOL_RESULT, "local_shell")

    def test_instructions_developer_and_calls_are_read_only(self):
        """Instructions, developer messages and call arguments have no writer; replace refuses them."""
        conv = parse_body(openai_responses.FORMAT, openai_responses_body())
        read_only = {(b.kind, b.role) for b in conv.blocks if not b.writable}
        assert read_only == {(Kind.TEXT, "system"), (Kind.TEXT, "developer"), (Kind.TOOL_CALL, "assistant")}
        with pytest.raises(ValueError, match="read-only"):
            conv.replace(conv.blocks[3], "{}", by="test")

    def test_apply_writes_only_the_replaced_fields(self):
        """A string output, a part of an array output and an untyped message are rewritten, nothing else."""
        original = openai_responses_body()
        conv = parse_body(openai_responses.FORMAT, copy.deepcopy(original))
        conv.replace(conv.blocks[1], "Failing tests?", by="test")
        conv.replace(conv.blocks[4], "REPORT", by="test")
        conv.replace(conv.blocks[8], "LISTING", by="test")
        after = apply(original, conv)
        assert diff_paths(original, after) == {
            ("input", 0, "content"), ("input", 4, "output"), ("input", 8, "output", 0, "text")}
        assert after["input"][8]["output"] == [{"type": "input_text", "text": "LISTING"}]

    def test_untouched_fields_survive_apply(self):
        """Ids, call ids, arguments, reasoning items and top-level options are identical after apply."""
        original = openai_responses_body()
        conv = parse_body(openai_responses.FORMAT, copy.deepcopy(original))
        conv.replace(conv.blocks[6], "{}", by="test")
        after = apply(original, conv)
        for key in ("instructions", "tools", "tool_choice", "parallel_tool_calls", "store", "include",
                    "prompt_cache_key", "model"):
            assert after[key] == original[key]
        for index in (0, 1, 2, 3, 4, 5, 7, 8, 9):
            assert after["input"][index] == original["input"][index]
        assert after["input"][6] == {"type": "custom_tool_call_output", "call_id": "call_B", "output": "{}"}

    def test_output_text_parts_are_read(self):
        """An output given as an array of input_text parts yields one block per text part."""
        conv = parse_body(openai_responses.FORMAT, openai_responses_body())
        assert conv.blocks[8].text == DIRECTORY_LISTING

    @pytest.mark.parametrize("body", [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"input": {"role": "user", "content": "hi"}},
        {"input": 42},
    ], ids=["no-input", "input-object", "input-number"])
    def test_input_must_be_string_or_array(self, body):
        """An input that is neither a string nor an array is not ours."""
        with pytest.raises(UnsupportedBody, match="input"):
            parse_body(openai_responses.FORMAT, body)

    @pytest.mark.parametrize("item", ["hi", None, ["message"]], ids=["string", "null", "array"])
    def test_non_object_item_raises_unsupported(self, item):
        """Every input item must be an object."""
        with pytest.raises(UnsupportedBody, match=r"input\[1\]"):
            parse_body(openai_responses.FORMAT, {"input": [{"role": "user", "content": "a"}, item]})

    @pytest.mark.parametrize("kind", [[], {}, 3, None, "web_search_call"])
    def test_unknown_item_types_are_skipped(self, kind):
        """An item whose type is unknown or not a string gives no block and no error."""
        body = {"input": [{"type": kind, "role": "user", "content": "x", "output": "y"}]}
        assert parse_body(openai_responses.FORMAT, body).blocks == []
