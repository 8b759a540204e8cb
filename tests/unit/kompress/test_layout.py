"""A thinned option description re-flowed onto fewer lines (``layout.py``), and every other line
break kept: option rows, tables, examples, descriptions that lost no word, hyphenated words, list
items, sentences ended by a line break, lists under a description, lines the model never scored."""

from __future__ import annotations

from extproc.compressors.kompress.words import split_prose

LS_C = ("  -c                         with -lt: sort by, and show, ctime (time of last\n"
        "                             modification of file status information);\n"
        "                             with -l: show ctime and sort by name;\n"
        "                             otherwise: sort by ctime, newest first\n")
REST = ("  -C                         list entries by columns and rows\n"
        "      --zero                 end each output line with NUL, not newline\n"
        "                             as the separator between entries\n"
        "\n"
        "Exit status:\n"
        " 0  if OK,\n"
        " 1  if minor problems (e.g., cannot access subdirectory),\n"
        " 2  if serious trouble (e.g., cannot access command-line argument).\n"
        "\n"
        "Examples:\n"
        "       -exec command ;\n"
        "              Execute  command;  true if 0 status is returned.  All following\n"
        "              arguments to find are taken to be arguments to the command.\n"
        "\n"
        "                  find . -type f -exec file '{}' \\;\n")
FILLERS = frozenset({"the", "of", "in", "by", "to", "for", "themselves,", "their", "given", "directory",
                     "modification", "status", "show,"})


def thin(text: str, drop=FILLERS, lines: set[int] | None = None, as_written=frozenset()) -> str:
    """``text`` joined without the words of ``drop`` (on ``lines`` only, when given)."""
    split = split_prose(text)
    kept = {i for i, word in enumerate(split.words)
            if word.text not in drop or (lines is not None and word.line not in lines)}
    return split.join(kept, as_written)


def test_a_thinned_description_is_reflowed():
    """``ls -c``'s four lines, thinned, take three: the words left fill each line up to the width
    the text's descriptions wrap at, continuation lines at the description's column."""
    assert thin(LS_C + REST, lines={0, 1, 2, 3}) == (
        "  -c                         with -lt: sort by, and ctime (time last file\n"
        "                             information); with -l: show ctime and sort name;\n"
        "                             otherwise: sort ctime, newest first\n" + REST)


def test_every_other_line_stays_byte_for_byte():
    """Beside a re-flowed description: a description that lost no word, a one-line row, an exit
    status table, a man page example and its paragraph stay as written; with every word kept the
    text comes back whole."""
    text = LS_C + REST
    out = thin(text, lines={0, 1, 2, 3})
    assert out.endswith(REST) and out.count("\n") == text.count("\n") - 1
    split = split_prose(text)
    assert split.join(set(range(len(split.words)))) == text
    assert [len(flow.lines) for flow in split.flows] == [4, 2]  # -c and --zero may flow, nothing else


def test_a_description_flows_only_when_that_saves_a_line():
    """``--zero`` thinned by one word still needs two lines: its lines stay, each thinned."""
    out = thin(REST, drop={"the"}, lines={1, 2})
    assert out.split("\n")[1:3] == ["      --zero                 end each output line with NUL, not newline",
                                    "                             as separator between entries"]


def test_every_flag_and_value_stays():
    """Re-flowing moves words, never drops one: the words out are those of the text less the
    prose words dropped, in order, every flag among them."""
    text = LS_C + REST
    split = split_prose(text)
    kept = {i for i, word in enumerate(split.words) if word.text not in FILLERS}
    expected = []
    for number, line in enumerate(split.lines):
        if number not in split.prose_lines:
            expected += line.split()
            continue
        expected += line[:split.starts[number]].split()
        expected += [w.text for i, w in enumerate(split.words) if w.line == number and (w.keep or i in kept)]
    out = split.join(kept)
    assert out.split() == expected and out.count("\n") < text.count("\n")
    for flag in ("-lt:", "-l:", "-c", "-C", "--zero", "-exec", "-type", "'{}'"):
        assert flag in out.split()


def test_a_man_hyphenated_word_keeps_its_break():
    """"con-" / "tents," stay on two lines, so the word reads across the break as man wrote it."""
    text = ("       -d, --directory\n"
            "              list directories themselves, not their con-\n"
            "              tents, and do not follow symbolic links\n"
            "              in the end\n")
    assert thin(text) == ("       -d, --directory\n"
                          "              list directories not con-\n"
                          "              tents, and do not follow symbolic links end\n")


def test_a_list_item_keeps_its_break():
    text = ("  -p, --preprocessor=STRING  STRING names the preprocessors to run,\n"
            "                             in the order given here:\n"
            "                             - eqn for the equations\n"
            "                             - tbl for the tables of the page\n")
    assert thin(text, FILLERS | {"order"}) == (
        "  -p, --preprocessor=STRING  STRING names preprocessors run, here:\n"
        "                             - eqn equations\n"
        "                             - tbl tables page\n")


def test_a_sentence_ended_by_a_line_break_keeps_it():
    """systemctl's ``--dry-run``: no full stop before "Currently"; the break is the sentence end."""
    text = ("     --dry-run           Only print what would be done by the command when run\n"
            "                         Currently supported by the verbs halt and\n"
            "                         reboot of the manager.\n")
    assert thin(text) == ("     --dry-run           Only print what would be done command when run\n"
                          "                         Currently supported verbs halt and reboot manager.\n")
    # A name in capitals after such a line goes on with the sentence (sort --files0-from).
    text = ("      --files0-from=F       read input from the files specified by\n"
            "                            NUL-terminated names in the file F\n")
    assert thin(text, FILLERS | {"input", "specified", "names"}) == \
        "      --files0-from=F       read from files NUL-terminated file F\n"


def test_a_list_under_a_description_is_not_reflowed():
    """``ls --time``: lines indented deeper than the description's column are a list."""
    text = ("      --time=WORD            change the default of using modification times;\n"
            "                               access time (-u): atime, access, use;\n"
            "                               change time (-c): ctime, status;\n"
            "                             with -l, WORD determines which time to show;\n")
    assert split_prose(text).flows == []
    assert thin(text).count("\n") == text.count("\n")


def test_lines_the_model_never_scored_are_not_reflowed():
    """A description with a line the deadline left unscored keeps its lines (that one as written)."""
    out = thin(LS_C, lines={0, 1, 2, 3}, as_written={1})
    assert out.split("\n")[1] == LS_C.split("\n")[1] and out.count("\n") == LS_C.count("\n")


def test_a_dropped_clause_end_keeps_its_break():
    """``ls --group-directories-first``: "files;" dropped, the break is all that is left of the
    semicolon, so it stays; the lines after it still flow."""
    text = ("      --group-directories-first\n"
            "                             group directories before files;\n"
            "                             can be augmented with a --sort option, but any\n"
            "                             use of --sort=none (-U) disables grouping\n")
    assert thin(text, {"files;", "be", "with", "a", "option,", "of", "use", "augmented", "disables"}) == (
        "      --group-directories-first\n"
        "                             group directories before\n"
        "                             can --sort but any --sort=none (-U) grouping\n")
