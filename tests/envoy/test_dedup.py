"""An agent that re-reads a file, or re-runs a failing test suite, through Envoy with the real
Anthropic SDK: the re-read (the re-run's repeated traceback) arrives upstream as pointers to the
first, and every earlier message as the previous request had it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anthropic
import pytest

from extproc.pipeline.guard import Guard
from tests.unit.dedup_resolve import expand, texts_of
from tests.upstream import RecordingUpstream

from .stack import TEST_ID_HEADER, EnvoyProcess, TrimwireProcess, metric_value, recorded

pytestmark = pytest.mark.envoy

SOURCE = "\n".join(f"def handler_{n}(request, retries={n % 4}):\n    return route(request, timeout={n * 3})"
                   for n in range(80))
EDITED = SOURCE.replace("timeout=120)", "timeout=121)")


def numbered(text: str) -> str:
    return "\n".join(f"{n:6d}\t{line}" for n, line in enumerate(text.split("\n"), 1))


def turns(reread: str) -> list[tuple[str, str]]:
    return [("cat -n src/handlers.py", numbered(SOURCE)),
            ("sed -i 's/timeout=120)/timeout=121)/' src/handlers.py", ""),
            (reread, numbered(EDITED))]


def conversation(count: int, reread: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Raise the timeout of handler 40."}]
    for number, (command, output) in enumerate(turns(reread)[:count]):
        call = f"toolu_dedup_{number}"
        messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": call, "name": "Bash",
                                                         "input": {"command": command}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call, "content": output}]}]
    return messages


# piped into a line picker or plain, the re-read is a file read (reads.py): pointers into earlier messages only
@pytest.mark.parametrize("reread", ["cat -n src/handlers.py | head -400", "cat -n src/handlers.py"])
def test_reread_file_arrives_as_pointers(envoy: EnvoyProcess, upstream: RecordingUpstream,
                                         trimwire: TrimwireProcess, reread: str) -> None:
    """Turn by turn the SDK resends the conversation; the last request's re-read holds pointers to
    the first read, and each earlier message reaches the upstream byte-identical to before."""
    test_id = uuid.uuid4().hex
    saved_before = metric_value(trimwire.ops_url, "trimwire_dedup_tokens_total", {"kind": "saved"}) or 0.0
    client = anthropic.Anthropic(base_url=envoy.url, api_key="sk-test-dedup", max_retries=0)
    for count in range(1, 4):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=conversation(count, reread),
                               extra_headers={TEST_ID_HEADER: test_id})
    received = [json.loads(request.body)["messages"] for request in recorded(upstream, test_id)]
    assert len(received) == 3
    for earlier, later in zip(received, received[1:]):
        assert [json.dumps(m) for m in later[:len(earlier)]] == [json.dumps(m) for m in earlier]
    reread = received[-1][-1]["content"][0]["content"]
    pointer = "[trimwire: lines {} = lines {} of the output of toolu_dedup_0 (cat -n src/handlers.py)]"
    assert reread == "\n".join([pointer.format("1-81", "1-81"), "    82\t    return route(request, timeout=121)",
                                pointer.format("83-160", "83-160")])
    assert received[-1][2] == conversation(3, reread)[2]  # the first read itself went out whole
    saved = metric_value(trimwire.ops_url, "trimwire_dedup_tokens_total", {"kind": "saved"})
    assert saved is not None and saved > saved_before


TWICE = "\n".join(f"def retry_{n}(request):\n    return route(request, attempts={n})" for n in range(20))


@pytest.mark.parametrize(("command", "points_inside"), [("nl -ba src/retry.py | sed -n '1,200p'", False),
                                                         ("python -c 'print(open(\"src/retry.py\").read())'", True)])
def test_piped_read_never_points_inside_itself(envoy: EnvoyProcess, upstream: RecordingUpstream,
                                               trimwire: TrimwireProcess, command: str, points_inside: bool) -> None:
    """A file holding a block twice, shown by ``nl -ba f | sed -n``, is a read: it arrives as the file
    holds it. The same lines printed by a script are a released output: the second copy points up."""
    test_id = uuid.uuid4().hex
    call = f"toolu_twice_{int(points_inside)}"  # one id per command: a message is remembered by its text
    output = numbered(f"{TWICE}\n{TWICE}")
    messages = [{"role": "user", "content": "Why does retry run twice?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": call, "name": "Bash",
                                                   "input": {"command": command}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call,
                                              "content": output}]}]
    client = anthropic.Anthropic(base_url=envoy.url, api_key="sk-test-dedup", max_retries=0)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=messages,
                           extra_headers={TEST_ID_HEADER: test_id})
    [request] = recorded(upstream, test_id)
    sent = json.loads(request.body)["messages"][-1]["content"][0]["content"]
    if points_inside:
        assert sent.endswith("[trimwire: lines 41-80 = lines 1-40 above in this output]"), sent[-200:]
    else:
        assert sent == output


FIXTURES = Path(__file__).parents[1] / "unit" / "compressors" / "fixtures"


def pytest_runs(count: int) -> list[dict[str, Any]]:
    """``pytest -v`` failing, then (``count`` 2) run again with the same failures: new object
    addresses and duration, each result ``is_error`` as Claude Code flags a non-zero exit."""
    first = "Exit code 1\n" + (FIXTURES / "pytest_verbose.txt").read_text(encoding="utf-8").rstrip("\n")
    again = first.replace("0x7f3a2c1d9e50", "0x7f91c04a7d30").replace("in 41.27s", "in 39.84s")
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Make the refund tests pass."}]
    for number, output in enumerate((first, again)[:count]):
        call = f"toolu_rerun_{number}"
        messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": call, "name": "Bash",
                                                         "input": {"command": "pytest -v"}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call, "is_error": True,
                                                   "content": output}]}]
    return messages


def test_rerun_points_at_the_earlier_traceback(envoy: EnvoyProcess, upstream: RecordingUpstream,
                                               trimwire: TrimwireProcess) -> None:
    """The second failing run arrives with pointers to the first in place of its repeated FAILURES
    section, traceback and short summary (``dedup_errors``); read back from the request, every line
    the error guard protects is there byte for byte, and the first request's messages arrive again
    byte-identical."""
    test_id = uuid.uuid4().hex
    client = anthropic.Anthropic(base_url=envoy.url, api_key="sk-test-dedup", max_retries=0)
    for count in (1, 2):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=pytest_runs(count),
                               extra_headers={TEST_ID_HEADER: test_id})
    received = [json.loads(request.body)["messages"] for request in recorded(upstream, test_id)]
    assert len(received) == 2
    assert [json.dumps(m) for m in received[1][:len(received[0])]] == [json.dumps(m) for m in received[0]]
    again = pytest_runs(2)[-1]["content"][0]["content"]
    arrived = received[1][-1]["content"][0]["content"]
    trace = "E           shop.payments.errors.PaymentError: capture below minimum: 20.00 < 25.00"
    assert "of the output of toolu_rerun_0 (pytest -v)]" in arrived and trace not in arrived.split("\n")
    protected = Guard(again).lines
    assert trace in protected and protected <= set(expand(arrived, texts_of(received[1])).split("\n"))
