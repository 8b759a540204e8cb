"""The compressor contract: compressors see only what the block cache key holds (pipeline/contract.py)."""

from __future__ import annotations

import dataclasses

import pytest

from extproc import Block, Conversation, Kind, Pipeline, Policy
from extproc.compressors import default_routes
from extproc.compressors.content_types import ROUTER
from extproc.compressors.kompress import ProseEntry
from extproc.pipeline import BlockInputs, Budget, Routes
from extproc.pipeline.router import ContentType

from .compressors import load

# For each field of BlockInputs, a value other than the one the key test starts from.
OTHER = {"text": "other text", "tool_name": "Grep", "terms": ("pkg-137",), "guarded": True}


class Witness:
    """Applies to everything and changes nothing; keeps what the pipeline gave it."""

    name = "witness"
    then = None

    def __init__(self) -> None:
        self.given: list[object] = []

    def applies(self, block: BlockInputs) -> bool:
        self.given.append(block)
        return True

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        self.given.append(block)
        return None


def released(text: str, **fields) -> Conversation:
    conv = Conversation(format="test", model="m")
    conv.add(Block(kind=Kind.TOOL_RESULT, role="tool", text=text, message_index=4, path=("parts", 0), **fields))
    return conv


class TestBlockInputs:
    def test_compressors_are_given_the_inputs_not_the_block(self):
        """applies and compress_block see a BlockInputs of the block's text, tool, terms and guard flag."""
        witness = Witness()
        text = load("pytest_verbose.txt")
        conv = released(text, tool_name="Bash", focus=("test_serialize_order_1",), is_error=True)
        routes = Routes(ROUTER, dict.fromkeys(ContentType, [witness]))
        Pipeline(Policy(protected_tools=(), min_block_chars=0), routes).run(conv, {})
        assert witness.given == [BlockInputs(text, "Bash", ("test_serialize_order_1",), True)] * 2
        assert all(type(given) is BlockInputs for given in witness.given)
        assert not hasattr(witness.given[0], "message_index")

    def test_the_key_changes_with_every_field(self):
        """Each field of BlockInputs is in its cache key, so no compressor can read what the key lacks."""
        assert {field.name for field in dataclasses.fields(BlockInputs)} == set(OTHER)
        base = BlockInputs("text")
        for name, value in OTHER.items():
            assert dataclasses.replace(base, **{name: value}).key("v1") != base.key("v1"), name
        assert base.key("v1") != base.key("v2")
        assert BlockInputs("text", "Bash", ("a",)).key("v1") == BlockInputs("text", "Bash", ("a",)).key("v1")

    def test_inputs_are_frozen(self):
        """A compressor cannot change what the next compressor, or the cache, sees."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            BlockInputs("text").text = "other"  # type: ignore[misc]

    def test_content_type_is_the_routers_not_an_input(self):
        """The router decides the type from the text (so the key holds it through the text); a
        compressor is not given it, and other text keeps the block's other facts."""
        inputs = BlockInputs('{"a": [1, 2, 3]}', "Bash")
        router = default_routes().router
        assert router.detect(inputs.text) is ContentType.JSON and not hasattr(inputs, "content_type")
        log = inputs.with_text(load("pytest_verbose.txt"))
        assert router.detect(log.text) is ContentType.LOG and log.tool_name == "Bash"


class TestOneProtocol:
    @pytest.mark.parametrize("compressor", [c for cs in default_routes().values() for c in cs]
                             + [ProseEntry()], ids=lambda c: c.name)
    def test_every_compressor_speaks_the_one_protocol(self, compressor):
        """Every shipped compressor has a name, ``then``, ``applies`` and ``compress_block``, nothing else asked."""
        assert isinstance(compressor.name, str)
        assert compressor.then is None or isinstance(compressor.then, ContentType)
        assert callable(compressor.applies) and callable(compressor.compress_block)
