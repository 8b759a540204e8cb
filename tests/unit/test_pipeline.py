"""The request model's change log, the pipeline that fills it, and the routes it follows."""

from __future__ import annotations

import json

import pytest

from extproc import Block, Conversation, Kind, Pipeline, Policy
from extproc.compressors import default_routes
from extproc.compressors.content_types import ROUTER
from extproc.conversation import _MEMO_ARGUMENT_CHARS, ToolCall, tool_input
from extproc.pipeline import BlockInputs, Budget, Routes, router
from extproc.pipeline.router import ContentType

from .bodies import apply
from .compressors import load


def conversation(*texts: str, kind: Kind = Kind.TOOL_RESULT) -> Conversation:
    """A conversation whose blocks are the strings of ``{"parts": list(texts)}``."""
    conv = Conversation(format="test", model="m")
    for index, text in enumerate(texts):
        conv.add(Block(kind=kind, role="tool", text=text, message_index=index, path=("parts", index)))
    return conv


class Upper:
    """Applies to everything; returns the text upper-cased (same length: never a win)."""

    name = "upper"

    then = None

    def applies(self, block: BlockInputs) -> bool:
        return True

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        return text.upper()


class Halve:
    """Applies to text starting with 'h'; keeps the first half."""

    name = "halve"
    then = None

    def __init__(self) -> None:
        self.seen: list[str] = []

    def applies(self, block: BlockInputs) -> bool:
        return block.text.startswith("h")

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        self.seen.append(text)
        return text[: len(text) // 2]


class Longer:
    """Applies to everything; always makes the text longer."""

    name = "longer"

    then = None

    def applies(self, block: BlockInputs) -> bool:
        return True

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        return text + "!"


OPEN = Policy(protected_tools=(), min_block_chars=0)


def everywhere(*compressors) -> Routes:
    """Routes that offer every content type to ``compressors``."""
    return Routes(ROUTER, dict.fromkeys(ContentType, list(compressors)))


class TestConversation:
    def test_replace_records_without_writing(self):
        """replace only records the change; the block text stays, the block's path says where the
        new text goes."""
        conv = conversation("hello")
        conv.replace(conv.blocks[0], "hi", by="test")
        assert conv.blocks[0].text == "hello"
        assert apply({"parts": ["hello"]}, conv) == {"parts": ["hi"]}
        assert [(c.new_text, c.by) for c in conv.changes] == [("hi", "test")]

    def test_replace_read_only_block_raises(self):
        """A block without a path cannot have a change recorded, and says which block it is."""
        conv = Conversation(format="test", model=None)
        conv.add(Block(kind=Kind.THINKING, role="assistant", text="t", message_index=3))
        with pytest.raises(ValueError, match="thinking at message 3 is read-only"):
            conv.replace(conv.blocks[0], "", by="test")
        assert not conv.changes


class TestToolInput:
    def test_argument_string_parsed_once(self):
        """A call's argument string is parsed once per process: every call sending the same string
        (each turn resends it) reads the one object."""
        sent = '{"command": "cat -n src/app.py", "timeout": 30}'
        resent = "".join(list(sent))  # the same text, another string (as the next turn's body gives)
        first, again = ToolCall("Bash", sent).input, ToolCall("Bash", resent).input
        assert first == {"command": "cat -n src/app.py", "timeout": 30}
        assert again is first

    def test_long_or_bad_arguments(self):
        """A string past the memo's bound is parsed each time, to the same value; one that is not a
        JSON object gives None; an object given as one is taken as it is."""
        long = json.dumps({"content": "x" * (_MEMO_ARGUMENT_CHARS + 1)})
        assert ToolCall("Write", long).input == ToolCall("Write", long).input
        assert ToolCall("Write", long).input is not ToolCall("Write", long).input
        assert tool_input("[1, 2]") is None and tool_input("{nope") is None and tool_input(None) is None
        given = {"path": "a.py"}
        assert ToolCall("Read", given).input is given


class TestPipeline:
    def test_first_shrinking_compressor_wins(self):
        """Compressors are tried in order and the first that makes a block shorter is recorded."""
        halve = Halve()
        conv = conversation("hello world", "abc")
        Pipeline(OPEN, everywhere(Upper(), halve, Longer())).run(conv, {})
        assert [(c.block.message_index, c.new_text, c.by) for c in conv.changes] == [(0, "hello", "halve")]
        assert halve.seen == ["hello world"]

    def test_no_gain_leaves_block_alone(self):
        """A compressor that returns same-length or longer text records nothing."""
        conv = conversation("hello")
        Pipeline(OPEN, everywhere(Upper(), Longer())).run(conv, {})
        assert not conv.changes

    def test_unreleased_blocks_are_never_offered(self):
        """A block the policy holds back is not shown to any compressor."""
        halve = Halve()
        conv = conversation("hello world", kind=Kind.TEXT)
        Pipeline(OPEN, everywhere(halve)).run(conv, {})
        assert halve.seen == [] and not conv.changes

    def test_timings_are_added_per_compressor(self):
        """Every compressor that ran adds its time under its name; one that never applied adds none."""
        timings = {"parse": 0.5}
        conv = conversation("hello world", "help me")
        Pipeline(OPEN, everywhere(Halve())).run(conv, timings)
        assert set(timings) == {"parse", "router", "halve"} and timings["halve"] >= 0.0
        assert len(conv.changes) == 2


class Recorder:
    """Applies to everything; records what it was offered and changes nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []

    then = None

    def applies(self, block: BlockInputs) -> bool:
        return True

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        self.seen.append(text)
        return None


PRETTY_SMALL = json.dumps({"ok": True, "items": [{"id": i, "name": f"n{i}"} for i in range(8)]}, indent=2)
CODE = "def main():\n    value = compute()\n    return value\n\n" * 20
PROSE = "The upload worker retries three times before it gives up on a slow peer. " * 10
JSONL = "\n".join(json.dumps({"id": i, "name": f"row {i}", "tags": ["a", "b"]}) for i in range(20))


class TestRouting:
    def test_each_type_reaches_only_its_compressors(self):
        """A released block is offered only to the compressors routed for its detected content type."""
        recorders = {kind: Recorder(kind.value) for kind in ContentType}
        texts = {ContentType.JSON: PRETTY_SMALL, ContentType.LOG: load("pytest_verbose.txt"),
                 ContentType.DIFF: load("git_diff_u8.txt"), ContentType.SEARCH: load("grep_rn.txt"),
                 ContentType.HTML: load("docs_page.html"),
                 ContentType.TABLE: load("kubectl_get_pods.txt"),
                 ContentType.CODE: CODE, ContentType.TEXT: PROSE, ContentType.JSONL: JSONL}
        conv = conversation(*texts.values())
        Pipeline(OPEN, Routes(ROUTER, {kind: [recorder] for kind, recorder in recorders.items()})).run(conv, {})
        assert {kind: recorders[kind].seen for kind in texts} == {kind: [text] for kind, text in texts.items()}

    def test_content_is_detected_once_per_block(self, monkeypatch):
        """The router classifies each released block once; no compressor asks again."""
        calls: list[int] = []
        sample = router.Sample
        monkeypatch.setattr(router, "Sample", lambda text, *a: calls.append(len(text)) or sample(text, *a))
        conv = conversation(load("pytest_verbose.txt"), load("grep_rn.txt"), CODE)
        Pipeline(OPEN, default_routes()).run(conv, {})
        assert len(calls) == 3 and [c.by for c in conv.changes] == ["logs", "search"]

    def test_a_text_routed_before_is_not_routed_again(self, monkeypatch):
        """A pipeline remembers each text's type by what the router reads of it (``Detections``):
        an equal text in a later request is not sampled again; one that only shares the sample
        (it runs on past it) is, and each gets the type the router gives it."""
        log = load("pytest_verbose.txt")
        cut = ("2025-03-14 09:00:01 INFO uploaded chunk of batch 7781\n" * 200)[:router.DEFAULT_SAMPLE_CHARS]
        texts = (log, cut, cut + "\n" + PROSE)
        types = [ROUTER.detect(text) for text in texts]
        calls: list[int] = []
        sample = router.Sample
        monkeypatch.setattr(router, "Sample", lambda text, *a: calls.append(len(text)) or sample(text, *a))
        pipeline = Pipeline(OPEN, default_routes())
        for _ in range(2):  # equal texts, new str objects each time
            assert [pipeline.detections.detect("".join(list(text))) for text in texts] == types
        assert calls == [len(text) for text in texts]

    def test_a_short_text_routed_before_is_not_routed_again(self, monkeypatch):
        """A text under ``MEMO_CHARS`` is remembered by the text itself, ``_MEMO_BYTES`` of them at most."""
        short = "FAILED tests/test_a.py::test_b - assert 1 == 2\nERROR tests/test_c.py"
        calls: list[int] = []
        sample = router.Sample
        monkeypatch.setattr(router, "Sample", lambda text, *a: calls.append(len(text)) or sample(text, *a))
        detections = Pipeline(OPEN, default_routes()).detections
        assert detections.detect("".join(list(short))) == detections.detect(short) == ROUTER.detect(short)
        assert len(calls) == 2  # ROUTER's own, and the first of the pipeline's
        for number in range(router._MEMO_BYTES // 100):
            detections.detect(f"text {number}")
        calls.clear()
        detections.detect(short)
        assert calls == [len(short)]  # forgotten with the rest once the limit was reached

    def test_unrouted_types_stay_byte_identical(self):
        """Code and JSONL have no compressors by default, and prose without repeated lines has nothing to fold."""
        conv = conversation(CODE, PROSE, JSONL)
        timings: dict[str, float] = {}
        Pipeline(OPEN, default_routes()).run(conv, timings)
        assert not conv.changes and set(timings) == {"router"}

    def test_large_json_is_sampled_small_json_compacted(self):
        """Large JSON goes to the sampler first; JSON too small for it falls back to lossless compaction."""
        conv = conversation(load("kubectl_pods.json"), PRETTY_SMALL)
        Pipeline(OPEN, default_routes()).run(conv, {})
        assert [c.by for c in conv.changes] == ["json_sampler", "json_compact"]
        assert json.loads(conv.changes[1].new_text) == json.loads(PRETTY_SMALL)
        assert "[trimwire: " in conv.changes[0].new_text and json.loads(conv.changes[0].new_text)

    def test_default_routes(self):
        """The default routes name the compressors per type; plain text only folds repeats; code and JSONL have none."""
        routes = default_routes()
        names = {kind: [compressor.name for compressor in routes[kind]] for kind in routes}
        assert names == {ContentType.JSON: ["json_sampler", "json_compact"], ContentType.LOG: ["logs"],
                         ContentType.SEARCH: ["search"], ContentType.DIFF: ["diff"], ContentType.HTML: ["html"],
                         ContentType.TABLE: ["table"], ContentType.TEXT: ["repeats"],
                         "kube_describe": ["kube_describe"], "listing": ["listing"]}


class TestPerRequestOptions:
    def test_frozen_messages_are_never_offered(self):
        """Blocks of messages before frozen_messages (a cached prefix) reach no compressor."""
        halve = Halve()
        conv = conversation("hello world", "hello again")
        Pipeline(OPEN, everywhere(halve)).run(conv, {}, frozen_messages=1)
        assert halve.seen == ["hello again"] and [c.block.message_index for c in conv.changes] == [1]

    def test_protect_recent_override_in_token_mode(self):
        """A request's protect_recent replaces the setting: 0 lets the newest result be compressed."""
        conv = conversation("hello world", "hello again")
        Pipeline(OPEN, everywhere(Halve()), protect_recent=2).run(conv, {}, "token")
        assert not conv.changes
        conv = conversation("hello world", "hello again")
        Pipeline(OPEN, everywhere(Halve()), protect_recent=2).run(conv, {}, "token", protect_recent=0)
        assert len(conv.changes) == 2
