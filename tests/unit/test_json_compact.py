"""JsonCompactor: layout whitespace out, every string and number byte for byte."""

from __future__ import annotations

import json

import pytest

from extproc.compressors import JsonCompactor
from extproc.compressors.content_types import detect
from extproc.pipeline import BlockInputs
from extproc.pipeline.router import ContentType

from .bodies import SEARCH_RESULTS, TEST_REPORT


def block(text: str) -> BlockInputs:
    return BlockInputs(text)


@pytest.fixture
def compactor() -> JsonCompactor:
    return JsonCompactor()


class TestJsonCompactor:
    @pytest.mark.parametrize("text", [SEARCH_RESULTS, TEST_REPORT])
    def test_pretty_json_becomes_compact_json(self, compactor, text):
        """Indented output comes back exactly as json.dumps would write it compactly."""
        value = json.loads(text)
        assert compactor.compress(text) == json.dumps(value, separators=(",", ":"))

    def test_numbers_keep_their_spelling(self, compactor):
        """1.10, 1E+2, -0.0 and 10000000000000000000001 are not re-formatted."""
        text = '{\n  "price": 1.10,\n  "big": 1E+2,\n  "neg": -0.0,\n  "huge": 10000000000000000000001\n}'
        assert compactor.compress(text) == '{"price":1.10,"big":1E+2,"neg":-0.0,"huge":10000000000000000000001}'

    def test_unicode_escapes_stay_escaped(self, compactor):
        """\\u escapes, surrogate pairs included, are kept as written, raw non-ASCII too."""
        text = '[\n  "caf\\u00e9",\n  "\\ud83d\\ude00",\n  "naïve 日本"\n]'
        assert compactor.compress(text) == '["caf\\u00e9","\\ud83d\\ude00","naïve 日本"]'

    def test_strings_with_whitespace_quotes_and_backslashes(self, compactor):
        """Spaces, tabs, escaped quotes and backslashes inside strings are untouched."""
        text = ('{\n  "cmd": "echo \\"a  b\\"\\t c",\n  "path": "C:\\\\dir\\\\ x\\\\",\n'
                '  "raw": "  two\u00a0spaces\u2028 ",\n  "k e y": " "\n}')
        expected = ('{"cmd":"echo \\"a  b\\"\\t c","path":"C:\\\\dir\\\\ x\\\\",'
                    '"raw":"  two\u00a0spaces\u2028 ","k e y":" "}')
        assert compactor.compress(text) == expected

    def test_surrounding_whitespace_goes(self, compactor):
        """Leading and trailing newlines and tabs around the document are layout too."""
        assert compactor.compress("\r\n\t{ \"a\" : [ 1 , 2 ] }\n") == '{"a":[1,2]}'

    @pytest.mark.parametrize("text", [
        '{\n  "a": 1,\n',
        "{ not json }",
        "[1, 2,]",
        "{'single': 'quotes'}",
        '{"a": 1}  trailing words',
    ], ids=["truncated", "bare-words", "trailing-comma", "single-quotes", "trailing-text"])
    def test_invalid_json_is_left_alone(self, compactor, text):
        """Text that does not parse as JSON is not touched."""
        assert compactor.compress(text) is None

    @pytest.mark.parametrize("text", ['{"a":[1,2,{"b":null}]}', "[]", '"  spaced string  "'])
    def test_compact_json_is_left_alone(self, compactor, text):
        """JSON with no layout whitespace gives nothing to gain."""
        assert compactor.compress(text) is None

    def test_too_deep_json_is_left_alone(self, compactor):
        """JSON nested deeper than the parser goes is skipped, not an error."""
        text = "[ " * 50_000 + "] " * 50_000
        assert compactor.compress(text) is None

    @pytest.mark.parametrize(("text", "routed"), [
        ("{\n  \"a\": 1\n}", True),
        ("\n\n   [1, 2]", True),
        ("Found 3 results:\n{...}", False),
        ("", False),
        (" " * 80 + "{}", True),
    ])
    def test_routed_json_looking_text(self, compactor, text, routed):
        """The router sends text opening with a JSON value here; the compressor does not ask again."""
        assert (detect(text) is ContentType.JSON) is routed and compactor.applies(block(text))


class TestJsonStreams:
    def test_documents_one_after_another_are_compacted_one_a_line(self, compactor):
        """jq-style output (several pretty documents) is compacted document by document."""
        first, second = {"name": "router-1", "ready": True}, {"name": "router-2", "ready": False}
        text = json.dumps(first, indent=4) + "\n" + json.dumps(second, indent=4) + "\n"
        out = compactor.compress(text)
        assert out.split("\n") == [json.dumps(first, separators=(",", ":")), json.dumps(second, separators=(",", ":"))]

    def test_json_then_text_is_left_alone(self, compactor):
        """A document followed by something that is not JSON is not JSON output: untouched."""
        assert compactor.compress(json.dumps({"a": [1, 2, 3]}, indent=2) + "\nDone in 3s\n") is None

    def test_json_documents_splits_exact_texts(self):
        """json_documents returns each document's own text, whitespace between them dropped."""
        from extproc.compressors.json_compact import json_documents

        assert json_documents(' {"a": 1}\n\n[2, 3] \n') == ['{"a": 1}', "[2, 3]"]
        assert json_documents('{"a": 1} x') is None and json_documents("   ") is None
