"""Words Kompress never drops, whatever the model says: the facts an agent acts on.

A *word* is a whitespace-separated run of characters (``words.py`` splits the text). It must be
kept when it holds a number, a hex id, a path or file name, a flag, an identifier (CamelCase,
snake_case, dotted.names), a URL, a key=value pair or an error code, or when it is a negation,
a modal word or and/or: dropping "not" turns a fact into its opposite. ``values`` finds the
words that name an option's accepted values, which only their neighbours tell apart. These rules run in front
of the model at run time, and ``scripts/train_kompress.py`` uses the same ones to label words.
"""

from __future__ import annotations

import re

__all__ = ["must_keep", "values", "KEEP_WORDS", "EDGE"]

# Negations, modal words, and/or, quantities, comparatives: the small words that decide what a
# sentence means ("one in twenty" is not "twenty", "too small" is not "small", "unless newer than
# local" is not "unless than local").
KEEP_WORDS = frozenset("""
not no nor never none nothing nobody nowhere neither cannot can't don't doesn't didn't isn't aren't
wasn't weren't won't wouldn't shouldn't couldn't mustn't hasn't haven't hadn't without unless except
only must should shall may might can could would will need needs required optional
and or but if else then before after until because than
all any each every some most more less least fewer few many much too both either half
zero one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty
hundred hundreds thousand thousands million millions billion first second third last once twice
default defaults deprecated true false yes
newer older larger smaller bigger greater earlier later higher lower longer shorter faster slower
""".split())

# Punctuation that sits around a word in prose and says nothing about what it is.
EDGE = "\"'`()[]{}<>,;:.!?*"

_DASHES = "-–—•*>"
_FILLER_MARKS = frozenset(("", "...", "…", "(", ")", ",", ";", ":"))

_SIGNALS = re.compile(
    r"\d"                                        # numbers, versions, sizes, times, codes, hex ids
    r"|://|^www\."                               # URLs
    r"|[/\\]"                                    # paths (a/b, C:\x), ratios, and/or written a/b
    r"|^--?[A-Za-z]"                             # flags: -v, --force
    r"|[A-Za-z]_|_[A-Za-z]"                      # snake_case, __dunder__
    r"|[a-z][A-Z]"                               # camelCase, CamelCase
    r"|^[A-Z]{2,}s?$"                            # acronyms, constants, codes: HTTP, EOF, ENOENT
    r"|\w\.\w"                                   # dotted names, file names, domains: os.path, a.py
    r"|[=@#$%&~^|+<>]"                           # key=value, @user, #123, $VAR, %s, a|b, ->
    r"|^[A-Z][a-z]+[A-Z]"                        # names like McDonald, iPhone (after edge strip)
)


def must_keep(word: str) -> bool:
    """True when ``word`` (one whitespace-free token, punctuation included) must survive."""
    core = word.strip(EDGE)
    if not core:  # punctuation alone: a dash or a bullet goes, "." or ".." is an argument ("starting with .")
        return word.strip(_DASHES) not in _FILLER_MARKS
    if core.lower() in KEEP_WORDS:
        return True
    return _SIGNALS.search(core) is not None


# A value's flag in brackets after it: "time (-t)," "(--file-type)".
_ALIAS = re.compile(r"^\(--?[\w-]+\)[,.;:]?$")
_VALUE = re.compile(r"^[a-z][\w-]*[,.;:]?$")
# An item of a list of single words: "locale," "shell-always,"
_ITEM = re.compile(r"^[a-z][\w-]*,$")
_MIN_ITEMS = 3                  # a list of values: at least this many items


def values(words: list[tuple[str, int]]) -> set[int]:
    """Indexes of the words (text, paragraph) that name accepted values: one followed by its
    flag in brackets ("size (-S), time (-t)") and the items of a list of single words ("literal,
    locale, shell, c, escape", the last one after "and"/"or" too). An agent types them: "time"
    is as much a fact as "-t"."""
    found: set[int] = set()
    run: list[int] = []
    for i, (text, part) in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) and words[i + 1][1] == part else None
        if following is not None and _ALIAS.match(following[0]) and _VALUE.match(text):
            found.add(i)
        if _ITEM.match(text) and (not run or (run[-1] == i - 1 and words[run[-1]][1] == part)):
            run.append(i)
            continue
        if len(run) >= _MIN_ITEMS - 1:  # "a, b, c": two items end with a comma
            found.update(run)
            last = i + 1 if text in ("and", "or") and i + 1 < len(words) else i
            if words[last][1] == part and _VALUE.match(words[last][0]):
                found.add(last)
        run = [i] if _ITEM.match(text) else []
    return found
