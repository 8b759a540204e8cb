"""``rawjson.scan`` taking the members around the item array from an earlier body (``Members``):
whatever it takes must be exactly what parsing the text again would give."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.errors import UnsupportedBody
from extproc.rawjson import scan

PROPERTY = settings(max_examples=150, deadline=None)
KEYS = st.sampled_from(["model", "system", "tools", "metadata", "stream", "max_tokens", "input", "ünï"])
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)
MEMBERS = st.dictionaries(KEYS, VALUES, max_size=4)
ITEMS = st.lists(st.dictionaries(st.sampled_from(["role", "content"]), st.text(max_size=20), max_size=2), max_size=5)


def text_of(before: dict, items: list, after: dict, indent: int | None) -> str:
    body = {**before, "messages": items, **after}
    return json.dumps(body, ensure_ascii=False, indent=indent)


def same(a, b) -> None:
    assert (a.body, a.members, a.items) == (b.body, b.members, b.items)
    assert (a.head_end, a.items_end) == (b.head_end, b.items_end)


@PROPERTY
@given(MEMBERS, MEMBERS, ITEMS, ITEMS, st.sampled_from([None, 1]))
def test_members_taken_from_an_earlier_body_are_those_parsing_gives(before, after, first, second, indent):
    """Two bodies with the same members around different item arrays: the second, scanned with
    the first's head and tail, comes out as it does scanned from scratch."""
    after = {key: value for key, value in after.items() if key not in before}
    earlier = scan(text_of(before, first, after, indent), "messages")
    text = text_of(before, second, after, indent)
    same(scan(text, "messages", head=earlier.head(), tail=earlier.tail()), scan(text, "messages"))


def test_a_tail_is_taken_only_where_the_array_ends():
    """A body that ends with the tail's text but whose array ends elsewhere parses its own members."""
    earlier = scan('{"messages":[1],"b":2}', "messages")
    tail = earlier.tail()
    assert tail is not None and tail.text == ',"b":2}'
    text = '{"messages":[1],"a":[{"x":3}],"b":2}'
    doc = scan(text, "messages", tail=tail)
    assert doc.body == {"messages": [1], "a": [{"x": 3}], "b": 2}
    same(doc, scan(text, "messages"))


def test_a_duplicate_key_across_head_and_tail_is_refused():
    """Head and tail checked together: a key in both is a duplicate, as parsing would find."""
    head = scan('{"system":"s","messages":[1]}', "messages").head()
    tail = scan('{"messages":[1],"system":"t"}', "messages").tail()
    text = '{"system":"s","messages":[2],"system":"t"}'
    for scanned in (lambda: scan(text, "messages"), lambda: scan(text, "messages", head=head, tail=tail)):
        with pytest.raises(UnsupportedBody) as caught:
            scanned()
        assert caught.value.reason == "duplicate_keys"
