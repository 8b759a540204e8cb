"""The Kompress compressor on prose, with a tiny model whose word scores the test chose."""

from __future__ import annotations

import json
import textwrap
import time

from extproc.compress import BodyEngine, BodyRequest
from extproc.compressors import default_routes
from extproc.compressors.content_types import detect
from extproc.compressors.kompress import Kompress, load_kompress, prose
from extproc.config import KompressSettings, Settings
from extproc.pipeline import BlockInputs, Budget, Pipeline, Policy
from extproc.pipeline.router import ContentType
from tests.shelf import SHELF

from .conftest import PROSE
from .manpage import justify

POLICY = Policy(protected_tools=(), min_block_chars=200)
LISTING = "total 48\ndrwxr-xr-x  5 root root 4096 Nov 30 12:00 .\n-rw-r--r--  1 root root  220 Nov 30 12:00 a.txt\n" * 6


def block(text: str) -> BlockInputs:
    return BlockInputs(text, tool_name="WebFetch")


def words(text: str) -> list[str]:
    return text.split()


class TestKompress:
    def test_drops_low_scored_words_to_the_keep_ratio(self, kompress):
        """About keep_ratio of the prose's words survive, the low-scored fillers first to go."""
        out = kompress.compress(PROSE)
        assert out is not None
        before, after = words(PROSE), words(out)
        assert 0.45 * len(before) <= len(after) <= 0.55 * len(before) + 2
        for filler in ("basically", "really", "just", "very"):
            assert filler not in [w.strip(",.").lower() for w in after]
        for content in ("deployment", "controller", "replicas", "registry"):
            assert content in [w.strip(",.").lower() for w in after]

    def test_kept_words_keep_their_order_and_lines(self, kompress):
        """Output words are a subsequence of the input's, line by line; line count unchanged."""
        out = kompress.compress(PROSE)
        assert out.count("\n") == PROSE.count("\n")
        for old, new in zip(PROSE.split("\n"), out.split("\n")):
            remaining = iter(old.split())
            assert all(word in remaining for word in new.split())

    def test_must_keep_words_survive_any_ratio(self, model_dir):
        """Numbers, paths, flags, identifiers and negations stay even at a 10% keep ratio."""
        compressor, _ = load_kompress(KompressSettings(model_dir=str(model_dir), device="cpu", keep_ratio=0.1,
                                                       min_chars=10), threads=1, shelf=SHELF)
        text = ("The operator did not restart the controller because the flag --force was missing, and the pod "
                "my_app.worker in /var/log/app.log failed 3 times with ENOENT at https://example.com/status.\n")
        out = compressor.compress(text)
        for word in ("not", "--force", "my_app.worker", "/var/log/app.log", "3", "ENOENT",
                     "https://example.com/status.", "because", "and"):
            assert word in out.split(), word

    def test_structured_lines_stay_byte_for_byte(self, kompress):
        """In mixed text only the prose lines change; listing lines are untouched."""
        text = LISTING + PROSE
        out = kompress.compress(text)
        assert out is not None and out.startswith(LISTING)

    def test_deterministic(self, kompress):
        """The same text gives the same bytes, every time (the prompt cache depends on it)."""
        assert len({kompress.compress(PROSE) for _ in range(5)}) == 1

    def test_threshold_mode(self, model_dir):
        """With a threshold, exactly the words scored at or above it are kept (plus forced ones)."""
        compressor, _ = load_kompress(KompressSettings(model_dir=str(model_dir), device="cpu", threshold=0.87,
                                                       min_chars=10), threads=1, shelf=SHELF)
        out = compressor.compress(PROSE)
        kept = {w.strip(",.").lower() for w in out.split()}
        assert {"deployment", "operator", "controller", "registry", "pull"} <= kept
        assert not kept & {"node", "slow", "afternoon", "mirror", "basically"}

    def test_long_text_is_scored_in_512_token_chunks(self, kompress):
        """A text of thousands of tokens is cut into several chunks, each within the model's limit."""
        text = PROSE * 40
        budget = Budget(deadline=time.monotonic() + 30)
        out = kompress.compress_within(text, budget)
        assert out is not None and budget.events["kompress_chunks"] >= 5
        assert kompress._batcher.chunks >= budget.events["kompress_chunks"]

    def test_missed_deadline_leaves_the_block_alone(self, kompress):
        """A deadline already past: None, counted as kompress_deadline."""
        budget = Budget(deadline=time.monotonic() - 1)
        assert kompress.compress_within(PROSE, budget) is None
        assert budget.events == {"kompress_chunks": 1, "kompress_deadline": 1}

    def test_chunks_past_the_deadline_stay_whole(self, kompress, monkeypatch):
        """Only the chunks scored in time are thinned; the text of the others is kept as it was."""
        text = PROSE * 40
        real = kompress._batcher.score

        def first_two(chunks, deadline):
            results, _ = real(chunks[:2], deadline)
            return results + [None] * (len(chunks) - 2), "deadline"

        monkeypatch.setattr(kompress._batcher, "score", first_two)
        budget = Budget(deadline=time.monotonic() + 5)
        out = kompress.compress_within(text, budget)
        assert budget.events["kompress_partial"] == 1
        assert len(out) < len(text) and out.endswith(PROSE * 20)

    def test_lines_past_the_deadline_stay_byte_for_byte(self, kompress, monkeypatch):
        """A man page justifies its lines with double spaces: the lines of chunks never scored
        keep them (the issue: what the deadline leaves is kept as it is), the scored ones are
        thinned and rejoined."""
        paragraph = "\n".join(justify(line) for line in textwrap.wrap(" ".join(PROSE.split()), 60))
        text = "\n\n".join([paragraph] * 40)
        assert "  " in paragraph.strip()
        real = kompress._batcher.score

        def first_two(chunks, deadline):
            results, _ = real(chunks[:2], deadline)
            return results + [None] * (len(chunks) - 2), "deadline"

        monkeypatch.setattr(kompress._batcher, "score", first_two)
        out = kompress.compress_within(text, Budget(deadline=time.monotonic() + 5))
        assert out is not None and not out.startswith(paragraph)
        assert out.endswith("\n\n".join([paragraph] * 20))

    def test_model_error_fails_the_block_open(self, kompress, monkeypatch):
        """An inference that raises leaves the block alone and counts kompress_error."""
        def broken(chunks):
            raise RuntimeError("onnxruntime fell over")
        monkeypatch.setattr(kompress._batcher, "scorer", broken)
        budget = Budget(deadline=time.monotonic() + 5)
        assert kompress.compress_within(PROSE, budget) is None and budget.events["kompress_error"] == 1

    def test_applies_to_prose_only(self, kompress):
        """Prose tool output applies; listings and short text do not; JSON is never routed here."""
        assert kompress.applies(block(PROSE))
        assert not kompress.applies(block(LISTING))
        assert detect(json.dumps({"text": PROSE})) is ContentType.JSON
        assert not kompress.applies(block("The pods restarted after the change went out."))


class TestInThePipeline:
    def test_routes_prose_to_kompress_and_caches_by_model(self, kompress):
        """Prose text blocks reach Kompress through the routes; the model's digest is in the version."""
        routes = default_routes(kompress=kompress)
        pipeline = Pipeline(POLICY, routes)
        other = Kompress(KompressSettings(), kompress._model, "another-model")
        assert pipeline.version != Pipeline(POLICY, default_routes(kompress=other)).version
        assert pipeline.version == Pipeline(POLICY, default_routes(kompress=kompress)).version

    def test_body_through_the_compressor(self, kompress):
        """A whole request body: the prose tool result shrinks, the user's text stays exact."""
        body = {"model": "claude-x", "max_tokens": 100, "messages": [
            {"role": "user", "content": PROSE},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "WebFetch", "input": {"url": "u"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": PROSE * 3}]},
        ]}
        settings = Settings(workers=0)
        pipeline = Pipeline(POLICY, default_routes(kompress=kompress), cache_bytes=1 << 20)
        compressor = BodyEngine(settings, pipeline)
        result = compressor.run(json.dumps(body).encode(), BodyRequest("anthropic", deadline=time.monotonic() + 5))
        assert result.outcome == "compressed" and "kompress" in result.transforms
        out = json.loads(result.body)
        assert out["messages"][0]["content"] == PROSE
        assert len(out["messages"][2]["content"][0]["content"]) < len(PROSE * 3)
        assert result.events["kompress_compressed"] == 1
        again = compressor.run(json.dumps(body).encode(), BodyRequest("anthropic", deadline=time.monotonic() + 5))
        assert again.body == result.body and again.cache.get("hit") == 1 and "kompress_chunks" not in again.events


class TestConcurrentRequests:
    def test_blocks_of_concurrent_requests_share_inference_calls(self, model_dir):
        """Blocks compressed on several threads at once (the server's compression threads) go
        through fewer inference calls than chunks, each with the same result as alone."""
        import threading

        compressor, _ = load_kompress(KompressSettings(model_dir=str(model_dir), device="cpu", keep_ratio=0.5,
                                                       min_chars=10, max_wait_ms=50), threads=1, shelf=SHELF)
        alone = compressor.compress(PROSE)
        calls_before, chunks_before = compressor._batcher.calls, compressor._batcher.chunks
        barrier = threading.Barrier(6)
        outputs: list[str | None] = []

        def request() -> None:
            barrier.wait()
            outputs.append(compressor.compress_within(PROSE, Budget(deadline=time.monotonic() + 30)))

        threads = [threading.Thread(target=request) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert outputs == [alone] * 6
        chunks = compressor._batcher.chunks - chunks_before
        assert chunks == 6 and compressor._batcher.calls - calls_before < chunks


def test_a_text_checked_before_is_not_read_again(monkeypatch):
    """Whether a text is prose is remembered by its digest: an equal text (another str object)
    is not read again, a new one is, and each gets what ``looks_like_prose`` says."""
    read: list[str] = []
    check = prose.looks_like_prose
    monkeypatch.setattr(prose, "looks_like_prose", lambda text: read.append(text) or check(text))

    class Entry(prose.ProseEntry):
        min_chars = 10

    entry = Entry()
    unique = f"{PROSE}\nChecked at {time.time_ns()} by the memo test."  # never asked in this process before
    for _ in range(2):
        assert entry.applies(block("".join(list(unique)))) == check(unique)
        assert not entry.applies(block(LISTING + f"# {time.time_ns()}"))
    assert read.count(unique) == 1 and len(read) == 3
