"""Properties of the whole compression path over generated bodies in each wire format.

For random, JSON-shaped conversations (well-formed messages mixed with junk ones) ``run`` never
raises, a changed body is valid JSON, and only the text of blocks the policy released differs:
writing the new texts into the original body must give exactly the new body. In token mode a
file read's result may also become a stale-read marker, and nothing else changes.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extproc import BodyEngine, BodyRequest
from extproc.compressors import JsonCompactor
from extproc.formats import parse_body
from extproc.pipeline.reads import file_read

from .bodies import apply, summary
from .dedup_resolve import POINTER, output_text

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
call_ids = st.sampled_from(["call_1", "call_2", "call_3", "toolu_9"])
tool_names = st.sampled_from(["search", "list_dir", "Bash", "shell", "grep", "Read", "READ_FILE", "apply_patch"])
records = st.lists(st.fixed_dictionaries({
    "id": st.integers(0, 10**6), "name": st.text(max_size=24), "score": st.floats(-1e9, 1e9),
    "tags": st.lists(st.text(max_size=6), max_size=3), "extra": json_values}), min_size=2, max_size=8)
pretty = st.builds(lambda value, indent, ascii_: json.dumps(value, indent=indent, ensure_ascii=ascii_),
                   records, st.sampled_from([2, 4, "\t", None]), st.booleans())
traceback = records.map(lambda rows: json.dumps({"stderr": "Traceback (most recent call last):\n  x",
                                                 "rows": rows}, indent=2))
# What tools print: mostly pretty JSON (long enough to release), else prose or a traceback.
tool_output = st.one_of(pretty, pretty, pretty, st.text(max_size=300), traceback)
prose = st.text(max_size=60)
errors = st.sampled_from([False, False, False, True])


def junk(keys: list[str]) -> st.SearchStrategy[dict]:
    """An object with the format's own keys holding values of any JSON type."""
    values = st.one_of(scalars, st.lists(scalars, max_size=2),
                       st.dictionaries(st.text(max_size=4), scalars, max_size=2), json_values)
    return st.dictionaries(st.sampled_from(keys), values, min_size=1, max_size=len(keys))


def around(turn: st.SearchStrategy[list], filler: st.SearchStrategy) -> st.SearchStrategy[list]:
    """A message list with one tool call-and-result turn somewhere among other messages."""
    return st.builds(lambda head, middle, tail: head + middle + tail,
                     st.lists(filler, max_size=3), turn, st.lists(filler, max_size=3))


# --- OpenAI chat ------------------------------------------------------------------------------
def chat_call(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chat_turn(call: dict, content) -> list[dict]:
    return [{"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": content}]


chat_calls = st.builds(chat_call, call_ids, tool_names, tool_output)
chat_parts = st.lists(st.one_of(
    st.builds(lambda text: {"type": "text", "text": text}, tool_output),
    st.just({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}})), max_size=3)
chat_message = st.one_of(
    st.builds(lambda role, content: {"role": role, "content": content},
              st.sampled_from(["system", "developer", "user", "assistant"]), prose | chat_parts),
    st.builds(lambda content, calls: {"role": "assistant", "content": content, "tool_calls": calls},
              st.none() | prose, st.lists(chat_calls, min_size=1, max_size=3)),
    st.builds(lambda call_id, content: {"role": "tool", "tool_call_id": call_id, "content": content},
              call_ids, tool_output | chat_parts),
    st.builds(lambda name, content: {"role": "function", "name": name, "content": content},
              tool_names, tool_output),
    junk(["role", "content", "tool_calls", "tool_call_id", "name"]),
)
chat_bodies = st.fixed_dictionaries(
    {"model": st.just("gpt-4o"), "messages": around(st.builds(chat_turn, chat_calls, tool_output | chat_parts),
                                                    chat_message)},
    optional={"tools": json_values, "tool_choice": json_values, "x_unknown": json_values})


# --- Anthropic messages -----------------------------------------------------------------------
def text_block(text: str, cached: bool) -> dict:
    block = {"type": "text", "text": text}
    return block | {"cache_control": {"type": "ephemeral"}} if cached else block


def tool_result(call_id: str, content, is_error: bool | None) -> dict:
    block = {"type": "tool_result", "tool_use_id": call_id, "content": content}
    return block if is_error is None else block | {"is_error": is_error}


def tool_use(call_id: str, name: str, value) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": value}


def anthropic_turn(call: dict, content, is_error: bool) -> list[dict]:
    return [{"role": "assistant", "content": [call]},
            {"role": "user", "content": [tool_result(call["id"], content, is_error)]}]


text_blocks = st.builds(text_block, tool_output, st.booleans())
tool_uses = st.builds(tool_use, call_ids, tool_names, json_values)
result_content = tool_output | st.lists(
    text_blocks | st.just({"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}),
    max_size=3)
anthropic_block = st.one_of(
    text_blocks,
    tool_uses,
    st.builds(tool_result, call_ids, result_content, st.none() | st.booleans()),
    st.builds(lambda text: {"type": "thinking", "thinking": text, "signature": "sig=="}, tool_output),
    st.just({"type": "redacted_thinking", "data": "EmwKAhgB"}),
    st.just({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}}),
    junk(["type", "text", "content", "id", "tool_use_id", "input", "is_error"]),
)
anthropic_message = st.one_of(
    st.builds(lambda role, content: {"role": role, "content": content}, st.sampled_from(["user", "assistant"]),
              prose | st.lists(anthropic_block, max_size=4)),
    junk(["role", "content"]),
)
anthropic_bodies = st.fixed_dictionaries(
    {"model": st.just("claude-sonnet-4-5"), "max_tokens": st.just(1024),
     "messages": around(st.builds(anthropic_turn, tool_uses, result_content, errors), anthropic_message)},
    optional={"system": prose | st.lists(text_blocks, max_size=2), "tools": json_values, "metadata": json_values})


# --- OpenAI responses -------------------------------------------------------------------------
def responses_turn(custom: bool, call_id: str, name: str, arguments: str, output) -> list[dict]:
    if custom:
        return [{"type": "custom_tool_call", "call_id": call_id, "name": name, "input": arguments},
                {"type": "custom_tool_call_output", "call_id": call_id, "output": output}]
    return [{"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
            {"type": "function_call_output", "call_id": call_id, "output": output}]


response_parts = st.lists(st.builds(lambda kind, text: {"type": kind, "text": text},
                                    st.sampled_from(["input_text", "output_text", "refusal"]), tool_output),
                          max_size=3)
response_item = st.one_of(
    st.builds(lambda role, content: {"role": role, "content": content},
              st.sampled_from(["user", "assistant", "developer", "system"]), prose | response_parts),
    st.builds(lambda role, content: {"type": "message", "role": role, "content": content},
              st.sampled_from(["user", "assistant"]), prose | response_parts),
    st.builds(lambda *args: responses_turn(*args)[0], st.booleans(), call_ids, tool_names, tool_output, st.none()),
    st.builds(lambda kind, call_id, output: {"type": kind, "call_id": call_id, "output": output},
              st.sampled_from(["function_call_output", "custom_tool_call_output", "local_shell_call_output"]),
              call_ids, tool_output | response_parts),
    st.builds(lambda text: {"type": "reasoning", "summary": [{"type": "summary_text", "text": text}],
                            "encrypted_content": "gAAAA"}, tool_output),
    junk(["type", "role", "content", "call_id", "name", "output", "arguments"]),
)
responses_items = around(st.builds(responses_turn, st.booleans(), call_ids, tool_names, tool_output,
                                   tool_output | response_parts), response_item)
responses_bodies = st.fixed_dictionaries(
    {"model": st.just("gpt-5"), "input": st.one_of(responses_items, prose)},
    optional={"instructions": prose, "tools": json_values, "store": st.booleans()})


def check_only_released_blocks_change(compressor: BodyEngine, fmt: str, body: dict, mode: str = "cache") -> None:
    raw = json.dumps(body).encode()
    result = compressor.run(raw, BodyRequest(fmt, mode=mode))
    assert result.outcome in ("compressed", "unchanged"), result.reason
    assert result.tokens_saved == result.tokens_before - result.tokens_after
    if result.body is None:
        assert result.outcome == "unchanged" and result.tokens_after == result.tokens_before
        return
    after = json.loads(result.body.decode("utf-8"), parse_constant=_reject)
    sent = json.loads(raw)
    before, rebuilt = parse_body(fmt, sent), parse_body(fmt, after)
    assert summary(rebuilt) == summary(before)
    for old, new in zip(before.blocks, rebuilt.blocks):
        stale = mode == "token" and new.text.startswith("[trimwire: earlier read of ") and old.writable
        if compressor.pipeline.policy.releases(old) or stale:
            if new.text != old.text:
                before.replace(old, new.text, by="test")
        elif new.text != old.text:  # a file read: only dedup's pointers to earlier lines (dedup_reads)
            assert file_read(old.tool_name, old.tool_input) is not None or \
                (old.tool_name or "").lower() in compressor.pipeline.policy.protected_tools
            assert_only_pointers(old.text, new.text)
            before.replace(old, new.text, by="test")
    assert apply(sent, before) == after
    assert result.tokens_after == sum(compressor.tokens.count(b.text) for b in rebuilt.blocks)


def assert_only_pointers(old: str, new: str) -> None:
    """``new`` is ``old`` with some runs of lines replaced by dedup pointers, the rest in order:
    read as plain lines, or as the lines of a JSON envelope's output string (Codex's)."""
    assert any(_only_pointers(view(old).split("\n"), view(new).split("\n"))
               for view in (str, output_text)), "changed by more than pointers"


def _only_pointers(old: list[str], new: list[str]) -> bool:
    kept = [line for line in new if not POINTER.match(line)]
    if len(kept) == len(new):
        return False  # changed without a pointer
    remaining = iter(old)
    return all(any(line == other for other in remaining) for line in kept)


def _reject(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class TestProperties:
    @PROPERTY
    @given(body=chat_bodies)
    def test_openai_chat_changes_only_released_blocks(self, compressor, body):
        """Generated chat bodies compress to valid JSON that differs only in released tool results."""
        check_only_released_blocks_change(compressor, "openai", body)

    @PROPERTY
    @given(body=anthropic_bodies)
    def test_anthropic_changes_only_released_blocks(self, compressor, body):
        """Generated Anthropic bodies compress to valid JSON that differs only in released tool results."""
        check_only_released_blocks_change(compressor, "anthropic", body)

    @PROPERTY
    @given(body=anthropic_bodies)
    def test_token_mode_changes_only_released_blocks_and_stale_reads(self, compressor, body):
        """In token mode only released tool results and stale file reads differ, and the body stays valid."""
        check_only_released_blocks_change(compressor, "anthropic", body, mode="token")

    @PROPERTY
    @given(body=responses_bodies)
    def test_responses_changes_only_released_blocks(self, compressor, body):
        """Generated responses bodies compress to valid JSON that differs only in released outputs."""
        check_only_released_blocks_change(compressor, "responses", body)

    @PROPERTY
    @given(body=json_values | st.dictionaries(st.sampled_from(["messages", "input", "system"]), json_values),
           fmt=st.sampled_from(["openai", "anthropic", "responses"]))
    def test_any_json_never_raises(self, compressor, body, fmt):
        """Any JSON value in any format gives a decision, never an exception."""
        result = compressor.run(json.dumps(body).encode(), BodyRequest(fmt))
        assert result.outcome in ("compressed", "unchanged", "passthrough")
        assert (result.body is None) is (result.outcome != "compressed")

    @PROPERTY
    @given(data=st.binary(max_size=200), encoding=st.sampled_from(["identity", "gzip", "zstd", "br"]))
    def test_any_bytes_never_raise(self, compressor, data, encoding):
        """Arbitrary bytes under any declared encoding pass through or parse, never raise."""
        result = compressor.run(data, BodyRequest("openai", encoding))
        assert result.outcome in ("unchanged", "passthrough")

    @PROPERTY
    @given(value=json_values, indent=st.sampled_from([1, 2, "\t", " \n "]), ascii_=st.booleans())
    def test_compaction_equals_compact_dump(self, value, indent, ascii_):
        """Compacting any indented dump gives exactly the compact dump, or nothing when there is no gain."""
        pretty = json.dumps(value, indent=indent, ensure_ascii=ascii_)
        compact = json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_)
        assert JsonCompactor().compress(pretty) == (compact if len(compact) < len(pretty) else None)
