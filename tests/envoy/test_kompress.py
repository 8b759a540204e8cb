"""Kompress through a real Envoy: prose tool output thinned by the embedded model, and a request
with 50k tokens of prose answered within the deadline on CPU, compressing what fits in time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.upstream import RecordingUpstream

from .prose import stdlib_prose
from .stack import (
    TEST_ID_HEADER,
    EnvoyProcess,
    RequestCapture,
    TrimwireProcess,
    metric_value,
    recorded,
    start_test_envoy,
    start_trimwire,
    wait_until,
)

pytestmark = pytest.mark.envoy

API_KEY = "sk-test-0123456789abcdef"
QUESTION = "Summarise what the documentation says about event loops, and quote it where it matters."
DEADLINE_MS = 2500   # the production default; model inference may use 60% of it


def anthropic_prose_body(outputs: list[str]) -> dict:
    messages: list[dict] = [{"role": "user", "content": QUESTION}]
    for n, output in enumerate(outputs):
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": f"toolu_{n:02d}", "name": "WebFetch", "input": {"url": f"https://docs/{n}"}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{n:02d}", "content": output}]})
    return {"model": "claude-opus-4-1", "max_tokens": 256, "messages": messages}


def tool_texts(body: dict) -> list[str]:
    return [block["content"] for m in body["messages"] if isinstance(m["content"], list)
            for block in m["content"] if block["type"] == "tool_result"]


def assert_thinned(sent: str, got: str, reflowed: bool = False) -> None:
    """Kompress's contract: fewer words, every kept word in order, lines and line breaks in place;
    ``reflowed``: a thinned option description may take fewer lines (``kompress/layout.py``)."""
    assert len(got) < len(sent)
    if reflowed:
        words = iter(sent.split())
        assert all(word in words for word in got.split())
        assert got.count("\n") < sent.count("\n")
        return
    assert got.count("\n") == sent.count("\n")
    for old, new in zip(sent.split("\n"), got.split("\n")):
        words = iter(old.split())
        assert all(word in words for word in new.split()), (old, new)


class TestProseThroughEnvoy:
    def test_anthropic_sdk_prose_tool_result(self, envoy: EnvoyProcess, trimwire: TrimwireProcess,
                                             upstream: RecordingUpstream) -> None:
        """A prose tool result reaches the upstream thinned; the user's question is untouched."""
        prose = stdlib_prose(1500)
        body = anthropic_prose_body([prose])
        test_id = uuid.uuid4().hex
        client = anthropic.Anthropic(base_url=envoy.url, api_key=API_KEY, max_retries=0)
        reply = client.messages.with_raw_response.create(**body, extra_headers={TEST_ID_HEADER: test_id})
        assert reply.parse().content[0].text == "ok"
        [received] = recorded(upstream, test_id)
        got = received.json()
        assert got["messages"][0] == body["messages"][0]
        assert_thinned(prose, tool_texts(got)[0])
        assert reply.headers["x-trimwire-outcome"] == "compressed"
        assert int(reply.headers["x-trimwire-tokens-saved"]) > 0
        wait_until(lambda: (metric_value(trimwire.ops_url, "trimwire_kompress_blocks_total",
                                         {"result": "compressed"}) or 0) >= 1, "kompress to count the block")
        assert metric_value(trimwire.ops_url, "trimwire_kompress_model", {"model": "embedded"}) == 1

    def test_openai_sdk_prose_tool_message(self, envoy: EnvoyProcess, upstream: RecordingUpstream) -> None:
        """The same through chat completions: a role tool message of prose is thinned."""
        prose = stdlib_prose(1200, offset=40)
        test_id = uuid.uuid4().hex
        messages = [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "fetch_docs", "arguments": json.dumps({"url": "https://docs/1"})}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": prose},
        ]
        capture = RequestCapture()
        with capture.client() as http:
            client = openai.OpenAI(base_url=envoy.url + "/v1", api_key=API_KEY, max_retries=0, http_client=http)
            client.chat.completions.create(model="gpt-4o", messages=messages,
                                           extra_headers={TEST_ID_HEADER: test_id})
        [received] = recorded(upstream, test_id)
        got = received.json()["messages"]
        assert got[:2] == json.loads(capture.body)["messages"][:2]
        assert_thinned(prose, got[2]["content"])


@pytest.fixture(scope="module")
def production_deadline(tmp_path_factory: pytest.TempPathFactory, upstream: RecordingUpstream,
                        envoy_binary: str) -> Iterator[tuple[TrimwireProcess, EnvoyProcess]]:
    """trimwire with the production request deadline (the shared test stack allows 30 s), and no
    dedup: the prose windows overlap, and what is measured here is the model's pass over them all."""
    trimwire = start_trimwire(Path(tmp_path_factory.mktemp("kompress")), workers=2,
                              TRIMWIRE_REQUEST_DEADLINE_MS=str(DEADLINE_MS), TRIMWIRE_KOMPRESS_DEVICE="cpu",
                              TRIMWIRE_DEDUP="false")
    envoy = None
    try:
        envoy = start_test_envoy(trimwire.grpc_port, upstream)
        yield trimwire, envoy
    finally:
        if envoy is not None:
            envoy.stop()
        trimwire.stop()


def test_50k_tokens_of_prose_within_the_deadline(production_deadline, upstream: RecordingUpstream) -> None:
    """50k tokens of prose on CPU: trimwire answers before its deadline (no fail-open), thins the
    blocks it could score in time, and passes the rest through exactly as sent."""
    trimwire, envoy = production_deadline
    outputs = [stdlib_prose(3400, offset=23 * n) for n in range(11)]
    body = anthropic_prose_body(outputs)
    test_id = uuid.uuid4().hex
    client = anthropic.Anthropic(base_url=envoy.url, api_key=API_KEY, max_retries=0)
    reply = client.messages.with_raw_response.create(**body, extra_headers={TEST_ID_HEADER: test_id})
    assert reply.headers["x-trimwire-outcome"] == "compressed"  # not failed_open: the deadline held
    assert int(reply.headers["x-trimwire-tokens-before"]) >= 50_000
    [received] = recorded(upstream, test_id)
    got = tool_texts(received.json())
    thinned = [n for n, (old, new) in enumerate(zip(outputs, got)) if new != old]
    assert thinned, "Kompress scored nothing in time"
    for n in thinned:
        new_lines, old_lines = got[n].split("\n"), outputs[n].split("\n")
        assert len(new_lines) == len(old_lines)
        for old, new in zip(old_lines, new_lines):  # thinned lines, and lines left whole after the deadline
            words = iter(old.split())
            assert all(word in words for word in new.split())
    wait_until(lambda: metric_value(trimwire.ops_url, "trimwire_requests_total",
                                    {"outcome": "compressed"}) is not None, "the request to be counted")
    assert metric_value(trimwire.ops_url, "trimwire_failed_open_total", {"reason": "deadline"}) is None


class TestDocumentsThroughEnvoy:
    def test_a_man_page_read_with_man_arrives_thinned(self, envoy: EnvoyProcess, upstream: RecordingUpstream) -> None:
        """`man tidewater` as man prints it (indented paragraphs): its prose is thinned, its option
        lines and every must-keep word arrive as sent."""
        from extproc.compressors.kompress.rules import must_keep

        page = (Path(__file__).resolve().parents[1] / "unit" / "kompress" / "fixtures" / "man_page.txt").read_text()
        body = {"model": "claude-opus-4-1", "max_tokens": 256, "messages": [
            {"role": "user", "content": "What does --replay do with rejected batches?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_man", "name": "Bash",
                                               "input": {"command": "man tidewater | cat"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_man", "content": page}]},
        ]}
        test_id = uuid.uuid4().hex
        client = anthropic.Anthropic(base_url=envoy.url, api_key=API_KEY, max_retries=0)
        client.messages.create(**body, extra_headers={TEST_ID_HEADER: test_id})
        [received] = recorded(upstream, test_id)
        got = tool_texts(received.json())[0]
        assert_thinned(page, got)
        assert len(got) < 0.9 * len(page)
        assert [line for line in page.split("\n") if line.lstrip().startswith("-")] == \
            [line for line in got.split("\n") if line.lstrip().startswith("-")]
        assert all(word in got.split() for word in page.split() if must_keep(word))

    def test_a_real_help_output_arrives_thinned_with_its_flags(self, envoy: EnvoyProcess,
                                                               upstream: RecordingUpstream) -> None:
        """`ls --help` as GNU coreutils prints it (fixtures/real): its option descriptions are
        thinned (the wrapped ones re-flowed onto fewer lines), every option's names and the gap
        after them arrive as sent, and so does every must-keep word (flags, arguments, numbers)."""
        from collections import Counter

        from extproc.compressors.kompress.options import _ROW
        from extproc.compressors.kompress.rules import must_keep

        real = Path(__file__).resolve().parents[1] / "unit" / "kompress" / "fixtures" / "real"
        text = (real / "help_ls.txt").read_text()
        body = {"model": "claude-opus-4-1", "max_tokens": 256, "messages": [
            {"role": "user", "content": "How do I list files sorted by size with ls?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_help", "name": "Bash",
                                               "input": {"command": "ls --help"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_help", "content": text}]},
        ]}
        test_id = uuid.uuid4().hex
        client = anthropic.Anthropic(base_url=envoy.url, api_key=API_KEY, max_retries=0)
        reply = client.messages.with_raw_response.create(**body, extra_headers={TEST_ID_HEADER: test_id})
        assert reply.headers["x-trimwire-outcome"] == "compressed"
        [received] = recorded(upstream, test_id)
        got = tool_texts(received.json())[0]
        assert_thinned(text, got, reflowed=True)
        assert len(got) < 0.9 * len(text)
        leads = [row["lead"].rstrip() for line in text.split("\n") if (row := _ROW.match(line)) and row["flag"]]
        lines = iter(got.split("\n"))  # each option's row, in order, starts as it did
        assert len(leads) > 50 and all(any(line.startswith(lead) for line in lines) for lead in leads)
        assert "  -S                         sort by file size, largest first" in text
        before, after = Counter(w for w in text.split() if must_keep(w)), Counter(got.split())
        assert {word: n for word, n in before.items() if after[word] < n} == {}
