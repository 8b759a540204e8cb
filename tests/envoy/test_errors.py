"""A failing test run (``is_error``) through Envoy: compressed, every failure and traceback line intact.

The real Anthropic SDK sends a conversation whose last tool result is a pytest run that failed,
flagged ``is_error`` as Claude Code flags any non-zero exit, through Envoy and trimwire to the
recording upstream. What arrives must be smaller, and every line the error guard protects
(``pipeline/guard.py``: FAILED lines, the short test summary, ``E`` lines, the Python traceback)
must be there byte for byte.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anthropic
import pytest

from extproc.pipeline.guard import Guard
from tests.upstream import RecordingUpstream

from .stack import TEST_ID_HEADER, EnvoyProcess, recorded

pytestmark = pytest.mark.envoy

FIXTURES = Path(__file__).parents[1] / "unit" / "compressors" / "fixtures"
TRACEBACK = """ERROR tests/conftest.py - ImportError while loading conftest
Traceback (most recent call last):
  File "/home/dev/shop/tests/conftest.py", line 7, in <module>
    from shop.settings import load
ImportError: cannot import name 'load' from 'shop.settings'"""


def failing_run() -> str:
    return "Exit code 1\n" + (FIXTURES / "pytest_verbose.txt").read_text(encoding="utf-8") + "\n" + TRACEBACK


def test_failing_test_run_arrives_compressed_with_every_error_line(envoy: EnvoyProcess,
                                                                   upstream: RecordingUpstream) -> None:
    """The is_error pytest output shrinks, and each FAILED, E and traceback line reaches the upstream."""
    output = failing_run()
    test_id = uuid.uuid4().hex
    client = anthropic.Anthropic(base_url=envoy.url, api_key="sk-test-0123456789abcdef", max_retries=0)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=64, extra_headers={TEST_ID_HEADER: test_id}, messages=[
        {"role": "user", "content": "Run the tests and fix what fails."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Bash",
                                           "input": {"command": "pytest -v"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "is_error": True,
                                      "content": output}]},
    ])
    [received] = recorded(upstream, test_id)
    result = json.loads(received.body)["messages"][2]["content"][0]
    arrived = result["content"]
    assert result["is_error"] is True
    assert len(arrived) < 0.5 * len(output)
    assert Guard(output).kept_by(arrived)
    lines = arrived.split("\n")
    for line in output.split("\n"):
        if line.startswith(("FAILED ", "E   ", "ERROR ")) or line in TRACEBACK.split("\n"):
            assert line in lines, line
    assert "[trimwire: " in arrived and "passing test" in arrived
