"""Messages answered whole: a conversation's next request is read from where it parts from the last
one, and every answer is the one a compressor without caches gives."""

from __future__ import annotations

import copy
import json

import pytest

from extproc import BodyRequest, Settings, build_engine, rawjson
from extproc.formats import adapter_for
from tests.shelf import SHELF

from .sessions import STYLES, coding_session, requests


def encode(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def read(compressor, fmt: str, body: dict):
    """The reader's view of ``body`` (not compressed, not remembered)."""
    plain = encode(body)
    return compressor.history.read(plain, adapter_for(fmt), cached=True)


def _is_result(fmt: str, item: dict) -> bool:
    if fmt == "responses":
        return item.get("type", "").endswith("_output")
    if fmt == "openai":
        return item.get("role") == "tool"
    return isinstance(item.get("content"), list) and any(part.get("type") == "tool_result" for part in item["content"])


@pytest.fixture
def pair():
    """A compressor with every cache, and one with none to check its answers against."""
    return build_engine(Settings(workers=0), shelf=SHELF), build_engine(Settings(workers=0, block_cache_bytes=0), shelf=SHELF)


class TestCheckpoints:
    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_each_turn_reads_only_what_is_new(self, pair, fmt, style):
        """Replayed turn by turn, every request reuses the messages of the one before it (Claude
        Code's but the last: its cache marker moves on to the newest message) and gives the bytes
        and token counts of a compressor without caches."""
        cached, fresh = pair
        turns = requests(fmt, coding_session(style))
        previous = 0
        for number, body in enumerate(turns):
            items = body[adapter_for(fmt).ITEMS]
            expected = previous - (fmt == "anthropic") if number else 0
            assert read(cached, fmt, body).reused == expected
            result, expected = cached.run(encode(body), BodyRequest(fmt)), fresh.run(encode(body), BodyRequest(fmt))
            assert (result.body, result.tokens_before, result.tokens_after) == (
                expected.body, expected.tokens_before, expected.tokens_after)
            previous = len(items)

    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_results_answer_calls_the_previous_request_made(self, pair, fmt, style):
        """A request that ends with the agent's tool calls, then the next one with their results:
        each result is read knowing the tool it answers (a read stays whole, other output is
        compressed), as a compressor without caches reads it."""
        cached, fresh = pair
        items_key = adapter_for(fmt).ITEMS
        for body in requests(fmt, coding_session(style)):
            items = body[items_key]
            calls_end = len(items)
            while calls_end and _is_result(fmt, items[calls_end - 1]):
                calls_end -= 1
            cached.run(encode({**body, items_key: items[:calls_end]}), BodyRequest(fmt))
            assert read(cached, fmt, body).reused == calls_end
            result, expected = cached.run(encode(body), BodyRequest(fmt)), fresh.run(encode(body), BodyRequest(fmt))
            assert (result.body, result.tokens_before, result.tokens_after) == (
                expected.body, expected.tokens_before, expected.tokens_after)

    def test_the_question_before_new_messages_comes_with_the_checkpoint(self, pair):
        """A resumed read knows the latest question before its new messages from the checkpoint
        (``Item.asks``), not by walking back: its message keys and questions are those of a read
        of the whole body by a reader that saw nothing before."""
        cached, _ = pair
        items: list[dict] = [{"role": "system", "content": "be brief"},
                             {"role": "user", "content": "why does the build fail on arm64?"}]
        for n in range(8):
            call = f"call_{n}"
            items += [{"role": "assistant", "content": None, "tool_calls": [{"id": call, "type": "function",
                       "function": {"name": "bash", "arguments": json.dumps({"command": f"make {n}"})}}]},
                      {"role": "tool", "tool_call_id": call, "content": f"step {n}\n" * 40}]
            if n == 4:
                items.append({"role": "user", "content": "and on x86_64 with gcc 13?"})
            body = {"model": "m", "messages": items}
            resumed = read(cached, "openai", body)
            whole = read(build_engine(Settings(workers=0), shelf=SHELF), "openai", body)
            assert n == 0 or resumed.reused > 0
            assert [(item.key, item.asks) for item in resumed.items] == [(item.key, item.asks) for item in whole.items]
            assert whole.asked_before(len(items)) == (1 if n < 4 else 12)
            cached.run(encode(body), BodyRequest("openai"))

    def test_a_read_answering_a_call_the_previous_request_made_stays_whole(self, pair):
        """The previous request ended with a call to a protected tool; its result, new in this
        one, is read knowing that tool, though the call's message is taken whole."""
        cached, fresh = pair
        listing = json.dumps([{"id": n, "name": f"pod-{n}", "status": "Running"} for n in range(40)], indent=4)
        head = [{"role": "system", "content": "You are a coding agent."}, {"role": "user", "content": "Check the pods."},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "call_7", "type": "function", "function": {
                    "name": "read_file", "arguments": '{"path": "pods.json"}'}}]}]
        cached.run(encode({"model": "m", "messages": head}), BodyRequest("openai"))
        body = {"model": "m", "messages": [*head, {"role": "tool", "tool_call_id": "call_7", "content": listing}]}
        assert read(cached, "openai", body).reused == len(head)
        result, expected = cached.run(encode(body), BodyRequest("openai")), fresh.run(encode(body), BodyRequest("openai"))
        assert (result.outcome, result.body) == (expected.outcome, expected.body) == ("unchanged", None)

    def test_a_call_id_used_again_for_another_tool(self, pair):
        """An answer is remembered with the tool its call had when it was read: a later call that
        takes the same id for a protected tool (found by hypothesis) does not make the remembered
        answer, compressed as shell output, pass for that tool's output in another body."""
        cached, fresh = pair
        listing = json.dumps([{"id": n, "name": f"pod-{n}", "status": "Running"} for n in range(40)], indent=4)

        def call(name: str) -> dict:
            return {"role": "assistant", "content": None,
                    "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": name, "arguments": "{}"}}]}
        answer = {"role": "tool", "tool_call_id": "call_2", "content": listing}
        first = {"model": "m", "messages": [call("shell"), answer, call("apply_patch"),
                                            {"role": "tool", "tool_call_id": "call_2", "content": "ok"}]}
        assert cached.run(encode(first), BodyRequest("openai")).outcome == "compressed"  # the shell output
        second = {"model": "m", "messages": [call("apply_patch"), answer]}
        result, expected = cached.run(encode(second), BodyRequest("openai")), fresh.run(encode(second), BodyRequest("openai"))
        assert (result.outcome, result.body) == (expected.outcome, expected.body) == ("unchanged", None)

    @pytest.mark.parametrize("commands", [("cat notes/worker.txt", "python gen_log.py"),
                                          ("python gen_log.py", "cat notes/worker.txt")])
    def test_a_call_id_used_again_with_other_arguments(self, pair, commands):
        """An answer is remembered with its call's arguments too: the same result text answering the
        same id and tool after another command (a file the shell printed, ``reads.py``, against a
        script's output) is read again, not given the other command's answer."""
        cached, fresh = pair
        log = "\n".join(f"2024-05-01 10:{n // 60:02d}:{n % 60:02d} INFO worker {n % 3} heartbeat ok" for n in range(200))

        def body(command: str) -> dict:
            return {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [
                {"role": "user", "content": "Why is the worker slow?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_5", "name": "Bash",
                                                   "input": {"command": command}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_5", "content": log}]}]}
        outcomes = set()
        for command in commands:
            result = cached.run(encode(body(command)), BodyRequest("anthropic"))
            expected = fresh.run(encode(body(command)), BodyRequest("anthropic"))
            assert (result.outcome, result.body) == (expected.outcome, expected.body)
            outcomes.add(result.outcome)
        assert outcomes == {"compressed", "unchanged"}  # the read stays whole, the script's output shrinks

    def test_a_changed_earlier_message_stops_the_reuse_there(self, pair):
        """An agent that moves its cache marker rewrites one earlier message: the messages before it
        are reused, that one and the rest are answered by the message cache or read again."""
        cached, fresh = pair
        bodies = requests("anthropic", coding_session("claude_code"))
        cached.run(encode(bodies[-2]), BodyRequest("anthropic"))
        body = copy.deepcopy(bodies[-1])
        marked = body["messages"][3]["content"][0]
        marked["cache_control"] = {"type": "ephemeral"}
        assert read(cached, "anthropic", body).reused == 3
        result = cached.run(encode(body), BodyRequest("anthropic"))
        assert result.body == fresh.run(encode(body), BodyRequest("anthropic")).body

    def test_another_conversation_reuses_nothing(self, pair):
        """A body whose task differs (the same system prompt before it) finds no checkpoint."""
        cached, _ = pair
        bodies = requests("openai", coding_session("swe_agent"))
        cached.run(encode(bodies[-1]), BodyRequest("openai"))
        other = copy.deepcopy(bodies[-1])
        assert other["messages"][0]["role"] == "system"
        other["messages"][1]["content"] += " (on the staging branch)"
        assert read(cached, "openai", other).reused == 0

    def test_an_earlier_turn_sent_again_is_a_prefix_too(self, pair):
        """A retry of an earlier, shorter request reuses all of its messages and compresses as before."""
        cached, fresh = pair
        bodies = requests("openai", coding_session("cursor"))
        cached.run(encode(bodies[-1]), BodyRequest("openai"))
        early = bodies[2]
        assert read(cached, "openai", early).reused == len(early["messages"])
        assert cached.run(encode(early), BodyRequest("openai")).body == fresh.run(encode(early), BodyRequest("openai")).body

    def test_characters_of_several_bytes_before_and_inside_messages(self, pair):
        """Reuse is found by bytes, spans are counted in characters: text of 2-, 3- and 4-byte
        characters anywhere still gives the uncached answer."""
        cached, fresh = pair
        bodies = requests("anthropic", coding_session("claude_code"))
        for body in bodies:
            body = copy.deepcopy(body)
            body["system"] = "Réponds en français ✓ 🚀"
            body["messages"][0]["content"] = "Ünïcödé ✓ task 🚀: " + str(body["messages"][0]["content"])
            result = cached.run(encode(body), BodyRequest("anthropic"))
            assert result.body == fresh.run(encode(body), BodyRequest("anthropic")).body
        assert read(cached, "anthropic", body).reused == len(body["messages"])

    @pytest.mark.parametrize("request_", [BodyRequest("openai", mode="token"), BodyRequest("openai", frozen_messages=1)])
    def test_only_cache_mode_without_a_frozen_prefix_reuses(self, pair, request_):
        """Token mode and a frozen prefix read every message: no message is answered whole."""
        cached, _ = pair
        body = requests("openai", coding_session("swe_agent"))[-1]
        cached.run(encode(body), BodyRequest("openai"))
        result = cached.run(encode(body), request_)
        assert "message_hit" not in result.cache and "message_miss" not in result.cache


def surround(fmt: str, body: dict, system: str) -> dict:
    """``body`` with a large system prompt and tool definitions around its messages, in the places
    its agents put them: Claude Code sends the messages first, Codex its instructions first."""
    tools = [{"name": f"tool_{n}", "description": f"Tool {n}: " + "reads the workspace and reports. " * 12,
              "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}} for n in range(8)]
    if fmt == "anthropic":
        return {"model": body["model"], "messages": body["messages"],
                "system": [{"type": "text", "text": system}], "tools": tools,
                "metadata": {"user_id": "session-7"}, "max_tokens": body["max_tokens"], "stream": True}
    if fmt == "responses":
        return {"model": body["model"], "instructions": system, "input": body["input"], "tools": tools,
                "store": False}
    return {"model": body["model"], "messages": body["messages"], "tools": tools, "temperature": 0}


class TestSurroundings:
    SYSTEM = "You are a careful coding agent. Prefer small diffs; run the tests after each change. " * 60

    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_members_around_the_messages_are_reused_and_answers_unchanged(self, pair, fmt, style):
        """A large system prompt and tool list, resent every turn, are parsed once; every turn
        still gives the bytes and token counts of a compressor without caches."""
        cached, fresh = pair
        tools = []
        for body in requests(fmt, coding_session(style)):
            body = surround(fmt, body, self.SYSTEM)
            result, expected = cached.run(encode(body), BodyRequest(fmt)), fresh.run(encode(body), BodyRequest(fmt))
            assert (result.body, result.tokens_before, result.tokens_after) == (
                expected.body, expected.tokens_before, expected.tokens_after)
            tools.append(next(cached.history.reader.checkpoints.recent()).doc.body["tools"])
        # parsed once: every later turn holds the very value the first one parsed (taken from the
        # surroundings, or with the turn before's members when only messages were added)
        assert len(tools) > 2 and all(value is tools[0] for value in tools)

    def test_a_changed_member_is_parsed_again(self, pair):
        """A system prompt that changes by one character is not taken from the earlier body."""
        cached, fresh = pair
        bodies = [surround("anthropic", body, self.SYSTEM)
                  for body in requests("anthropic", coding_session("claude_code"))]
        cached.run(encode(bodies[-2]), BodyRequest("anthropic"))
        body = copy.deepcopy(bodies[-1])
        body["system"][0]["text"] = body["system"][0]["text"].replace("careful", "carefu1", 1)
        assert read(cached, "anthropic", body).doc.body["system"] == body["system"]
        result = cached.run(encode(body), BodyRequest("anthropic"))
        assert result.body == fresh.run(encode(body), BodyRequest("anthropic")).body

    def test_sessions_of_one_agent_share_its_tool_definitions(self, pair):
        """Another session (its own task and metadata) finds the tool list the first one sent."""
        cached, fresh = pair
        first = surround("anthropic", requests("anthropic", coding_session("claude_code"))[-1], self.SYSTEM)
        cached.run(encode(first), BodyRequest("anthropic"))
        other = copy.deepcopy(first)
        other["messages"][0]["content"] = "Another task."
        other["metadata"] = {"user_id": "session-8"}
        assert read(cached, "anthropic", other).doc.body["tools"] is read(cached, "anthropic", first).doc.body["tools"]
        result = cached.run(encode(other), BodyRequest("anthropic"))
        assert result.body == fresh.run(encode(other), BodyRequest("anthropic")).body


class TestResentTurns:
    """A conversation's next turn is read from the checkpoint of the turn before: only what follows
    the messages it shares is decoded and parsed (``checkpoints.read_resent``), and it reads as the whole
    body does."""

    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_a_next_turn_parses_only_its_new_messages_and_reads_as_a_whole_scan(self, pair, fmt, style,
                                                                                monkeypatch):
        cached, fresh = pair
        scans = []
        monkeypatch.setattr(rawjson, "scan", lambda *a, scan=rawjson.scan: scans.append(1) or scan(*a))
        turns = requests(fmt, coding_session(style))
        for number, body in enumerate(turns):
            scans.clear()
            doc = read(cached, fmt, body).doc
            whole = rawjson.scan(encode(body).decode(), adapter_for(fmt).ITEMS)
            assert (doc.text, doc.members, doc.items, doc.body) == (whole.text, whole.members, whole.items, whole.body)
            if number:  # a checkpoint of the turn before is there: no whole scan
                assert len(scans) == 1  # ours, just above
            result, expected = cached.run(encode(body), BodyRequest(fmt)), fresh.run(encode(body), BodyRequest(fmt))
            assert (result.body, result.tokens_before, result.tokens_after) == (
                expected.body, expected.tokens_before, expected.tokens_after)

    @pytest.mark.parametrize("change", [
        b'], "extra": [{}',              # closes the array early, another member after it
        b", {]",                          # not JSON
        b', {"role": "user", "content": "caf\xe9"}',   # not UTF-8
        b',{"role":"user","content":"ok"},',           # a trailing comma
        b' , {"role" : "user" , "content" : "ok"} ',   # valid, odd whitespace
    ], ids=["early-close", "not-json", "not-utf8", "trailing-comma", "whitespace"])
    def test_what_follows_the_shared_messages_is_judged_as_in_a_whole_read(self, pair, change):
        """Whatever bytes follow the shared messages, the answer is the uncached compressor's."""
        cached, fresh = pair
        bodies = requests("openai", coding_session("swe_agent"))
        cached.run(encode(bodies[-2]), BodyRequest("openai"))
        plain = encode(bodies[-2])
        close = plain.rindex(b"]", 0, plain.index(b'"tools"') if b'"tools"' in plain else len(plain))
        data = plain[:close] + change + plain[close:]
        result, expected = cached.run(data, BodyRequest("openai")), fresh.run(data, BodyRequest("openai"))
        assert (result.outcome, result.reason, result.body, result.tokens_before) == (
            expected.outcome, expected.reason, expected.body, expected.tokens_before)

    def test_a_changed_member_after_the_messages_is_read_whole(self, pair):
        """A tool list that changes after the messages: the turn is read whole, not from the checkpoint."""
        cached, fresh = pair
        bodies = [surround("openai", body, "Be careful. " * 300) for body in requests("openai", coding_session("cursor"))]
        cached.run(encode(bodies[-2]), BodyRequest("openai"))
        body = copy.deepcopy(bodies[-1])
        body["tools"][0]["description"] += " (changed)"
        doc = read(cached, "openai", body).doc
        assert doc.body["tools"] == body["tools"] and doc.text == encode(body).decode()
        assert cached.run(encode(body), BodyRequest("openai")).body == fresh.run(encode(body), BodyRequest("openai")).body
