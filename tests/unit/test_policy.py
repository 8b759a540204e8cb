"""The policy: which blocks a compressor may touch at all."""

from __future__ import annotations

import pytest

from extproc import Block, Kind, Policy

LONG = "x" * 300


def block(kind: Kind = Kind.TOOL_RESULT, text: str = LONG, **fields) -> Block:
    return Block(kind=kind, role="tool", text=text, message_index=1, path=("messages", 1, "content"), **fields)


@pytest.fixture
def policy() -> Policy:
    return Policy(protected_tools=("Read", "apply_patch"), min_block_chars=200)


class TestPolicy:
    def test_long_tool_result_is_released(self, policy):
        """A long, successful, writable tool result from an ordinary tool may be compressed."""
        assert policy.releases(block(tool_name="search_issues"))

    def test_unnamed_tool_result_is_released(self, policy):
        """A tool result whose call was not found is still released."""
        assert policy.releases(block(tool_name=None))

    @pytest.mark.parametrize("kind", [Kind.TEXT, Kind.TOOL_CALL, Kind.THINKING])
    def test_other_kinds_are_never_released(self, policy, kind):
        """Prose, call arguments and thinking are never released, even when writable."""
        assert not policy.releases(block(kind=kind))

    def test_errors_are_released_guarded(self, policy):
        """A tool result marked as an error is released, under the guard of its error lines."""
        assert policy.releases(block(is_error=True)) and policy.guards(block(is_error=True))

    def test_ordinary_results_are_not_guarded(self, policy):
        """A successful result without a traceback is released without the guard."""
        assert not policy.guards(block())

    def test_compress_errors_off_keeps_the_old_rule(self):
        """With compress_errors false a flagged error reaches the model as sent."""
        old = Policy(protected_tools=(), min_block_chars=200, compress_errors=False)
        assert not old.releases(block(is_error=True)) and old.releases(block())

    def test_read_only_results_are_not_released(self, policy):
        """A block without a writer cannot be released."""
        assert not policy.releases(Block(kind=Kind.TOOL_RESULT, role="tool", text=LONG, message_index=1))

    @pytest.mark.parametrize("name", ["Read", "read", "READ", "Apply_Patch"])
    def test_protected_tools_match_case_insensitively(self, policy, name):
        """Output of a protected tool stays exact whatever the case of its name."""
        assert not policy.releases(block(tool_name=name))

    def test_protected_names_are_whole_names(self, policy):
        """A tool whose name only contains a protected name is not protected."""
        assert policy.releases(block(tool_name="ReadDocs"))

    def test_short_blocks_are_not_released(self, policy):
        """A block under min_block_chars is not worth touching; at the limit it is."""
        assert not policy.releases(block(text="x" * 199))
        assert policy.releases(block(text="x" * 200))

    @pytest.mark.parametrize("sign", [
        "Traceback (most recent call last):\n  File \"a.py\", line 1",
        "TypeError: x is undefined\n    at main (index.js:3:7)",
        "thread 'main' panicked at src/main.rs:2:5",
        "Exception in thread \"main\" java.lang.NullPointerException",
    ], ids=["python", "javascript", "rust", "java"])
    def test_tracebacks_are_guarded(self, policy, sign):
        """Output carrying a stack trace is released only under the guard; without compress_errors, not at all."""
        text = LONG + "\n" + sign + "\n" + LONG
        assert policy.releases(block(text=text)) and policy.guards(block(text=text))
        old = Policy(protected_tools=(), min_block_chars=200, compress_errors=False)
        assert not old.releases(block(text=text))

    def test_tracebacks_inside_a_json_envelope_are_guarded(self, policy):
        """A stack trace in Codex's {"output": "..."} (line breaks escaped) is guarded as a bare one is."""
        import json

        text = json.dumps({"output": LONG + "\nTypeError: x is undefined\n    at main (index.js:3:7)\n",
                           "metadata": {"exit_code": 1}})
        assert "\n    at " not in text and policy.guards(block(text=text))

    def test_zero_minimum_releases_empty_results(self):
        """With min_block_chars 0 even an empty tool result is released."""
        assert Policy(protected_tools=(), min_block_chars=0).releases(block(text=""))
