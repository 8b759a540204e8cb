"""What the user asked about survives, through a real Envoy with the anthropic SDK: a long JSON
listing keeps the entry the question names, and the next turn resends the first byte for byte."""

from __future__ import annotations

import json
import random
import uuid

import anthropic
import pytest

from tests.upstream import RecordingUpstream

from .stack import TEST_ID_HEADER, EnvoyProcess, recorded

pytestmark = pytest.mark.envoy

API_KEY = "sk-test-0123456789abcdef"


def listing() -> list[dict]:
    rnd = random.Random(11)
    return [{"name": f"svc-{index:03d}", "image": f"registry.local/svc:{index}.0", "sha": "%012x" % rnd.getrandbits(48),
             "replicas": 2} for index in range(300)]


def turn(messages: list[dict], number: int, question: str, output: str) -> None:
    call = f"toolu_{number:02d}"
    messages += [{"role": "user", "content": question},
                 {"role": "assistant", "content": [{"type": "tool_use", "id": call, "name": "Bash",
                                                    "input": {"command": "kubectl get deploy -o json | jq .items"}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call, "content": output}]}]


def test_the_entry_asked_about_arrives_and_history_stays(envoy: EnvoyProcess, upstream: RecordingUpstream) -> None:
    """Turn 1 asks about svc-137, turn 2 about svc-251: each arrives with its entry's fields, and
    turn 2 resends turn 1's messages exactly as they went out."""
    items = listing()
    output = json.dumps(items, indent=2)
    client = anthropic.Anthropic(base_url=envoy.url, api_key=API_KEY, max_retries=0)
    messages: list[dict] = []
    sent: list[dict] = []
    for number, wanted in enumerate((137, 251)):
        turn(messages, number, f"Which image and sha does svc-{wanted:03d} run?", output)
        test_id = uuid.uuid4().hex
        client.messages.create(model="claude-opus-4-1", max_tokens=64, messages=messages,
                               extra_headers={TEST_ID_HEADER: test_id})
        [received] = recorded(upstream, test_id)
        got = received.json()["messages"]
        result = got[-1]["content"][0]["content"]
        assert len(result) < len(output) / 3
        assert items[wanted]["sha"] in result and items[wanted]["image"] in result
        assert got[:len(sent)] == sent
        sent = got
