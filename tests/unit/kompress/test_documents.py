"""Kompress on the prose agents read: man pages, --help, READMEs, reStructuredText, changelogs,
issue threads and web pages after HTML extraction, with the embedded model.

Each fixture is a small realistic document written for these tests (``fixtures/``). Prose is
thinned; a document's code blocks, tables, option rows and headings stay byte for byte, and so
does every word the must-keep rules name.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from extproc.compress import BodyEngine, BodyRequest
from extproc.compressors import default_routes
from extproc.compressors.content_types import detect
from extproc.compressors.kompress import Kompress
from extproc.compressors.kompress.rules import must_keep
from extproc.compressors.kompress.words import looks_like_prose, split_prose
from extproc.config import Settings
from extproc.pipeline import BlockInputs, Budget, Pipeline, Policy
from extproc.pipeline.router import ContentType
from extproc.tokens import TokenCounter

from .reflowed import assert_only_prose_changed, pieces_of

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DOCUMENTS = ("man_page.txt", "help_output.txt", "readme.md", "guide.rst", "changelog.md", "gh_issue.txt")
# Least share of tokens saved per document: the embedded model gives 20-30% on each (an option
# table's names stay, its descriptions are thinned).
LEAST_SAVED = {"help_output.txt": 0.15}
LEAST_SAVED_ALL = 0.15


def thinned(compressor: Kompress, text: str) -> str:
    budget = Budget(deadline=time.monotonic() + 120)
    out = compressor.compress_within(text, budget)
    assert out is not None and budget.events.get("kompress_compressed") == 1, budget.events
    return out


class TestProseDocuments:
    @pytest.mark.parametrize("name", DOCUMENTS)
    def test_routed_as_prose(self, name):
        """Each document is plain text that reads as prose (a man page's indented paragraphs too)."""
        text = (FIXTURES / name).read_text()
        assert detect(text) is ContentType.TEXT and looks_like_prose(text)

    def test_thinned_with_every_must_keep_word(self, embedded):
        """Every document shrinks, by at least 15% together, and keeps every must-keep word."""
        counter = TokenCounter()
        before = after = 0
        for name in DOCUMENTS:
            text = (FIXTURES / name).read_text()
            out = thinned(embedded, text)
            kept = out.split()
            assert [word for word in text.split() if must_keep(word) and word not in kept] == [], name
            saved = 1 - counter.count(out) / counter.count(text)
            assert saved >= LEAST_SAVED.get(name, LEAST_SAVED_ALL), (name, saved)
            before, after = before + counter.count(text), after + counter.count(out)
        assert 1 - after / before >= LEAST_SAVED_ALL

    @pytest.mark.parametrize("name", DOCUMENTS)
    def test_lines_outside_prose_stay_byte_for_byte(self, embedded, name):
        """Headings, code blocks, tables, option rows and their wrapped text are unchanged."""
        text = (FIXTURES / name).read_text()
        split, pieces = pieces_of(embedded, text)
        assert_only_prose_changed(text, thinned(embedded, text), split, pieces)


class TestDocumentShapes:
    def test_fenced_code_is_never_prose(self):
        """A sentence inside a markdown fence stays whole."""
        text = ("Run the program once with the follow option before you change the configuration file.\n"
                "It then sends the lines as they are written, and stops when you press the keys.\n"
                "```\nThe collector writes this sentence to its own log when it starts up again.\n```\n")
        assert split_prose(text).prose_lines == {0, 1}

    def test_rst_literal_blocks_are_never_prose(self):
        """The indented block under a paragraph ending "::" stays whole; a note directive's text is prose."""
        text = ("Set the start pattern in the configuration file so that records are joined::\n\n"
                "   The collector writes this sentence to its own log when it starts up again.\n"
                "   It is an example of the output, and it must be shown exactly as it is.\n\n"
                ".. note::\n\n"
                "   Joining records costs memory for the record that is being built, so a\n"
                "   program that never matches the pattern holds its whole output for a while.\n")
        assert split_prose(text).prose_lines == {7, 8}

    def test_an_option_s_description_is_prose_its_names_are_not(self):
        """A --help row's description and the lines it wraps onto are prose; the option's names,
        argument and the gap before the description are not (they stay as written)."""
        text = ("  -refresh=false      Skip checking the collector for the position it last\n"
                "                      acknowledged for each file. This makes planning faster\n"
                "                      but the plan may then send lines the collector holds.\n")
        split = split_prose(text)
        assert split.prose_lines == {0, 1, 2}
        assert split.words[0].text == "Skip" and split.starts[0] == text.index("Skip")
        assert split.join(set()).split("\n")[0].startswith("  -refresh=false      Skip ")

    def test_an_aligned_table_that_is_no_option_table_stays(self):
        """Rows of a table whose first column is no option (and no command list) stay whole."""
        text = ("  Release Notes       Skip checking the collector for the position it last\n"
                "                      acknowledged for each file. This makes planning faster\n"
                "                      but the plan may then send lines the collector holds.\n")
        assert split_prose(text).prose_lines == set()

    def test_a_man_page_paragraph_is_prose(self):
        """Man's seven-column indent and a wrapped line starting with a path or number are prose."""
        text = ("       Read the configuration from FILE instead of the default file in the\n"
                "       /etc/tidewater directory. The file must exist and be readable by the user\n"
                "       1024 times over, otherwise tidewater exits with the status that it reports.\n")
        assert split_prose(text).prose_lines == {0, 1, 2}

    def test_a_changelog_list_is_prose_without_full_stops(self):
        """Three or more bullets make a paragraph even when no item ends a sentence."""
        text = "".join(f"- Fix the crash when the configuration file lists an input with no paths {n}\n"
                       for n in range(3))
        assert split_prose(text).prose_lines == {0, 1, 2}


class TestHtmlThenKompress:
    def test_a_fetched_page_is_extracted_then_thinned(self, embedded):
        """A page's main text, extracted from its HTML, goes on to Kompress: two compressors chained."""
        page = (FIXTURES / "article.html").read_text()
        body = {"model": "claude-x", "max_tokens": 100, "messages": [
            {"role": "user", "content": "How does tidewater handle a collector outage?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "WebFetch",
                                               "input": {"url": "https://example.com/docs/shipping.html"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": page}]},
        ]}
        settings = Settings(workers=0)
        pipeline = Pipeline(Policy(protected_tools=(), min_block_chars=200), default_routes(kompress=embedded))
        result = BodyEngine(settings, pipeline).run(json.dumps(body).encode(),
                                                        BodyRequest("anthropic", deadline=time.monotonic() + 60))
        assert result.transforms == ("html+kompress",)
        out = json.loads(result.body)["messages"][2]["content"][0]["content"]
        extracted = pipeline.routes[ContentType.HTML][0].compress(page)
        assert len(out) < 0.9 * len(extracted)
        assert "tidewater --config /etc/tidewater/tidewater.toml --follow" in out.split("\n")
        assert out.split("\n")[0] == extracted.split("\n")[0]  # the page's marker line, as HTML wrote it

    def test_without_kompress_the_page_is_only_extracted(self):
        """No model: the extraction alone, as before."""
        page = (FIXTURES / "article.html").read_text()
        pipeline = Pipeline(Policy(protected_tools=(), min_block_chars=200), default_routes())
        outcome = pipeline._run_compressors(BlockInputs(page), {}, Budget())
        assert outcome is not None and outcome[1] == "html"
