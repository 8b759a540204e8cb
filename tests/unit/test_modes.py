"""Cache and token modes: how a mode is chosen, what cache mode promises, and token mode's age rules."""

from __future__ import annotations

import json

import pytest

from extproc import BodyRequest, Settings, build_engine, load_settings
from extproc.formats import parse_body
from extproc.pipeline.age import recent_tool_results, stale_reads
from tests.shelf import SHELF

from .sessions import STYLES, TOOLS, Turn, build, coding_session, numbered, source

EDITED = "[trimwire: earlier read of {} omitted; the file was edited later]"
REREAD = "[trimwire: earlier read of {} omitted; the file is read again in full later]"
READS = (2, 3, 6, 8)  # the file reads of ``coding_session``: app.py, util.py (part), util.py, config.py


def run(fmt: str, turns: list[Turn], mode: str | None = None, **fields):
    """Compress the request after ``turns`` (Settings ``fields``); the compressed conversation and result."""
    compressor = build_engine(Settings(workers=0, **fields), shelf=SHELF)
    result = compressor.run(json.dumps(build(fmt, turns)).encode(), BodyRequest(fmt, mode=mode))
    body = json.loads(result.body) if result.body is not None else build(fmt, turns)
    return parse_body(fmt, body), result


def results(conv) -> list[str]:
    """The text of each tool result block, in order."""
    return [block.text for block in conv.blocks if block.kind.value == "tool_result"]


class TestModeChoice:
    def test_cache_is_the_default(self):
        """Without a setting or header a request is compressed in cache mode."""
        assert Settings().mode == "cache" and Settings().protect_recent_tool_results == 2

    def test_mode_and_recent_count_come_from_env(self):
        """TRIMWIRE_MODE and TRIMWIRE_PROTECT_RECENT_TOOL_RESULTS set the two fields."""
        settings = load_settings(env={"TRIMWIRE_MODE": "token", "TRIMWIRE_PROTECT_RECENT_TOOL_RESULTS": "5"})
        assert (settings.mode, settings.protect_recent_tool_results) == ("token", 5)

    def test_request_mode_overrides_the_setting(self):
        """BodyRequest.mode picks the mode for one request; None falls back to Settings.mode."""
        turns, marker = coding_session("claude_code"), EDITED.format("src/app.py")
        assert marker in results(run("anthropic", turns, mode="token")[0])
        assert marker not in results(run("anthropic", turns)[0])
        compressor = build_engine(Settings(workers=0, mode="token"), shelf=SHELF)
        raw = json.dumps(build("anthropic", turns)).encode()
        for mode, expected in ((None, True), ("cache", False), ("token", True)):
            body = json.loads(compressor.run(raw, BodyRequest("anthropic", mode=mode)).body)
            assert (marker in results(parse_body("anthropic", body))) is expected, mode


class TestCacheMode:
    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_protected_reads_stay_whole_even_when_stale(self, fmt, style):
        """Cache mode never applies the age rules: with dedup's pointers off, every file read arrives
        byte for byte; with them on, no read becomes a stale-read marker."""
        turns = coding_session(style)
        conv, result = run(fmt, turns, dedup_reads=False)
        assert [results(conv)[index] for index in READS] == [turns[index].output for index in READS]
        assert "age" not in result.stage_seconds
        conv, result = run(fmt, turns)
        assert not any(text.startswith("[trimwire: earlier read") for text in results(conv))
        assert "age" not in result.stage_seconds

    def test_same_output_compresses_the_same_wherever_it_sits(self):
        """A tool result's compressed text depends on its text alone, not on its position or what follows."""
        tools = TOOLS["claude_code"]
        log = tools.shell("pytest -v", coding_session("claude_code")[0].output)
        late = [tools.shell("ls", "a\n" * 150), tools.shell("ls", "b\n" * 150), log]
        early = [log, *late[:2], tools.shell("ls", "c\n" * 150)]
        assert results(run("anthropic", late)[0])[2] == results(run("anthropic", early)[0])[0] != log.output

    def test_cache_control_decides_nothing(self):
        """Moving or removing cache_control markers changes no compressed text."""
        body = build("anthropic", coding_session("claude_code"))
        bare = json.loads(json.dumps(body).replace('"cache_control": {"type": "ephemeral"}', '"x": 1'))
        compressor = build_engine(Settings(workers=0), shelf=SHELF)
        marked = parse_body("anthropic", json.loads(compressor.run(json.dumps(body).encode(),
                                                                   BodyRequest("anthropic")).body))
        plain = parse_body("anthropic", json.loads(compressor.run(json.dumps(bare).encode(),
                                                                  BodyRequest("anthropic")).body))
        assert [b.text for b in marked.blocks] == [b.text for b in plain.blocks]


class TestRecentResults:
    def test_last_two_results_stay_whole_in_token_mode(self):
        """Token mode leaves the newest tool results (two by default) as they were; cache mode compresses them."""
        turns = coding_session("claude_code")
        token, _ = run("anthropic", turns, mode="token")
        cache, _ = run("anthropic", turns, mode="cache")
        assert results(token)[-2:] == [turn.output for turn in turns[-2:]]
        assert results(cache)[-2] != turns[-2].output  # the HTML page
        assert results(token)[:-2] != [turn.output for turn in turns[:-2]]

    def test_count_is_a_setting(self):
        """protect_recent_tool_results=0 holds nothing back; a larger count holds more."""
        turns = coding_session("claude_code")
        assert results(run("anthropic", turns, mode="token", protect_recent_tool_results=0)[0])[-2] != turns[-2].output
        held = results(run("anthropic", turns, mode="token", protect_recent_tool_results=5)[0])[-5:]
        assert held == [turn.output for turn in turns[-5:]]

    def test_a_result_of_several_blocks_counts_once(self):
        """A tool result split into several text blocks is one result for the recent count."""
        body = build("anthropic", coding_session("claude_code"))
        last = body["messages"][-1]["content"][0]
        last["content"] = [{"type": "text", "text": last["content"]}, {"type": "text", "text": "exit 0"}]
        held = recent_tool_results(parse_body("anthropic", body), 2)
        assert len(held) == 3


class TestStaleReads:
    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_edited_and_reread_files_become_markers(self, fmt, style):
        """A read followed by an edit, and a partial read followed by a full one, become one-line markers."""
        turns = coding_session(style)
        conv, result = run(fmt, turns, mode="token")
        texts = results(conv)
        assert texts[2] == EDITED.format("src/app.py")
        assert texts[3] == REREAD.format("src/util.py")
        assert texts[6] == turns[6].output and texts[8] == turns[8].output  # the newest read of each file
        assert "age" in result.stage_seconds

    @pytest.mark.parametrize(("fmt", "style"), STYLES)
    def test_failed_edit_leaves_the_read(self, fmt, style):
        """An edit whose result is an error did not change the file, so the read before it stays."""
        turns = coding_session(style)
        assert results(run(fmt, turns, mode="token")[0])[8] == turns[8].output  # config.py, then a failed edit

    def test_partial_reread_does_not_cover(self):
        """A later read of part of the file does not make an earlier full read stale."""
        tools, text = TOOLS["claude_code"], source("a.py", 50)
        turns = [tools.read("a.py", numbered(text)), tools.read("a.py", numbered(text)[:300], lines=(1, 5)),
                 *[tools.shell("ls", "x\n" * 150)] * 2]
        assert stale_reads(parse_body("anthropic", build("anthropic", turns))) == {}

    def test_shorter_reread_does_not_cover(self):
        """A re-read that returns less text (a "file unchanged" stub) does not replace the earlier read."""
        tools, text = TOOLS["claude_code"], numbered(source("a.py", 50))
        stub = "File unchanged since last read. The content from the earlier Read result is still current."
        turns = [tools.read("a.py", text), tools.read("a.py", stub), *[tools.shell("ls", "x\n" * 150)] * 2]
        assert stale_reads(parse_body("anthropic", build("anthropic", turns))) == {}

    def test_paths_are_compared_normalised(self):
        """``./src/a.py`` and ``src/a.py`` are one file; a different file is not."""
        tools, text = TOOLS["claude_code"], numbered(source("a.py", 50))
        turns = [tools.read("./src/a.py", text), tools.read("src/b.py", text),
                 tools.edit("src/a.py", "x", "y"), *[tools.shell("ls", "x\n" * 150)] * 2]
        stale = stale_reads(parse_body("anthropic", build("anthropic", turns)))
        assert sorted(stale.values()) == [EDITED.format("src/a.py")]

    @pytest.mark.parametrize("tool", ["Write", "MultiEdit"])
    def test_writes_make_reads_stale(self, tool):
        """Claude Code's Write and MultiEdit count as edits of their file_path."""
        tools, text = TOOLS["claude_code"], numbered(source("a.py", 50))
        turns = [tools.read("a.py", text), Turn(tool, {"file_path": "a.py", "content": "x"}, "ok"),
                 *[tools.shell("ls", "x\n" * 150)] * 2]
        assert list(stale_reads(parse_body("anthropic", build("anthropic", turns))).values()) == [EDITED.format("a.py")]

    def test_error_reads_are_never_marked(self):
        """A read that failed is an error result and stays as it was, edit or not."""
        tools = TOOLS["claude_code"]
        failed = Turn("Read", {"file_path": "a.py"}, "Error: file does not exist: a.py " + "." * 200, is_error=True)
        turns = [failed, tools.edit("a.py", "x", "y"), *[tools.shell("ls", "x\n" * 150)] * 2]
        assert stale_reads(parse_body("anthropic", build("anthropic", turns))) == {}

    def test_recent_reads_stay_whole(self):
        """A stale read among the newest tool results is held back like any recent result."""
        tools, text = TOOLS["claude_code"], numbered(source("a.py", 50))
        turns = [tools.read("a.py", text), tools.edit("a.py", "x", "y")]
        assert results(run("anthropic", turns, mode="token")[0])[0] == text
