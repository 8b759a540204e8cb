"""Kompress on real ``--help`` output and real man pages, with the embedded model.

The fixtures under ``fixtures/real/`` were written from the commands of a Debian machine, as an
agent's shell gets them: ``ls --help`` (GNU coreutils, grep, tar, diffutils, wget, findutils,
git, man-db, ``curl --help all``, systemd), ``man ls | cat`` (justified, 80 columns) and ``man cp | col -b`` (justified, runs
of spaces turned into tabs). Option descriptions and paragraphs are thinned; every option's names
and arguments, every must-keep word and every line break outside a thinned description stay.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from extproc.compressors.content_types import detect
from extproc.compressors.kompress import Kompress, load_kompress, options  # noqa: F401
from extproc.compressors.kompress.rules import must_keep
from extproc.compressors.kompress.words import split_prose
from extproc.pipeline import BlockInputs, Budget
from extproc.pipeline.router import ContentType
from extproc.tokens import TokenCounter

from .manpage import col_b, justify
from .reflowed import assert_only_prose_changed, pieces_of

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
HELP = sorted(p.name for p in REAL.glob("help_*.txt"))
MAN = sorted(p.name for p in REAL.glob("man_*.txt"))
# Least share of tokens saved over each set, a little under what the embedded model gives
# (docs/benchmarks.md, kompress-prose): --help text is half option names, which all stay, and
# curl's descriptions are two to five words.
LEAST_SAVED = {"help": 0.13, "man": 0.18}
LEAST_SAVED_EACH = 0.05


@pytest.fixture(scope="module")
def thinned(embedded) -> dict[str, str]:
    out = {}
    for name in HELP + MAN:
        budget = Budget(deadline=time.monotonic() + 300)
        result = embedded.compress_within((REAL / name).read_text(), budget)
        assert result is not None and budget.events.get("kompress_compressed") == 1, (name, budget.events)
        out[name] = result
    return out


def test_the_fixtures_are_there():
    assert len(HELP) >= 10 and len(MAN) >= 5


@pytest.mark.parametrize("name", HELP + MAN)
def test_taken_as_prose(embedded, name):
    """Each output is plain text and Kompress takes it (none was taken before option rows and
    justified man text counted as prose)."""
    text = (REAL / name).read_text()
    assert detect(text) is ContentType.TEXT and embedded.applies(BlockInputs(text, tool_name="Bash"))


@pytest.mark.parametrize("name", HELP + MAN)
def test_every_flag_and_must_keep_word_stays(embedded, thinned, name):
    """Every must-keep word (flags, arguments, numbers, paths) is still there as often as before,
    every option's names and gap are unchanged, only prose lines change, and only a thinned
    option description's lines may be fewer (re-flowed)."""
    text = (REAL / name).read_text()
    out = thinned[name]
    before = Counter(word for word in text.split() if must_keep(word))
    after = Counter(out.split())
    assert {word: n for word, n in before.items() if after[word] < n} == {}
    split, pieces = pieces_of(embedded, text)
    assert_only_prose_changed(text, out, split, pieces)
    if name.startswith("help_"):  # descriptions thinned after their options' names
        lines = text.split("\n")
        assert any(split.starts[n] > len(lines[n]) - len(lines[n].lstrip()) for n in split.prose_lines)


def test_thinned_descriptions_take_fewer_lines(embedded, thinned):
    """Wrapped descriptions, thinned, are re-flowed: most real --help outputs come out shorter."""
    shorter = [name for name in HELP if thinned[name].count("\n") < (REAL / name).read_text().count("\n")]
    assert len(shorter) >= len(HELP) // 2, shorter
    assert "help_ls.txt" in shorter and "help_tar.txt" in shorter


def test_savings(thinned):
    """Each output shrinks; each set by at least its least share."""
    counter = TokenCounter()
    for kind, names in (("help", HELP), ("man", MAN)):
        before = after = 0
        for name in names:
            text = (REAL / name).read_text()
            tokens, left = counter.count(text), counter.count(thinned[name])
            assert 1 - left / tokens >= LEAST_SAVED_EACH, (name, 1 - left / tokens)
            before, after = before + tokens, after + left
        assert 1 - after / before >= LEAST_SAVED[kind], (kind, 1 - after / before)


class TestLayout:
    def test_justified_man_text_is_prose(self):
        """A man paragraph padded out to the right margin (two spaces between some words, or a
        tab where ``col -b`` packed them) is prose; its words are joined by single spaces."""
        text = "\n".join([justify("Mandatory arguments to long options are mandatory for short options"),
                          justify("and the same arguments apply when the short form of the option is"),
                          justify("given on the command line, and so on for each of the options that"),
                          "       follow. The rest is not padded because it ends here."])
        assert "  " in text.split("\n")[0].strip() and split_prose(text).prose_lines == {0, 1, 2, 3}
        tabbed = "\n".join(map(col_b, text.split("\n")))
        assert any("\t" in line.strip() for line in tabbed.split("\n")) and tabbed.expandtabs() == text
        assert split_prose(tabbed).prose_lines == {0, 1, 2, 3}
        out = split_prose(text).join(set(range(100)))
        assert out.split("\n")[0] == "       Mandatory arguments to long options are mandatory for short options"

    def test_columns_that_do_not_reach_the_margin_stay(self):
        """Two-space gaps in lines that stop short of the right margin are aligned columns."""
        filler = "       " + "z" * 71
        text = "\n".join([filler] * 3 + ["       Alpha  beta gamma delta epsilon zeta eta theta iota kappa."] * 2)
        assert split_prose(text).prose_lines == set()

    def test_a_man_option_s_description_is_prose_its_names_are_not(self):
        text = ("       -B, --ignore-backups\n"
                "              do not list implied entries ending with ~\n"
                "\n"
                "       -c     with -lt: sort by, and show, ctime (time of last modification of\n"
                "              file status information); with -l: show ctime and sort by name\n")
        split = split_prose(text)
        assert split.prose_lines == {1, 3, 4}
        assert split.words[0].text == "do" and split.starts[3] == text.split("\n")[3].index("with")

    def test_the_first_and_last_words_of_a_description_stay(self):
        """They tell two options apart ("match only whole words" / "... whole lines")."""
        text = ("  -w, --word-regexp         match only whole words\n"
                "  -x, --line-regexp         match only whole lines\n")
        split = split_prose(text)
        assert [w.text for w in split.words if w.keep] == ["match", "only", "words", "match", "only", "lines"]

    def test_a_command_table_needs_two_rows(self):
        """``git help -a``: a command name, a gap and what it does, in rows sharing the column."""
        rows = ("   add                  Add file contents to the index\n"
                "   mv                   Move or rename a file, a directory\n")
        assert split_prose(rows).prose_lines == {0, 1}
        assert split_prose(rows.split("\n")[0] + "\n").prose_lines == set()

    def test_an_option_longer_than_its_column_is_a_row(self):
        """curl and tar follow names that overflow the description column by a single space."""
        text = ("     --abstract-unix-socket <path> Connect via abstract Unix domain socket\n"
                "     --alt-svc <file name> Enable alt-svc with this cache file\n"
                "     --anyauth            Pick any authentication method\n"
                "      --exclude-caches-under exclude everything under directories containing\n"
                "                           CACHEDIR.TAG\n")
        split = split_prose(text)
        assert split.prose_lines == {0, 1, 2, 3, 4}
        assert [split.words[i].text for i in (0, 6, 12)] == ["Connect", "Enable", "Pick"]
        out = split.join(set())
        assert out.split("\n")[1].startswith("     --alt-svc <file name> Enable")

    def test_one_space_before_a_lowercase_argument_is_no_row(self):
        """After one space a lowercase word may be an argument ("always|default|never:"): the
        row overflowing python's column stays as it is, and so does a lone line like a row."""
        text = ("-X opt : set implementation-specific option\n"
                "--check-hash-based-pycs always|default|never:\n"
                "         control how Python invalidates hash-based .pyc files\n")
        assert 1 not in split_prose(text).prose_lines  # line 2 is its description, as a man page's
        assert split_prose("     --anyauth-method <name> Pick any authentication method\n").prose_lines == set()

    def test_a_command_s_arguments_stay_with_its_name(self):
        """``systemctl --help``: a command, its arguments in capitals or brackets, a gap."""
        text = ("  list-units [PATTERN...]             List units currently in memory\n"
                "  set-default TARGET                  Set the default target\n"
                "  get-default                         Get the name of the default target\n")
        split = split_prose(text)
        assert split.prose_lines == {0, 1, 2} and split.words[0].text == "List"
        assert split.join(set()).split("\n")[1].startswith("  set-default TARGET                  Set")

    def test_the_values_an_option_takes_stay(self):
        """An agent types them: the items of a list of values, and a value named before its flag."""
        text = ("      --quoting-style=WORD   use quoting style WORD for entry names:\n"
                "                             literal, locale, shell, shell-always,\n"
                "                             shell-escape, shell-escape-always, c, escape\n"
                "      --sort=WORD            sort by WORD instead of name: none (-U), size (-S),\n"
                "                             time (-t), version (-v), extension (-X), width\n")
        out = split_prose(text).join(set())
        for value in ("literal", "locale", "shell", "shell-escape-always", "c", "escape",
                      "size", "time", "version", "extension", "width"):
            assert any(word.strip(",") == value for word in out.split()), value

    def test_unbalanced_brackets_are_kept(self):
        """Dropping "(the" would leave "default)" alone."""
        split = split_prose("      --normal                  output a normal diff (the default)\n")
        assert {w.text for w in split.words if w.keep} >= {"(the", "default)"}
