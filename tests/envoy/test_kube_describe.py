"""kubectl describe output through a real Envoy with the openai SDK: the bulk folds, the fields
and the pod the question names arrive exactly, and the next turn resends the first byte for byte."""

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
FIXTURES = Path(__file__).parents[1] / "unit" / "compressors" / "fixtures"
NODE = (FIXTURES / "kubectl_describe_node.txt").read_text()
POD = (FIXTURES / "kubectl_describe_pod.txt").read_text()
# Per turn: the question, what the agent ran, its output, and lines that must arrive exactly.
TURNS = (
    ("How much CPU does monitoring-worker-24-7f9c18 request?", "kubectl describe node worker-3", NODE,
     ("  Kernel Version:             6.1.112-124.190.amzn2023.x86_64",
      "  Warning  EvictionThresholdMet   23m   kubelet  Attempting to reclaim ephemeral-storage",
      next(line for line in NODE.split("\n") if "monitoring-worker-24-7f9c18" in line))),
    ("Why does the checkout pod keep restarting?", "kubectl describe pod -n shop checkout-5d8f7c9b4-q7x2m", POD,
     ("    Image:          registry.example.com/shop/checkout:2.14.1", "      Exit Code:    137",
      "      Reason:       CrashLoopBackOff", POD.rstrip("\n").split("\n")[-1])),
)


def turn(messages: list[dict], number: int, question: str, command: str, output: str) -> None:
    call = f"call_{number:02d}"
    arguments = json.dumps({"command": command})
    messages += [{"role": "user", "content": question},
                 {"role": "assistant", "content": None, "tool_calls": [
                     {"id": call, "type": "function", "function": {"name": "bash", "arguments": arguments}}]},
                 {"role": "tool", "tool_call_id": call, "content": output}]


def test_describe_folds_and_keeps_what_is_asked(envoy: EnvoyProcess, upstream: RecordingUpstream) -> None:
    """A node's describe keeps the pod asked about from its folded pod table, a pod's keeps its
    image, exit code and warnings; each is shorter, and turn 2 resends turn 1 exactly."""
    client = openai.OpenAI(base_url=f"{envoy.url}/v1", api_key=API_KEY, max_retries=0)
    messages: list[dict] = []
    sent: list[dict] = []
    for number, (question, command, output, wanted) in enumerate(TURNS):
        turn(messages, number, question, command, output)
        test_id = uuid.uuid4().hex
        client.chat.completions.create(model="gpt-4o", messages=messages, extra_headers={TEST_ID_HEADER: test_id})
        [received] = recorded(upstream, test_id)
        got = received.json()["messages"]
        result = got[-1]["content"]
        assert len(result) < len(output) * 0.7 and "[trimwire: " in result
        assert [line for line in wanted if line not in result.split("\n")] == []
        assert got[:len(sent)] == sent
        sent = got
