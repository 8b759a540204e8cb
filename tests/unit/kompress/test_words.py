"""Prose lines, their words, and chunks that fit the model."""

from __future__ import annotations

from extproc.compressors.kompress.words import chunk_words, prose_share, split_prose


class TestSplitProse:
    def test_only_prose_lines_give_words(self):
        """Code, key: value lines, tables and short lines are not prose; sentences are."""
        text = ("def main(argv):\n"
                "Status:   Running on node three\n"
                "| name | status | age | restarts | node | ip |\n"
                "Done.\n"
                "The controller restarted the pods after the config map changed again today.\n")
        split = split_prose(text)
        assert split.prose_lines == {4}
        assert [w.text for w in split.words][:3] == ["The", "controller", "restarted"]

    def test_markers_and_rule_words_are_forced(self):
        """A leading bullet and must-keep words ("not", "30") are never candidates; plain words are."""
        split = split_prose("- the build did not finish within 30 minutes on the runner\n")
        forced = [w.text for w in split.words if w.keep]
        assert forced == ["-", "not", "30"]

    def test_join_keeps_every_other_line_and_the_line_breaks(self):
        """Dropping words changes only prose lines; indentation and line count stay."""
        text = "header: value\n    the pods were restarted by the operator after the change\n\nend"
        split = split_prose(text)
        kept = {i for i, w in enumerate(split.words) if w.text in ("pods", "restarted", "operator")}
        out = split.join(kept)
        assert out.split("\n") == ["header: value", "    pods restarted operator after", "", "end"]  # "after": a rule word

    def test_join_with_everything_kept_is_the_text_for_single_spaced_prose(self):
        """Keeping every word gives back the same text (single-spaced lines)."""
        text = "The quick brown fox jumps over the lazy dog near the river bank.\nfoo()"
        split = split_prose(text)
        assert split.join(set(range(len(split.words)))) == text

    def test_prose_share(self):
        """The share of words in prose lines, 0 for a listing."""
        assert prose_share("a.py\nb.py\nc.py\n") == 0.0
        assert prose_share("The quick brown fox jumps over the lazy dog near the river.") == 1.0


class TestChunkWords:
    def test_chunks_never_exceed_the_limit(self):
        """Words are packed into chunks of at most max_tokens, in order, none split."""
        counts = [3, 4, 2, 5, 1, 1, 6]
        chunks = chunk_words(counts, 8)
        assert chunks == [(0, 2), (2, 5), (5, 7)]
        assert all(sum(counts[a:b]) <= 8 for a, b in chunks)

    def test_a_word_longer_than_the_limit_is_its_own_chunk(self):
        """A 600-token word cannot be split between chunks: it sits alone."""
        assert chunk_words([2, 600, 2], 510) == [(0, 1), (1, 2), (2, 3)]

    def test_exact_fit(self):
        """510 one-token words fill one chunk; the 511th starts the next."""
        assert chunk_words([1] * 511, 510) == [(0, 510), (510, 511)]

    def test_empty(self):
        assert chunk_words([], 510) == []
