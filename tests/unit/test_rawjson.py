"""``rawjson.scan`` taking members it has parsed before (``messages.Surroundings``): whatever it
takes must be exactly what parsing the text again would give. ``splice_bytes`` writing over byte
spans (``utf8_length``) gives the bytes of the text written over at the same characters."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.messages import Surroundings
from extproc.rawjson import scan, splice_bytes, utf8_length

PROPERTY = settings(max_examples=150, deadline=None)
KEYS = st.sampled_from(["model", "system", "tools", "metadata", "stream", "max_tokens", "input", "ünï"])
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)
MEMBERS = st.dictionaries(KEYS, VALUES, max_size=4)
ITEMS = st.lists(st.dictionaries(st.sampled_from(["role", "content"]), st.text(max_size=20), max_size=2), max_size=5)


def text_of(before: dict, items: list, after: dict, indent: int | None) -> str:
    return json.dumps({**before, "messages": items, **after}, ensure_ascii=False, indent=indent)


def same(a, b) -> None:
    assert (a.body, a.members, a.items) == (b.body, b.members, b.items)


@PROPERTY
@given(MEMBERS, MEMBERS, ITEMS, ITEMS, st.integers(0, 2), MEMBERS, st.sampled_from([None, 1]))
def test_members_taken_from_an_earlier_body_are_those_parsing_gives(before, after, first, second, shared,
                                                                     changed, indent):
    """A body scanned after another with some of the same members and first messages, other
    messages after them and other members changed, comes out as it does scanned from scratch."""
    after = {key: value for key, value in after.items() if key not in before}
    known = Surroundings(1 << 20, min_chars=2)  # every object, array and string is kept
    scan(text_of(before, first, after, indent), "messages", known=known)
    later_before = {key: changed.get(key, value) for key, value in before.items()}
    text = text_of(later_before, first[:shared] + second, after, indent)
    same(scan(text, "messages", known=known), scan(text, "messages"))


def test_the_first_two_messages_are_found_again():
    """A long system prompt as the first message (OpenAI chat) is taken as it was in the next turn."""
    known = Surroundings(1 << 20, min_chars=20)
    system = {"role": "system", "content": "You are a careful agent. " * 10}
    first = scan(json.dumps({"messages": [system, {"role": "user", "content": "go"}]}), "messages", known=known)
    later = scan(json.dumps({"messages": [system, {"role": "user", "content": "go"}, {"role": "assistant"}]}),
                 "messages", known=known)
    assert later.body["messages"][0] is first.body["messages"][0]
    assert later.body["messages"][2] == {"role": "assistant"}


def test_large_members_are_found_again():
    """A member of at least ``min_chars`` is taken as it was, the same object, and a changed one is
    parsed again."""
    known = Surroundings(1 << 20, min_chars=20)
    tools = [{"name": "Read", "description": "reads a file from the workspace"}]
    first = scan(json.dumps({"messages": [], "tools": tools, "stream": True}), "messages", known=known)
    again = scan(json.dumps({"model": "m", "messages": [1], "tools": tools}), "messages", known=known)
    assert again.body["tools"] is first.body["tools"] and known.stats.hits >= 1
    other = [{"name": "Read", "description": "reads a file from the workspace!"}]
    assert scan(json.dumps({"messages": [], "tools": other}), "messages", known=known).body["tools"] == other


def test_numbers_are_never_kept():
    """A number's text does not say where it ends (a long number is the start of a longer one, with
    the same first characters): numbers are parsed every time."""
    known = Surroundings(1 << 20, min_chars=1)
    digits = "7" * 100
    scan(f'{{"seed":{digits},"messages":[]}}', "messages", known=known)
    assert scan(f'{{"seed":{digits}1,"messages":[]}}', "messages", known=known).body["seed"] == int(digits + "1")


def test_a_member_that_differs_only_at_its_end_is_parsed_again():
    """The same first characters (the lookup) and another last one: the whole text is compared."""
    known = Surroundings(1 << 20, min_chars=1)
    scan(json.dumps({"system": "x" * 500 + "1", "messages": []}), "messages", known=known)
    assert scan(json.dumps({"system": "x" * 500 + "2", "messages": []}), "messages", known=known).body["system"] \
        == "x" * 500 + "2"


UNICODE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # UTF-8 encodable: no lone surrogates


@PROPERTY
@given(UNICODE, st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), UNICODE), max_size=5))
def test_splicing_bytes_gives_the_bytes_of_splicing_characters(text, cuts):
    """Spans of 1- to 4-byte characters, written over in the body's bytes, come out as the text
    spliced and then encoded."""
    spans, taken = [], set()
    for a, b, new in cuts:
        start, end = sorted((min(a, len(text)), min(b, len(text))))
        if not taken.intersection(range(start, end + 1)):
            taken.update(range(start, end + 1))
            spans.append((start, end, new))
    in_bytes = [(utf8_length(text, 0, start), utf8_length(text, 0, end), new.encode())
                for start, end, new in spans]
    expected = text
    for start, end, new in sorted(spans, reverse=True):  # from the end: earlier spans stay put
        expected = expected[:start] + new + expected[end:]
    assert splice_bytes(text.encode(), in_bytes) == expected.encode()
