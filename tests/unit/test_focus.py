"""What the user asked about survives: context terms (``pipeline.focus``) through the whole path.

A listing answers a question; when a compressor must drop items or lines it keeps the ones that
hold the question's (or the call's) distinctive terms first. The terms come from messages before
the block, so a replay still sends every earlier message byte for byte.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from extproc import BodyRequest, Settings, build_engine
from extproc.compressors import JsonSampler, LogCompressor, RepeatFolder, SearchCompressor, TableCompressor
from extproc.pipeline import BlockInputs
from extproc.pipeline.focus import context_terms, relevant, used_terms
from tests.shelf import SHELF

from .test_replay import encode


def listing(count: int = 240) -> list[dict[str, Any]]:
    """A package listing: one shape, a few fields each, nothing standing out."""
    rnd = random.Random(3)
    return [{"name": f"pkg-{index:03d}", "version": f"1.{index % 7}.{index}", "license": "MIT",
             "sha": "%012x" % rnd.getrandbits(48), "downloads": 1000 + index % 9}
            for index in range(count)]


def pypi_document(count: int = 160) -> dict[str, Any]:
    """A PyPI-like ``/pypi/<name>/json`` document: ``releases`` keyed by version."""
    rnd = random.Random(5)
    versions = [f"{major}.{minor}.{patch}" for major in range(3) for minor in range(10) for patch in range(6)][:count]
    releases = {}
    for number, version in enumerate(versions):
        releases[version] = [{
            "filename": f"demo_pkg-{version}{suffix}", "packagetype": kind, "size": rnd.randint(20000, 90000),
            "digests": {"sha256": "%064x" % rnd.getrandbits(256), "md5": "%032x" % rnd.getrandbits(128)},
            "upload_time": f"2024-{1 + number % 12:02d}-{1 + number % 28:02d}T10:00:00",
            "url": f"https://files.pythonhosted.org/packages/{rnd.getrandbits(32):08x}/demo_pkg-{version}{suffix}",
            "yanked": version == "1.4.2", "yanked_reason": "broken wheel" if version == "1.4.2" else None,
        } for suffix, kind in (("-py3-none-any.whl", "bdist_wheel"), (".tar.gz", "sdist"))]
    return {"info": {"name": "demo-pkg", "version": versions[-1], "summary": "A demo package"},
            "releases": releases, "urls": releases[versions[-1]]}


def body(question: str, output: str,
         command: str = "curl -s https://registry.example/api/packages") -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 100, "messages": [
        {"role": "user", "content": question},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                           "input": {"command": command}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": output}]},
    ]}


def sent_output(compressor, request: dict[str, Any]) -> str:
    result = compressor.run(encode(request), BodyRequest("anthropic"))
    out = json.loads(result.body) if result.body is not None else request
    return out["messages"][2]["content"][0]["content"]


@pytest.fixture(scope="module")
def cached():
    return build_engine(Settings(workers=0), shelf=SHELF)


class TestContextTerms:
    def test_identifiers_versions_and_ids_are_taken_and_common_words_are_not(self):
        """Versions, pod names, file names, test ids and hash prefixes are terms; stopwords and
        everyday request words are not."""
        terms = context_terms("Why did release 2.31.0 of requests fail? Check pod api-7f9c4b-x2k, "
                              "tests/test_http.py::test_retry and commit a1b2c3d please", None)
        assert {"2.31.0", "requests", "api-7f9c4b-x2k", "test_http.py", "test_retry", "a1b2c3d"} <= set(terms)
        assert not {"why", "did", "release", "of", "check", "and", "please", "tests"} & set(terms)

    def test_call_arguments_count_and_reminders_do_not(self):
        """A call's string arguments give terms; a harness reminder inside the user message does not."""
        terms = context_terms("<system-reminder>todo list empty zebrafish</system-reminder>look at it",
                              {"command": "kubectl logs payments-5d8f7-q2w", "timeout": 30})
        assert "payments-5d8f7-q2w" in terms and "zebrafish" not in terms

    def test_used_terms_are_those_the_text_holds(self):
        """Only terms the block holds reach its cache key, sorted."""
        assert used_terms(("zeta", "alpha", "absent"), "ALPHA and Zeta") == ("alpha", "zeta")

    def test_used_terms_are_remembered_per_text_and_terms(self):
        """The answer is remembered by the text (an equal text, another str, finds it) and then the
        terms asked: other terms of the same text get their own answer."""
        text = "pod api-7f9c4-x2k restarted; pod web-1 ok"
        assert used_terms(("web-1", "db-0"), text) == ("web-1",)
        assert used_terms(("api-7f9c4-x2k", "web-1"), "".join(list(text))) == ("api-7f9c4-x2k", "web-1")
        assert used_terms(["db-0", "web-1"], text) == ("web-1",) and used_terms(("db-0",), text) == ()

    def test_a_term_held_by_too_many_texts_picks_nothing(self):
        """A term in more texts than the limit distinguishes nothing; a rare one picks its texts."""
        texts = "\n".join([f"requests {index}" for index in range(30)] + ["requests 2.31.0"])
        assert relevant(texts, ("requests", "2.31.0"), 5) == [30]

    def test_lines_are_numbered_where_terms_are(self):
        """Every line holding a rare term is found by its number, the first and the last too."""
        text = "\n".join(["api-1 x", "y", "z api-1", "w", "api-1"])
        assert relevant(text, ("api-1",), 5) == [0, 2, 4]
        assert relevant(text, ("api-1",), 2) == []  # in three lines: more than the limit


class TestJsonListing:
    def test_the_entry_asked_about_keeps_its_fields(self, cached):
        """A question about one package of 240 keeps that package's every field."""
        items = listing()
        out = sent_output(cached, body("What license and sha does pkg-137 have?", json.dumps(items, indent=2)))
        assert len(out) < len(json.dumps(items, indent=2)) / 3
        wanted = items[137]
        assert all(str(value) in out for value in wanted.values())
        assert items[151]["sha"] not in out

    def test_another_question_keeps_the_other_entry(self, cached):
        """The same listing with a question about another package keeps that one instead."""
        items = listing()
        out = sent_output(cached, body("What license and sha does pkg-151 have?", json.dumps(items, indent=2)))
        assert items[151]["sha"] in out and items[137]["sha"] not in out

    def test_without_a_question_neither_is_kept(self):
        """The old rule, head, tail and standouts, drops both: the question is what saves them."""
        items = listing()
        out = JsonSampler().compress(json.dumps(items, indent=2))
        assert items[137]["sha"] not in out and items[151]["sha"] not in out

    def test_a_reminder_after_the_question_does_not_hide_it(self, cached):
        """A user message holding only a harness reminder is no question: the one before it counts."""
        items = listing()
        request = body("What license and sha does pkg-137 have?", json.dumps(items, indent=2))
        request["messages"][1:1] = [
            {"role": "assistant", "content": "Let me look."},
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>todo list</system-reminder>"}]}]
        result = cached.run(encode(request), BodyRequest("anthropic"))
        assert items[137]["sha"] in json.loads(result.body)["messages"][4]["content"][0]["content"]

    def test_the_call_arguments_count_too(self, cached):
        """A name in the tool call's arguments keeps its entry when the question names none."""
        items = listing()
        out = sent_output(cached, body("what do you see?", json.dumps(items, indent=2),
                                       command="curl -s https://registry.example/api/packages?q=pkg-201"))
        assert items[201]["sha"] in out

    def test_a_rare_flag_stands_out(self):
        """A flag set on 3 items of 240 keeps those items with no question at all."""
        items = listing()
        for index in (40, 90, 170):
            items[index]["deprecated"] = True
        for item in items:
            item.setdefault("deprecated", False)
        out = JsonSampler().compress(json.dumps(items, indent=2))
        assert all(items[index]["sha"] in out for index in (40, 90, 170))


class TestLargeMaps:
    def test_a_registry_document_shrinks_and_names_what_it_omits(self):
        """A PyPI-like document loses most of its size; every omitted version is named."""
        document = pypi_document()
        text = json.dumps(document, indent=2)
        out = JsonSampler().compress(text)
        assert len(out) < len(text) / 5
        sampled = json.loads(out)["releases"]
        named = {name for key, value in sampled.items() if key.startswith("[trimwire: ") for name in value}
        kept = {key for key in sampled if not key.startswith("[trimwire: ")}
        assert kept | named == set(document["releases"]) and not kept & named
        assert "1.4.2" in kept  # the one yanked release stands out

    def test_the_version_asked_about_is_kept_whole(self, cached):
        """A question about one release keeps that release's files, digests and all."""
        document = pypi_document()
        out = sent_output(cached, body("Which files does demo-pkg 1.7.3 ship, and their sha256?",
                                       json.dumps(document, indent=2),
                                       command="curl -s https://pypi.org/pypi/demo-pkg/json"))
        for release in document["releases"]["1.7.3"]:
            assert release["digests"]["sha256"] in out
        assert document["releases"]["1.7.4"][0]["digests"]["sha256"] not in out

    def test_a_small_map_of_scalars_stays_whole(self):
        """A map of 80 strings (dependencies, settings) is not a listing: it is left whole."""
        document = {"dependencies": {f"lib{index}": f"^{index}.0.0" for index in range(80)}, "pad": "x" * 5000}
        out = JsonSampler().compress(json.dumps(document, indent=2))
        assert out is None or json.loads(out)["dependencies"] == document["dependencies"]


class TestLines:
    def test_the_pod_asked_about_keeps_its_row(self):
        """A table of 200 pods keeps the row of the pod the question names."""
        rows = [f"web-{index:03d}-5d8f7   1/1     Running   0          {index}d" for index in range(200)]
        text = "NAME            READY   STATUS    RESTARTS   AGE\n" + "\n".join(rows)
        assert "web-117-5d8f7" not in TableCompressor().compress(text)
        out = TableCompressor().compress_for(text, ("web-117-5d8f7",)).split("\n")
        # READY, STATUS and RESTARTS are the same on every row: said once above the table
        assert out[0].endswith('READY "1/1", STATUS "Running", RESTARTS "0"]') and "web-117-5d8f7   117d" in out

    def test_the_hit_asked_about_survives_the_caps(self):
        """A grep hit in a file past the file cap stays when the call or question names it."""
        text = "\n".join(f"src/m{f}/f{f}.py:{h + 1}:    retry(count={h})" for f in range(30) for h in range(12))
        assert "src/m27/f27.py\n" not in SearchCompressor().compress(text)  # named only in the closing marker
        out = SearchCompressor().compress_for(text, ("f27.py",))
        assert "9:    retry(count=8)" in out.split("\nsrc/m27/f27.py\n", 1)[1].split("\n")  # under its file's heading

    def test_the_test_asked_about_keeps_its_passing_line(self):
        """A passing test line named by the question stays; the others go."""
        lines = [f"tests/test_api.py::test_case_{index} PASSED" for index in range(100)]
        text = "\n".join(["============ test session starts ============", *lines,
                          "============ 100 passed in 3.2s ============"])
        assert "test_case_57 PASSED" not in LogCompressor().compress(text)
        assert lines[57] in LogCompressor().compress_for(text, ("test_case_57",)).split("\n")

    def test_a_named_line_is_never_folded(self):
        """A poller's line for the request id asked about stays out of the similar-line run."""
        lines = [f"2024-05-01T10:00:{index:02d}Z poll job=build status=pending id={index:08x}aa" for index in range(40)]
        text = "\n".join(lines)
        assert lines[20] not in RepeatFolder().compress(text)
        assert lines[20] in RepeatFolder().compress_for(text, (f"{20:08x}aa",)).split("\n")


class TestCacheSafety:
    def test_a_replay_sends_every_earlier_message_byte_identical(self, cached):
        """Each turn asks about another entry; every message already sent stays as it went out."""
        items = listing()
        messages: list[dict[str, Any]] = []
        sent: list[str] = []
        for turn, wanted in enumerate((137, 151, 12, 199)):
            call = f"toolu_{turn}"
            messages += [
                {"role": "user", "content": f"Tell me about pkg-{wanted:03d}"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": call, "name": "Bash",
                                                   "input": {"command": "curl -s https://registry.example/api/packages"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call,
                                              "content": json.dumps(items, indent=2)}]},
            ]
            request = {"model": "claude-x", "max_tokens": 100, "messages": list(messages)}
            result = cached.run(encode(request), BodyRequest("anthropic"))
            out = json.loads(result.body)["messages"]
            now = [json.dumps(message) for message in out]
            assert now[:len(sent)] == sent
            assert items[wanted]["sha"] in out[-1]["content"][0]["content"]
            sent = now

    def test_a_cached_message_is_not_reused_under_another_question(self, cached):
        """The same tool-result message after another question is compressed for that question."""
        items = listing()
        first = body("What sha does pkg-137 have?", json.dumps(items, indent=2))
        second = body("What sha does pkg-151 have?", json.dumps(items, indent=2))
        assert items[137]["sha"] in sent_output(cached, first)
        assert items[151]["sha"] in sent_output(cached, second)
        assert items[137]["sha"] in sent_output(cached, first)

    def test_the_block_key_holds_the_terms(self, cached):
        """Two blocks alike but for the terms they hold have different cache keys."""
        pipeline = cached.pipeline
        assert pipeline.key(BlockInputs("text", "Bash", ("pkg-137",))) != pipeline.key(BlockInputs("text", "Bash"))


class TestKnownQuestion:
    """``assign`` told where the latest question before a turn's new messages is (the checkpoint
    knows it) gives the same focus without walking back through the history."""

    @staticmethod
    def _items() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [{"role": "system", "content": "be brief"},
                                       {"role": "user", "content": "why does requests 2.31.0 fail on pypy?"}]
        for n in range(60):
            items += [{"role": "assistant", "content": f"step {n}"}, {"role": "tool", "content": f"out {n}"}]
        return items

    def test_the_same_focus_with_only_the_new_messages_read(self):
        from extproc.conversation import Block, Kind
        from extproc.formats._common import user_text
        from extproc.pipeline.focus import assign

        items = self._items()
        read: list[int] = []

        def recording(item: Any) -> str | None:
            read.append(items.index(item))
            return user_text(item)

        def block() -> Block:
            return Block(Kind.TOOL_RESULT, "tool", "x" * 400, len(items) - 1, path=("messages", len(items) - 1))

        walked, told = block(), block()
        assign([walked], items, user_text)
        assign([told], items, recording, known=(len(items) - 3, 1))
        assert told.focus == walked.focus and "2.31.0" in told.focus
        assert sorted(set(read)) == [1, len(items) - 3, len(items) - 2]
