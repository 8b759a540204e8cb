"""dedup's scan helpers (``pipeline/runs.py``, ``pipeline/lines.py``): each fast path gives what the
plain line-by-line walk it replaces gives.

The scan compares hashes in C slices (``_common``, ``_counting``), copies the output a stretch at a
time and finds where a line stands in it from the runs replaced (``SentLines``), filters an index
line's places by the two lines after it (``LineIndex.candidates``), and remembers per text what
does not depend on the conversation (``Lines.source``, ``Lines.scan``, ``Dedup._call``). These
tests hold each of them to its definition; ``test_dedup.py`` holds dedup's outputs to the reader.
"""

from __future__ import annotations

import json
from array import array

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from extproc.conversation import Block, Kind, ToolCall
from extproc.pipeline.dedup import Dedup, _label
from extproc.pipeline.lines import CANDIDATES, GAP, NO_NUMBER, LineIndex, Lines, Source
from extproc.pipeline.runs import Run, SentLines, _common, _counting, _counts, find_runs

HASHES = st.lists(st.integers(1, 3), min_size=0, max_size=80)


def plain_common(mine: array, line: int, theirs: array, at: int, stop: int) -> int:
    length = 0
    while length < stop and theirs[at + length] == mine[line + length] != GAP:
        length += 1
    return length


class TestCommon:
    @settings(max_examples=300, deadline=None)
    @given(HASHES, st.lists(st.integers(0, 3), max_size=80), st.data())
    def test_equals_the_walk_line_by_line(self, mine, theirs, data):
        """The slices, doubled and halved, find the first difference the walk finds, a pointer's
        ``GAP`` on the other side included (the text's own hashes are never ``GAP``)."""
        mine, theirs = array("q", mine * 3), array("q", theirs * 3)  # long equal stretches, too
        line = data.draw(st.integers(0, len(mine)))
        at = data.draw(st.integers(0, len(theirs)))
        stop = data.draw(st.integers(0, min(len(mine) - line, len(theirs) - at)))
        assert _common(mine, line, theirs, at, stop) == plain_common(mine, line, theirs, at, stop)

    def test_a_long_equal_stretch(self):
        """A file viewed again: 1,000 equal lines, then one that differs."""
        mine = array("q", range(1, 1002))
        theirs = array("q", [*range(1, 1001), 7])
        assert _common(mine, 0, theirs, 0, 1001) == 1000 and _common(mine, 5, theirs, 5, 100) == 100


class TestCounting:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from([NO_NUMBER, 1, 2, 3, 4, 5, 6, 7]), max_size=30), st.data())
    def test_equals_the_walk_line_by_line(self, numbers, data):
        """How far numbers count up from the first (or stay absent) is what ``_counts`` says line by line."""
        numbers = array("q", numbers)
        start = data.draw(st.integers(0, len(numbers)))
        stop = data.draw(st.integers(0, len(numbers) - start))
        first = numbers[start] if start < len(numbers) else NO_NUMBER
        expected = 0
        while expected < stop and _counts(numbers[start + expected], first, expected):
            expected += 1
        assert _counting(numbers, start, first, stop) == expected


class TestSentLines:
    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.sampled_from(["alpha line", "beta line", "gamma line", "delta line"]), min_size=1,
                    max_size=40),
           st.lists(st.tuples(st.integers(0, 39), st.integers(3, 6)), max_size=4), st.data())
    def test_earlier_is_where_the_output_holds_the_line(self, texts, spans, data):
        """After any runs replaced, ``earlier`` names the places of a hash in the output copied so far
        (a pointer's line holds none), the latest first, at most ``CANDIDATES``."""
        lines = Lines("\n".join(texts))
        sent = SentLines(lines)
        position = 0
        for start, length in sorted(spans):
            if start >= position and start + length <= len(texts):
                sent.replace(Run(start, length, None, 0, True, "[pointer]"))
                position = start + length
        assume(position < len(texts))
        line = data.draw(st.integers(position, len(texts) - 1))
        key = lines.keys[line]  # the scan asks where its own line's content stood before it
        sent.take(line)
        expected = [place for place in range(len(sent.keys) - 1, -1, -1) if sent.keys[place] == key][:CANDIDATES]
        assert sent.earlier(key, line) == expected
        assert list(sent.keys) == [GAP if text == "[pointer]" else lines.keys[texts.index(text)]
                                   for text in sent.lines]

    def test_a_text_whose_numbers_name_no_lines_is_pointed_into_by_none(self):
        """A stray number makes the output unpointable: ``earlier`` names nothing in it."""
        lines = Lines("12: alpha line\nalpha line\nbeta line\nalpha line")
        assert not SentLines(lines).pointable and SentLines(lines).earlier(lines.keys[1], 3) == []


class TestCandidates:
    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.lists(st.sampled_from(["alpha line", "beta line", "gamma line", "}"]), max_size=12),
                    min_size=1, max_size=8), st.data())
    def test_then_keeps_the_places_followed_by_those_lines(self, texts, data):
        """With ``then``, the places looked at are the same latest ``CANDIDATES``, and only those
        whose next two lines hold ``then`` are named."""
        index = LineIndex()
        for text in texts:
            lines = Lines("\n".join(text))
            index.add(Source("x", lines.keys, lines.wholes, lines.numbers, lines.numbered, lines.lines))
        probe = Lines("alpha line\nbeta line\ngamma line")
        key, then = probe.keys[0], (probe.keys[1], probe.keys[2])
        limit = data.draw(st.integers(0, len(texts)))
        every = [(source, line) for number in range(limit - 1, -1, -1) for source in [index.sources[number]]
                 for line in range(len(source.keys) - 1, -1, -1) if source.keys[line] == key][:CANDIDATES]
        assert index.candidates(key, limit) == every
        assert index.candidates(key, limit, then) == [
            (source, line) for source, line in every
            if line + 2 < len(source.keys) and (source.keys[line + 1], source.keys[line + 2]) == then]


class TestRemembered:
    def test_a_source_is_remembered_by_its_ref(self):
        """The same ref and length give the Source made before; another ref, a new one."""
        lines = Lines("alpha line\nbeta line\ngamma line")
        first = lines.source("the output of call_1", 30)
        assert lines.source("the output of call_1", 30) is first
        other = lines.source("the output of call_2", 30)
        assert other is not first and other.ref == "the output of call_2" and other.keys is lines.keys

    def test_run_starts_follow_the_hashes_that_stand_elsewhere(self):
        """``Lines.scan`` is remembered for one set of hashes found elsewhere: the same text against
        another index is scanned anew, and finds the run that index holds."""
        text = "alpha line one\nbeta line two\ngamma line three\ndelta line four"
        lines = Lines(text)
        empty, full = LineIndex(), LineIndex()
        earlier = Lines(text)
        full.add(Source("the output of call_1", earlier.keys, earlier.wholes, earlier.numbers, earlier.numbered,
                        earlier.lines))
        worth = lambda lines, run, pointer: 1  # noqa: E731  # every run is worth its pointer
        assert find_runs(lines, empty, 0, SentLines(lines), worth) == []
        [run] = find_runs(lines, full, 1, SentLines(lines), worth)
        assert (run.start, run.length, run.at) == (0, 4, 0) and lines.scan is not None and lines.scan[1] == [0, 1]

    def test_a_call_label_is_remembered_by_its_arguments(self):
        """The label and read flag of a call come from its arguments as sent, also when remembered."""
        dedup = Dedup(protected_tools=("Read",))
        arguments = json.dumps({"command": "cd /testbed && cat -n src/app.py"})
        for _ in range(2):
            call = ToolCall("bash", arguments)
            assert dedup._call(call, "bash") == (" (cat -n src/app.py)", True)
        grep = ToolCall("bash", json.dumps({"command": "grep -rn needle src/"}))
        assert dedup._call(grep, "bash") == (_label(grep, "bash"), False)
        assert dedup._call(ToolCall("Read", {"file_path": "a.py"}), "Read") == (" (a.py)", True)

    def test_argument_sources_are_remembered_by_the_call(self):
        """A heredoc's source is made once per call id and text; another id names its own."""
        dedup = Dedup()
        arguments = json.dumps({"command": "cat > a.py <<'EOF'\nimport os\nprint(os.sep)\nEOF"})

        def call(call_id: str) -> Block:
            return Block(kind=Kind.TOOL_CALL, role="assistant", text=arguments, message_index=1,
                         tool_name="bash", tool_call_id=call_id, call=ToolCall("bash", arguments))

        [first] = dedup._argument_sources(call("call_1"))
        assert dedup._argument_sources(call("call_1")) == (first,)
        [other] = dedup._argument_sources(call("call_2"))
        assert other.ref.startswith("the command argument of call_2") and len(other.lines) == 4
