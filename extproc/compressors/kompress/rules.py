"""Words Kompress never drops, whatever the model says: the facts an agent acts on.

A *word* is a whitespace-separated run of characters (``words.py`` splits the text). It must be
kept when it holds a number, a hex id, a path or file name, a flag, an identifier (CamelCase,
snake_case, dotted.names), a URL, a key=value pair or an error code, or when it is a negation,
a modal word or and/or: dropping "not" turns a fact into its opposite. These rules run in front
of the model at run time, and ``scripts/train_kompress.py`` uses the same ones to label words.
"""

from __future__ import annotations

import re

__all__ = ["must_keep", "KEEP_WORDS", "EDGE"]

# Negations, modal words, and/or, quantities: the small words that decide what a sentence means
# ("one in twenty" is not "twenty", "too small" is not "small").
KEEP_WORDS = frozenset("""
not no nor never none nothing nobody nowhere neither cannot can't don't doesn't didn't isn't aren't
wasn't weren't won't wouldn't shouldn't couldn't mustn't hasn't haven't hadn't without unless except
only must should shall may might can could would will need needs required optional
and or but if else then before after until because than
all any each every some most more less least fewer few many much too both either half
zero one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty
hundred hundreds thousand thousands million millions billion first second third last once twice
default defaults deprecated true false yes
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
