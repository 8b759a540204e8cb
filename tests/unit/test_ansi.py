"""ANSI colour and cursor codes are taken out of released tool output before it is routed."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from extproc import Kind
from extproc.compressors import default_routes
from extproc.pipeline import Pipeline, Policy
from extproc.pipeline.ansi import ANSI, strip_ansi

from .compressors import load
from .test_pipeline import conversation

OPEN = Policy(protected_tools=(), min_block_chars=0)
RED, GREEN, BOLD, RESET, ERASE = "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m", "\x1b[2K"


def pytest_colours(text: str) -> str:
    """pytest --color=yes: green PASSED, red FAILED, bold rules."""
    text = text.replace(" PASSED ", f" {GREEN}PASSED{RESET} ").replace(" FAILED ", f" {RED}FAILED{RESET} ")
    return re.sub(r"^(=+ .* =+)$", rf"{BOLD}\1{RESET}", text, flags=re.MULTILINE)


def maven_colours(text: str) -> str:
    """Maven with colour on: [INFO] in bold blue, [ERROR] in bold red, as jansi writes them."""
    return text.replace("[INFO]", "[\x1b[1;34mINFO\x1b[m]").replace("[ERROR]", "[\x1b[1;31mERROR\x1b[m]")


def run(*texts: str, kind: Kind = Kind.TOOL_RESULT):
    conv = conversation(*texts, kind=kind)
    Pipeline(OPEN, default_routes()).run(conv, {})
    return conv


class TestStripAnsi:
    def test_colour_and_cursor_codes_go_the_text_stays(self):
        text = f"{RED}FAILED{RESET} tests/test_a.py::test_x - assert 1 == 2\n{ERASE}\x1b[1A\x1b[38;5;208mwarn\x1b[m\n"
        assert strip_ansi(text) == "FAILED tests/test_a.py::test_x - assert 1 == 2\nwarn\n"

    def test_nothing_to_strip(self):
        """No CSI sequence: None, so the caller knows the text is as it was."""
        assert strip_ansi("plain text\n") is None
        assert strip_ansi("an escape that is no CSI: \x1b(B and \x1bM\n") is None

    def test_osc_hyperlinks_and_titles_stay(self):
        """An OSC sequence can carry an address: it stays, only the colour around it goes."""
        link = "\x1b]8;;file:///src/app.py\x1b\\app.py\x1b]8;;\x1b\\"
        assert strip_ansi(f"{RED}{link}{RESET}\n") == f"{link}\n"

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.tuples(st.text(alphabet=st.characters(blacklist_characters="\x1b")),
                              st.sampled_from([RED, GREEN, BOLD, RESET, ERASE, "\x1b[1;34m", "\x1b[m", "\x1b[?25l"]))))
    def test_removes_exactly_what_was_added(self, pieces):
        """Codes put between pieces of escape-free text: stripping gives the pieces back, joined."""
        plain = "".join(text for text, _ in pieces)
        coloured = "".join(text + code for text, code in pieces)
        assert strip_ansi(coloured) == (plain if pieces else None)


class TestPipelineStripsAnsi:
    def test_coloured_log_compresses_as_the_plain_log_does(self):
        """A coloured pytest run is routed as a log and comes out as the plain run does."""
        plain = load("pytest_verbose.txt")
        coloured = pytest_colours(plain)
        assert coloured != plain
        [from_plain] = run(plain).changes
        [change] = run(coloured).changes
        assert change.by == "logs" and change.new_text == from_plain.new_text
        assert "\x1b" not in change.new_text and "FAILED" in change.new_text

    def test_coloured_maven_log_is_read_as_a_log(self):
        """[INFO] lines in colour no longer hide their shape from the router."""
        coloured = maven_colours(load("maven_test.txt"))
        [change] = run(coloured).changes
        assert change.by == "logs" and "\x1b" not in change.new_text

    def test_codes_go_even_when_nothing_else_shrinks(self):
        """Short coloured output no compressor shortens is still sent without its codes."""
        text = f"{GREEN}ok{RESET}: 3 files checked\n{BOLD}done{RESET} in 0.4s\n"
        [change] = run(text).changes
        assert change.by == ANSI and change.new_text == "ok: 3 files checked\ndone in 0.4s\n"

    def test_source_code_keeps_its_escapes(self):
        """A file shown with escape bytes in it stays exact: an edit of it must match byte for byte."""
        code = ("def banner():\n    print('\x1b[1mBold\x1b[0m')\n    return value\n\n"
                "class Colour:\n    RED = '\x1b[31m'\n    def paint(self, text):\n        return text\n\n") * 6
        assert not run(code).changes

    def test_codes_inside_an_envelope(self):
        """Codex's JSON envelope: the codes go from the output string, the metadata stays."""
        lines = [f"{GREEN}ok{RESET}: src/module_{n}.py passed {BOLD}{n * 7}{RESET} checks\n" for n in range(6)]
        text = json.dumps({"output": "".join(lines), "metadata": {"exit_code": 0}})
        [change] = run(text).changes
        assert change.by == ANSI and json.loads(change.new_text) == {
            "output": strip_ansi("".join(lines)), "metadata": {"exit_code": 0}}
        assert change.new_text.endswith(', "metadata": {"exit_code": 0}}')

    def test_protected_blocks_keep_their_codes(self):
        """What the policy does not release (here user text) is never touched, codes and all."""
        assert not run(f"{RED}red{RESET} words from the user\n", kind=Kind.TEXT).changes
