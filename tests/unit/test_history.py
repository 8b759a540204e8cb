"""``history.History``: the one seam for what a process remembers of bodies it has compressed
(checkpoints, message cache, surroundings, block cache, token counts)."""

from __future__ import annotations

import dataclasses
import json
import typing

from extproc import BodyRequest, Settings, build_engine
from extproc.history import History
from extproc.messages import Body, Totals
from tests.shelf import SHELF

from .sessions import coding_session, requests


def _held(history: History) -> dict[str, int]:
    """How many entries each remembered part holds."""
    reader = history.reader
    assert history.blocks is not None and history.tokens is not None and history.lines is not None
    assert reader.messages is not None and reader.checkpoints is not None and reader.surroundings is not None
    return {"blocks": len(history.blocks._lru), "messages": len(reader.messages._lru),
            "checkpoints": len(reader.checkpoints._lru), "surroundings": len(reader.surroundings._lru),
            "tokens": len(history.tokens._counts), "lines": len(history.lines._lru)}


class TestHistory:
    def test_the_compressor_remembers_everything_through_its_history(self):
        """A production compressor's block cache and token counter are the history's own."""
        compressor = build_engine(Settings(workers=0), shelf=SHELF)
        assert compressor.history.blocks is compressor.pipeline.cache is not None
        assert compressor.history.tokens is compressor.tokens
        assert compressor.dedup is not None and compressor.history.lines is compressor.dedup.lines

    def test_forget_drops_every_part(self):
        """After a conversation, every part holds something; ``forget`` empties all six at once."""
        compressor = build_engine(Settings(workers=0), shelf=SHELF)
        system = "You are a careful coding agent. " * 200  # a large member: kept by the surroundings
        for body in requests("openai", coding_session("swe_agent")):
            body["messages"][0] = {"role": "system", "content": system}
            compressor.run(json.dumps(body).encode(), BodyRequest("openai"))
        assert all(_held(compressor.history).values()), _held(compressor.history)
        compressor.forget()
        assert not any(_held(compressor.history).values())

    def test_the_state_between_turns_is_typed(self):
        """What a body carries from the conversation's last one is ``Totals``, not ``Any``."""
        hints = typing.get_type_hints(Body)
        assert hints["prior"] == hints["resumed"] == Totals | None
        assert all(field.type != "Any" for field in dataclasses.fields(Totals))
