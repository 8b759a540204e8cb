"""Prose lines, their words, and chunks that fit the model."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from extproc.compressors.kompress import words
from extproc.compressors.kompress.words import chunk_words, looks_like_prose, prose_share, split_prose

SENTENCES = ("The controller restarted the pods after the config map changed again today, and the new\n"
             "replicas came up on the second node without any further help from the team.\n")


class TestSplitProse:
    def test_only_paragraph_lines_give_words(self):
        """Code, key: value lines, tables and short lines are not prose; a paragraph is."""
        text = ("def main(argv):\n"
                "Status:   Running on node three\n"
                "| name | status | age | restarts | node | ip |\n"
                "Done.\n" + SENTENCES)
        split = split_prose(text)
        assert split.prose_lines == {4, 5}
        assert [w.text for w in split.words][:3] == ["The", "controller", "restarted"]

    @pytest.mark.parametrize("line", [
        "     3\t    description: the read access to cluster resources excluding secrets and data",
        "20890b81 set the namespace parent to the adhoc module instead of the unknown one.",
        "1. DateTime in List with datetimeformat option and the other options as well.",
        "    :param kwargs: The same keyword arguments that the Field class receives here.",
        "name    the quick brown fox    jumps over the lazy dog    and runs away again.",
        "    return the value of the field after it has been converted to a string.",
        '        "format": \'"{input}" cannot be formatted as a date, try another format.\',',
    ])
    def test_records_code_and_views_are_never_prose(self, line):
        """Numbered views, commit lines, numbered output, docstrings, columns and code stay whole."""
        assert split_prose(line + "\n" + line + "\n").prose_lines == set()

    def test_a_docstring_in_code_is_never_prose(self):
        """Indented paragraphs may be prose (man pages), but not inside a code view."""
        code = ("def load(self, value):\n"
                "        \"\"\"Load the value from the given string and return it as a date.\n\n"
                "        or a date format string. If it is None, the field defaults to the iso format.\n"
                "        or a date format string. If it is None, the field defaults to the iso format.\n"
                "        \"\"\"\n        return self.parse(value)\n")
        assert not looks_like_prose(code)

    def test_a_single_short_line_is_no_paragraph(self):
        """One sentence-like line under fifteen words is a heading or a message, not prose."""
        assert split_prose("The upload finished after the retry budget was used up.\n").prose_lines == set()

    def test_a_paragraph_needs_a_sentence_end(self):
        """Lines of words with no full stop anywhere (a word list, a menu) are not prose."""
        text = "apples oranges pears plums grapes melons lemons limes\nkiwis figs dates cherries peaches mangoes\n"
        assert split_prose(text).prose_lines == set()

    def test_markers_names_and_rule_words_are_forced(self):
        """A bullet, names inside a sentence, and must-keep words are never candidates."""
        split = split_prose("- the build did not finish within 30 minutes on the runner that Envoy uses.\n"
                            "- it was retried twice and then the whole pipeline was cancelled by hand.\n")
        forced = [w.text for w in split.words if w.keep]
        assert forced == ["-", "not", "30", "Envoy", "-", "twice", "and", "then"]

    def test_join_keeps_every_other_line_and_the_line_breaks(self):
        """Dropping words changes only prose lines; indentation and line count stay."""
        text = "header: value\n" + SENTENCES + "\nend"
        split = split_prose(text)
        kept = {i for i, w in enumerate(split.words) if w.text in ("controller", "restarted", "pods")}
        out = split.join(kept)
        assert out.split("\n")[0] == "header: value" and out.split("\n")[-2:] == ["", "end"]
        assert out.split("\n")[1] == "controller restarted pods after and"  # "after", "and": rule words
        assert out.count("\n") == text.count("\n")

    def test_join_with_everything_kept_is_the_text(self):
        """Keeping every word gives back the same text (prose lines are single-spaced)."""
        split = split_prose(SENTENCES + "foo()")
        assert split.join(set(range(len(split.words)))) == SENTENCES + "foo()"

    def test_prose_share_and_looks_like_prose(self):
        """A listing has no prose; a paragraph is all prose; code around it rules the block out."""
        assert prose_share("a.py\nb.py\nc.py\n") == 0.0
        assert prose_share(SENTENCES) == 1.0 and looks_like_prose(SENTENCES)
        code = "class Field:\n    def load(self):\n        return self.value\n"
        assert not looks_like_prose(code + SENTENCES)


def reference_looks_like_prose(text: str) -> bool:
    """The rule as first written: the code test over every line, then the whole prose share."""
    page = words._page(text)
    code_lines, cells = words._literal_lines(page)  # a document's code blocks and markup: never counted
    prose = split_prose(text).prose_lines           # nor prose (an option row's description)
    lines = [number for number, line in enumerate(page.shown) if line.strip() and number not in code_lines
             and number not in cells and not words._MARKUP.match(line)]
    if not any(line.strip() for line in page.lines):
        return False
    code = sum(1 for n in lines if n not in prose and (words._CODE.search(page.shown[n])
                                                        or words._LINE_NUMBER.match(page.shown[n])))
    return code <= words._MAX_CODE_SHARE * len(lines) and prose_share(text) >= words._MIN_PROSE_SHARE


PROSE = st.sampled_from([*SENTENCES.split("\n")[:2], "the pods came up again on the second node after it",
                         "- then the worker drained the queue and the retries stopped for good."])
OTHER = st.sampled_from([
    "Done.", "", "    ", "def load(self):", "        return self.value", "   12\tvalue = compute(x)",
    "2024-05-01 12:00:01 ERROR worker 3 lost its lease on the queue", "Status:   Running on node three",
    "| name | status | age |", "PASSED tests/test_app.py::test_upload_retries", "src/app.py:41: x = 1",
    # option rows, their wrapped text, a man page's option head and description, a command row
    "  -a, --all                  do not ignore entries starting with .",
    "                             e.g., '--block-size=M'; see SIZE format below",
    "       -B, --ignore-backups", "              do not list implied entries ending with ~",
    "   add                  Add file contents to the index",
]) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).map(lambda t: t.replace("\n", " "))
# prose and other lines in any mix, so that shares on both sides of the rule's line come up
TEXTS = st.tuples(st.lists(PROSE, max_size=20), st.lists(OTHER, max_size=20), st.randoms()).map(
    lambda parts: "\n".join(parts[2].sample(parts[0] + parts[1], len(parts[0]) + len(parts[1]))))


class TestLooksLikeProse:
    MIXED = ("2024-05-01 12:00:01 ERROR worker 3 lost its lease on the queue\n" * 2) + SENTENCES  # 60% prose

    @settings(max_examples=300, deadline=None)
    @given(TEXTS)
    @example(MIXED)
    def test_the_early_answers_are_the_rule_s(self, text):
        """Asking the prose share first and giving up once too many words sit outside prose
        lines answers as the rule read in full does."""
        assert looks_like_prose(text) == reference_looks_like_prose(text)

    def test_a_block_with_some_log_lines_is_still_prose(self):
        assert reference_looks_like_prose(self.MIXED) and looks_like_prose(self.MIXED)


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
