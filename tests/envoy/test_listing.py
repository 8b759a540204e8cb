"""ls -la output through a real Envoy with the openai SDK: the owner, group and date the rows share
arrive once, every mode, size and name arrives exactly, and the next turn resends the first byte
for byte."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import openai
import pytest

from tests.upstream import RecordingUpstream

from .stack import TEST_ID_HEADER, EnvoyProcess, recorded

pytestmark = pytest.mark.envoy

API_KEY = "sk-test-0123456789abcdef"
LISTING = (Path(__file__).parents[1] / "unit" / "compressors" / "fixtures" / "ls_la.txt").read_text()
MARKER = ('[trimwire: in the ls -l rows below, owner "app", group "app", date "Mar 14  2025" left out; '
          'rows that differ shown whole]')
TURNS = (("What is in the project root?", "ls -la"), ("And how big is the changelog?", "du -sh CHANGES.rst"))


def test_listing_says_shared_columns_once(envoy: EnvoyProcess, upstream: RecordingUpstream) -> None:
    """The listing arrives shorter with the marker, rows that differ whole and every name exact;
    turn 2 resends turn 1 exactly."""
    client = openai.OpenAI(base_url=f"{envoy.url}/v1", api_key=API_KEY, max_retries=0)
    messages: list[dict] = []
    sent: list[dict] = []
    for number, (question, command) in enumerate(TURNS):
        call = f"call_{number:02d}"
        output = LISTING if number == 0 else "60K\tCHANGES.rst\n"
        messages += [{"role": "user", "content": question},
                     {"role": "assistant", "content": None, "tool_calls": [
                         {"id": call, "type": "function",
                          "function": {"name": "bash", "arguments": json.dumps({"command": command})}}]},
                     {"role": "tool", "tool_call_id": call, "content": output}]
        test_id = uuid.uuid4().hex
        client.chat.completions.create(model="gpt-4o", messages=messages, extra_headers={TEST_ID_HEADER: test_id})
        [received] = recorded(upstream, test_id)
        got = received.json()["messages"]
        listing = got[2]["content"].split("\n")
        assert MARKER in listing and len(got[2]["content"]) < len(LISTING)
        assert "drwxr-xr-x 1 root root  4096 Nov  2 09:41 .." in listing
        assert "-rw-r--r-- 1     118 release notes (draft).txt" in listing
        names = [line.split(maxsplit=8)[-1] for line in LISTING.split("\n")[1:] if line]
        assert all(any(line.endswith(" " + name) for line in listing) for name in names)
        assert got[:len(sent)] == sent
        sent = got
