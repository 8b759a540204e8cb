"""Option tables of ``--help`` text and man pages: where each option's description lies.

``--help`` prints one option per row: its names and arguments, a gap, and its description,
wrapped onto lines that start where the description did::

      -a, --all                  do not ignore entries starting with .
          --block-size=SIZE      with -l, scale sizes by SIZE when printing them;
                                 e.g., '--block-size=M'; see SIZE format below

An option too long for the description column is followed by a single space (curl, tar)::

         --abstract-unix-socket <path> Connect via abstract Unix domain socket
         --anyauth            Pick any authentication method

Such a row counts when its names reach the column of a row beside it, and only when what follows
the names is arguments of the shapes ``<file name>``, ``[=WHEN]`` or ``FILE``: a single space
cannot tell a lowercase argument from the description's first word.

Man pages print the names on a line of their own (or before a gap when they are short) and the
description indented below (a blank line between, in gcloud's), in one or more paragraphs. A
description is prose an agent may read thinned; the row's names, arguments and gap stay byte for
byte, and so does every line break but those a thinned description is re-flowed over (``layout.py``).
``descriptions`` only finds where descriptions lie (layout); ``words.py`` decides whether their
words read as prose and leaves them whole otherwise. Command tables (``git help -a``, ``pip``:
a command name, arguments in capitals or brackets as ``systemctl`` writes them, a gap, what it
does) count when at least two rows share the description column.
"""

from __future__ import annotations

import re

__all__ = ["Segment", "descriptions", "may_describe"]

# A description's lines, each with the index of its first word that belongs to the description.
Segment = list[tuple[int, int]]

# An option's names and arguments: "-a, --all", "--block-size=SIZE", "-c cmd", "-d, --data <data>".
# A comma may be followed by more spaces ("-V,  --version", as wget aligns its long names).
_SPEC = r"[-+]{1,2}[A-Za-z0-9?#@][^ ]*(?:(?<=,) +[^ ]+| [^ ]+)*?"
_MAX_LEAD = 48              # columns before a description starts: wider is not an option row
_MAX_WRAP_DEEPER = 4        # du --help wraps descriptions two columns deeper than they start
# A command and its arguments in capitals or brackets ("list-units [PATTERN...]", "bind UNIT PATH").
_COMMAND = r"[a-z][\w.-]*(?: [\[<A-Z][^ ]*)*"
# A row: indent, the option (or a command name and its arguments), a gap of two spaces or more
# (or " : ", as python --help writes it), then the description.
_ROW = re.compile(rf"^(?P<lead> *(?:(?P<flag>{_SPEC})|{_COMMAND})(?:(?<!,) {{2,}}| +: +))(?=\S)")
# A row whose names overflow the description column: the names, flags' arguments in <>, [] or
# capitals only, one space, then a plain word (curl: "--alt-svc <file name> Enable alt-svc with ...").
_FLAGS = r"[-+]{1,2}[A-Za-z0-9?#@][^ ,]*(?:, +[-+]{1,2}[A-Za-z0-9?#@][^ ,]*)*,?"
_OVERFLOW = re.compile(rf"^(?P<lead> *{_FLAGS}(?: (?:<[^<>]*>|\[[^\[\]]*\]|[A-Z][A-Z0-9_-]*\b))* )"
                       r"(?=\(?[A-Za-z][a-z'-]*\)?(?:[ ,;.]|$))")
_NEAR = 6                   # lines looked at above and below an overflowing row for its table's rows
# A man page's option line with nothing after the names: at most four of them and arguments
# ("-I PATTERN, --ignore=PATTERN", "-exec command {} +"), not a sentence that starts with a flag.
_HEAD = re.compile(r"^ *[-+]{1,2}[A-Za-z0-9?#@][^ ]*(?: [^ ]+){0,3} *$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def may_describe(line: str) -> bool:
    """A row or a head: the line itself or the ones under it may hold a description (a cheap
    first test, ``line`` with tabs expanded)."""
    return _ROW.match(line) is not None or _HEAD.match(line) is not None or _OVERFLOW.match(line) is not None


def descriptions(shown: list[str], skip: set[int]) -> list[Segment]:
    """The description segments of ``shown`` (the text's lines, tabs expanded), outside ``skip``."""
    segments: list[Segment] = []
    number = 0
    while number < len(shown):
        if number in skip:
            number += 1
            continue
        row = _ROW.match(shown[number])
        if row and len(row["lead"]) <= _MAX_LEAD and (row["flag"] or _in_table(shown, number, len(row["lead"]))):
            number = _row(shown, skip, number, len(row["lead"]), len(row["lead"].split()), segments)
        elif _HEAD.match(shown[number]) and (below := _next_text(shown, number + 1)) < len(shown) \
                and _indent(shown[below]) > _indent(shown[number]):
            number = _section(shown, skip, below, segments)
        elif (over := _OVERFLOW.match(shown[number])) and (column := _column(shown, number)) \
                and len(over["lead"]) >= column:
            number = _row(shown, skip, number, column, len(over["lead"].split()), segments)
        else:
            number += 1
    return [segment for segment in segments if segment]


def _row(shown: list[str], skip: set[int], number: int, column: int, first: int,
         segments: list[Segment]) -> int:
    """A row's description and the lines it wraps onto; the number of the line after them."""
    segment = [(number, first)]
    number += 1
    while (number < len(shown) and number not in skip and shown[number].strip()
           and column <= _indent(shown[number]) <= column + _MAX_WRAP_DEEPER):
        segment.append((number, 0))
        number += 1
    segments.append(segment)
    return number


def _next_text(shown: list[str], number: int) -> int:
    """The first line from ``number`` on that is not blank (``len(shown)`` if none): some man
    pages (gcloud's) put a blank line between an option's names and its description."""
    while number < len(shown) and not shown[number].strip():
        number += 1
    return number


def _section(shown: list[str], skip: set[int], number: int, segments: list[Segment]) -> int:
    """A man page option's description: the paragraphs at the indent of its first line (deeper
    lines are examples and stay whole). The number of the line after it."""
    column = _indent(shown[number])
    segment: Segment = []
    while number < len(shown):
        line = shown[number]
        if not line.strip():
            after = _next_text(shown, number)
            if after == len(shown) or _indent(shown[after]) != column:
                break
            number = after
            segments.append(segment)
            segment = []
            continue
        if _indent(line) < column:
            break
        if _indent(line) == column and number not in skip:
            segment.append((number, 0))
        elif segment:  # an example or a paragraph taken as prose ends this piece
            segments.append(segment)
            segment = []
        number += 1
    segments.append(segment)
    return number


def _column(shown: list[str], number: int) -> int:
    """Where the descriptions of the option rows nearest above or below line ``number`` start
    (0 when no such row is near): the column a row with longer names overflows."""
    for distance in range(1, _NEAR + 1):
        for other in (number - distance, number + distance):
            if 0 <= other < len(shown) and (row := _ROW.match(shown[other])) and row["flag"] \
                    and len(row["lead"]) <= _MAX_LEAD:
                return len(row["lead"])
    return 0


def _in_table(shown: list[str], number: int, column: int) -> bool:
    """A command row: the row above or below (blank lines aside) starts its description at the same column."""
    for step in (-1, 1):
        other = number + step
        while 0 <= other < len(shown) and not shown[other].strip():
            other += step
        if 0 <= other < len(shown):
            row = _ROW.match(shown[other])
            if row and len(row["lead"]) == column:
                return True
    return False
