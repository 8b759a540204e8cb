"""Token counting: exact on ordinary text, linear on any text (issue 20, defect 1), and tiktoken's
counts from bpe-openai's counter."""

from __future__ import annotations

import base64
import random

import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.tokens import ENCODING_NAME, EXACT_CHARS, RUN_CHARS, SAMPLE_CHARS, SAMPLES, Encoding, TokenCounter

_ENCODING = tiktoken.get_encoding(ENCODING_NAME)


class _Recording:
    """The real encoding, noting the length of every text handed to it."""

    def __init__(self) -> None:
        self.lengths: list[int] = []
        self._real = Encoding()

    def count(self, text: str) -> int:
        self.lengths.append(len(text))
        return self._real.count(text)


def _recording_counter() -> tuple[TokenCounter, _Recording]:
    counter = TokenCounter()
    recording = _Recording()
    counter._encoding = recording  # type: ignore[assignment]
    return counter, recording


def build_log(lines: int) -> str:
    """A service log of ``lines`` lines, varied enough that no two are alike."""
    rng = random.Random(lines)
    levels = ("INFO", "WARN", "ERROR", "DEBUG")
    return "\n".join(f"2026-12-06T21:{i // 60 % 60:02d}:{i % 60:02d}Z {rng.choice(levels)} worker-{rng.randint(1, 9)} "
                     f"request {rng.getrandbits(32):08x} took {rng.randint(1, 900)} ms path=/api/v{i % 3}/items"
                     for i in range(lines))


def _exact(text: str) -> int:
    return len(_ENCODING.encode_ordinary(text))


def test_ordinary_text_is_counted_exactly():
    """Prose, logs and JSON with spaces count exactly what tiktoken counts."""
    counter = TokenCounter()
    for text in ("The build failed because the cache was stale. " * 400, build_log(300),
                 '{"id": 17, "name": "orders-api", "status": "ok"} ' * 500):
        assert counter.count(text) == _exact(text)


def test_a_spaceless_run_reaches_the_encoder_in_short_pieces():
    """Two MiB of ``A`` (no space anywhere) is handed to tiktoken in pieces of RUN_CHARS, where
    its cost is linear, and still counts exactly: a one-letter run splits into whole tokens."""
    counter, recording = _recording_counter()
    text = "A" * (2 * 1024 * 1024)
    counted = counter.count(text)
    assert max(recording.lengths) <= max(RUN_CHARS, SAMPLE_CHARS)
    assert sum(recording.lengths) <= SAMPLES * SAMPLE_CHARS
    assert counted == len(text) // 8  # cl100k: eight A's a token


def test_runs_cut_into_pieces_stay_within_a_token_a_cut():
    """Runs of letters, base64, hex and symbols, cut every RUN_CHARS, count within one token a cut."""
    rng = random.Random(7)
    counter = TokenCounter()
    for run in (base64.b64encode(rng.randbytes(6000)).decode(), rng.randbytes(4000).hex(),
                "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8000)), "-=+" * 3000):
        cuts = (len(run) - 1) // RUN_CHARS
        assert cuts >= 3
        text = f"see {run} end"
        assert abs(counter.count(text) - _exact(text)) <= cuts + 2


def test_a_long_text_is_estimated_from_samples_only():
    """A text over EXACT_CHARS is never handed to tiktoken whole; its estimate is within 2%."""
    counter, recording = _recording_counter()
    text = build_log(40_000)
    assert len(text) > EXACT_CHARS
    counted = counter.count(text)
    assert sum(recording.lengths) <= SAMPLES * SAMPLE_CHARS
    exact = _exact(text)
    assert abs(counted - exact) <= exact * 0.02


def _runs_text(rng: random.Random) -> str:
    """Runs of non-space characters near RUN_CHARS long, between spaces of several kinds."""
    parts = []
    for _ in range(rng.randint(1, 6)):
        length = rng.choice([1, 7, RUN_CHARS // 2 - 1, RUN_CHARS // 2, RUN_CHARS, RUN_CHARS + 1, RUN_CHARS + 2,
                             2 * RUN_CHARS + 3])
        parts.append(rng.choice("Ab;é") * length)
        parts.append(rng.choice([" ", "\n", "\t", "\u00a0", "\u3000", "\x1c"]))
    return rng.choice(["", "x", "  "]) + "".join(parts)


def test_the_long_run_precheck_never_misses_a_run():
    """Texts whose every aligned half-RUN_CHARS window holds a space skip the search for long
    runs; a text with a run of more than RUN_CHARS non-space characters never does, and the count
    is the same either way."""
    from extproc.tokens import _LONG_RUN, _count_pieces, _may_hold_long_run

    rng = random.Random(19)
    skipped = 0
    for _ in range(2000):
        text = _runs_text(rng)
        if _LONG_RUN.search(text) is not None:
            assert _may_hold_long_run(text)
        else:
            skipped += not _may_hold_long_run(text)
    assert skipped > 100  # the precheck does skip texts without a long run
    prose = " ".join(["counted whole when no word is longer than the run limit"] * 200)
    assert not _may_hold_long_run(prose)
    assert _count_pieces(Encoding().count, prose) == len(_ENCODING.encode_ordinary(prose))


def test_a_short_text_is_counted_once():
    """A text under ``MEMO_CHARS`` is remembered by the text itself (an equal text, another str
    object, is not encoded again), ``_MEMO_BYTES`` of them at most."""
    from extproc import tokens

    counter, recording = _recording_counter()
    short = '{"command": "grep -rn foo src"}'
    assert counter.count(short) == counter.count("".join(list(short))) == _exact(short)
    assert recording.lengths == [len(short)]
    for number in range(tokens._MEMO_BYTES // 100):
        counter.count(f"text {number}")
    recording.lengths.clear()
    assert counter.count(short) == _exact(short) and recording.lengths == [len(short)]  # forgotten together


# What agents' text is made of, and what trips tokenizers up: contractions, digit runs, whitespace
# runs of every kind, CJK, emoji, combining marks, special-token text (ordinary here), lone surrogates.
_PIECES = st.sampled_from(["a", "Z", "0", "42", " ", "  ", "\t", "\n", "\r\n", "\n\n  ", "'s", "'T", "'ll", "'VE", ".",
                           ",", "-", "_", "/", "\\", '"', "{", "}", "<", ">", "=", "é", "ß", "中文", "😀", "\u00a0",
                           "\u2028", "\u3000", "ａ", "١", "e\u0301", "<|endoftext|>", "<|fim_prefix|>", "\ud800", "\udfff"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=60).map("".join))
def test_counts_are_tiktokens(text):
    """bpe-openai's count is tiktoken's ``encode_ordinary`` length, lone surrogates included."""
    assert Encoding().count(text) == len(_ENCODING.encode_ordinary(text))


def test_counts_are_tiktokens_on_agent_output():
    """Real-shaped tool output: a log, JSON, a diff, code, and prose with every kind of space."""
    encoding = Encoding()
    diff = "\n".join(f"@@ -{i},3 +{i},4 @@\n-    old_{i} = value({i})\n+    new_{i} = value({i}, retry=True)" for i in range(40))
    code = "def f(x):\n\tif x:\n\t\treturn [y ** 2 for y in range(x)]  # squares\n" * 30
    for text in (build_log(200), '{"items": [{"id": 1, "tags": ["a", "b"]}], "next": null}' * 40, diff, code,
                 "Ünïcödé  prose\u00a0with\u2009odd\u3000spaces, 'quotes' and 1234567 digits.\r\n" * 50):
        assert encoding.count(text) == len(_ENCODING.encode_ordinary(text))
