"""Near-identical items of a JSON array written once (``compressors/_json_siblings.py``).

Every item written as differences is put back here from the output alone, the way a reader
would (RFC 6901 pointers into the item it names, as sent), and must equal the item as the
sampler would have sent it whole. The resolver (``tests/json_siblings.py``) is written apart from the module under test.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.compressors import JsonSampler
from extproc.compressors._json_siblings import MIN_ITEM_CHARS
from tests.json_siblings import pod, resolve


def sampled(document, siblings: bool = True) -> object:
    out = JsonSampler(siblings=siblings).compress(json.dumps(document, indent=2))
    assert out is not None
    return json.loads(out)


def whole(document) -> object:
    """What the sampler sends with sibling differences off: the reference the resolver must give."""
    return sampled(document, siblings=False)


class TestSiblings:
    def test_replicas_are_written_as_their_differences(self):
        """Three pods of one StatefulSet: the second and third go out as differences from the first,
        naming every field that differs; put back they are the pods as sent whole."""
        document = {"kind": "List", "items": [pod("prometheus-0", "10.0.0.4", 0), pod("prometheus-1", "10.0.0.9", 3),
                                              pod("prometheus-2", "10.0.1.2", 0)]}
        out = sampled(document)
        text = json.dumps(out)
        assert text.count("[trimwire: same as [0] of this array") == 2
        assert '"prometheus-1"' in text and '"10.0.0.9"' in text and "/containerStatuses/0/restartCount" in text
        assert resolve(out) == whole(document)
        assert len(json.dumps(out)) < 0.6 * len(json.dumps(whole(document)))

    def test_added_and_removed_keys_and_longer_arrays(self):
        """A key added, a key gone and an array grown by one all come back."""
        first = pod("api-0", "10.0.0.4", 0)
        second = pod("api-1", "10.0.0.5", 0, {"deletionTimestamp": "2026-12-01T10:00:00Z"})
        del second["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        second["spec"]["containers"][0]["volumeMounts"].append({"name": "extra", "mountPath": "/x"})
        third = pod("api-2", "10.0.0.6", 0)
        third["spec"]["containers"][0]["volumeMounts"].pop()
        document = [first, second, third]
        out = sampled(document)
        assert '"[trimwire: and without]"' in json.dumps(out)
        assert resolve(out) == whole(document)

    def test_keys_with_slashes_and_tildes_are_escaped(self):
        """Keys holding ``/`` and ``~`` are written as RFC 6901 tokens and resolve to themselves."""
        items = [pod(f"web-{n}", f"10.0.0.{n}", 0, {"a/b~c": f"value-{n}"}) for n in range(3)]
        out = sampled(items)
        assert "/a~1b~0c\"" in json.dumps(out)
        assert resolve(out) == whole(items)

    def test_different_items_stay_whole(self):
        """Items with little in common, and small items, are never written as differences."""
        small = [{"id": n, "name": f"svc-{n}", "port": 8000 + n} for n in range(30)]
        varied = [{"name": f"doc-{n}", "body": "".join(chr(97 + (n * 7 + k) % 26) for k in range(MIN_ITEM_CHARS))}
                  for n in range(4)]
        for document in (small, varied):
            assert "same as [" not in json.dumps(sampled(document + [{"pad": "x" * 5000}]))

    def test_sizes_are_the_encoded_lengths(self):
        """The sizes the decision rests on are the exact lengths of the output's compact encoding."""
        from extproc.compressors._json_siblings import _measure, _sized
        from extproc.compressors._json_signals import RawNumber
        from extproc.compressors.json_lossy import _text
        items = [pod(f"p-{n}", f"10.1.0.{n}", n, {"a/b~c": "é" * n}) for n in range(4)] + [[], {}, "x", True, None]
        for value in (items, {"items": items, "kind": "List", "q": "a \"quoted\"\n\tline"}, [["a", "b"], ["c"]]):
            value = json.loads(json.dumps(value), parse_int=RawNumber, parse_float=RawNumber)  # as parsed
            made, size = _sized(value, _text, _measure(_text))
            assert size == len(_text(made))

    @settings(max_examples=60, deadline=None)
    @given(changes=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["name", "uid", "new", "gone", "grow"]),
                                      st.text(min_size=1, max_size=12)), max_size=8))
    def test_any_edits_resolve_back(self, changes):
        """Random edits of replicas of one pod: what goes out always resolves to the items as sent whole."""
        items = [pod(f"p-{n}", f"10.1.0.{n}", n) for n in range(3)]
        for index, what, value in changes:
            item = items[index]
            if what in ("name", "uid"):
                item["metadata"][what] = value
            elif what == "new":
                item["metadata"]["labels"][value] = value
            elif what == "gone":
                item["metadata"]["annotations"].pop("openshift.io/scc", None)
            else:
                item["spec"]["containers"][0]["args"].append(value)
        assert resolve(sampled(items)) == whole(items)
