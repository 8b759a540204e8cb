"""The request model's change log and the pipeline that fills it."""

from __future__ import annotations

import pytest

from extproc import Block, Conversation, Kind, Pipeline, Policy


def conversation(*texts: str, kind: Kind = Kind.TOOL_RESULT) -> Conversation:
    """A conversation whose blocks write into body["parts"][i]."""
    body = {"parts": list(texts)}
    conv = Conversation(format="test", model="m", body=body)
    for index, text in enumerate(texts):
        conv.add(Block(kind=kind, role="tool", text=text, message_index=index,
                       writer=lambda value, i=index: body["parts"].__setitem__(i, value)))
    return conv


class Upper:
    """Applies to everything; returns the text upper-cased (same length: never a win)."""

    name = "upper"

    def applies(self, block: Block) -> bool:
        return True

    def compress(self, text: str) -> str | None:
        return text.upper()


class Halve:
    """Applies to text starting with 'h'; keeps the first half."""

    name = "halve"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def applies(self, block: Block) -> bool:
        return block.text.startswith("h")

    def compress(self, text: str) -> str | None:
        self.seen.append(text)
        return text[: len(text) // 2]


class Longer:
    """Applies to everything; always makes the text longer."""

    name = "longer"

    def applies(self, block: Block) -> bool:
        return True

    def compress(self, text: str) -> str | None:
        return text + "!"


OPEN = Policy(protected_tools=(), min_block_chars=0)


class TestConversation:
    def test_replace_records_without_writing(self):
        """replace only records the change; the body and block text change on apply."""
        conv = conversation("hello")
        conv.replace(conv.blocks[0], "hi", by="test")
        assert conv.changed and conv.body == {"parts": ["hello"]} and conv.blocks[0].text == "hello"
        assert conv.apply() == {"parts": ["hi"]}
        assert conv.blocks[0].text == "hi"
        assert [(c.new_text, c.by) for c in conv.changes] == [("hi", "test")]

    def test_replace_read_only_block_raises(self):
        """A block without a writer cannot have a change recorded, and says which block it is."""
        conv = Conversation(format="test", model=None, body={})
        conv.add(Block(kind=Kind.THINKING, role="assistant", text="t", message_index=3))
        with pytest.raises(ValueError, match="thinking at message 3 is read-only"):
            conv.replace(conv.blocks[0], "", by="test")
        assert not conv.changed


class TestPipeline:
    def test_first_shrinking_compressor_wins(self):
        """Compressors are tried in order and the first that makes a block shorter is recorded."""
        halve = Halve()
        conv = conversation("hello world", "abc")
        Pipeline(OPEN, [Upper(), halve, Longer()]).run(conv, {})
        assert [(c.block.message_index, c.new_text, c.by) for c in conv.changes] == [(0, "hello", "halve")]
        assert halve.seen == ["hello world"]

    def test_no_gain_leaves_block_alone(self):
        """A compressor that returns same-length or longer text records nothing."""
        conv = conversation("hello")
        Pipeline(OPEN, [Upper(), Longer()]).run(conv, {})
        assert not conv.changed

    def test_unreleased_blocks_are_never_offered(self):
        """A block the policy holds back is not shown to any compressor."""
        halve = Halve()
        conv = conversation("hello world", kind=Kind.TEXT)
        Pipeline(OPEN, [halve]).run(conv, {})
        assert halve.seen == [] and not conv.changed

    def test_timings_are_added_per_compressor(self):
        """Every compressor that ran adds its time under its name; one that never applied adds none."""
        timings = {"parse": 0.5}
        conv = conversation("hello world", "help me")
        Pipeline(OPEN, [Halve()]).run(conv, timings)
        assert set(timings) == {"parse", "halve"} and timings["halve"] >= 0.0
        assert len(conv.changes) == 2
