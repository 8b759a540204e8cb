"""The must-keep rules in front of the model."""

from __future__ import annotations

import pytest

from extproc.compressors.kompress.rules import must_keep


class TestMustKeep:
    @pytest.mark.parametrize("word", [
        "42", "3.14", "v1.20.0", "0x7ffd", "deadbeef1", "src/app/main.py", "C:\\\\temp", "main.py",
        "--force", "-v", "snake_case", "__init__", "CamelCase", "getValue", "os.path.join",
        "https://example.com/x", "www.example.com", "key=value", "ENOENT", "HTTP", "E501",
        "@alice", "#123", "$HOME", "not", "never", "must", "only", "unless", "except", "without",
        "and", "or", "and/or", "Not,", "(never)", "can't", ".", "..", "'*'", "(default)", "deprecated",
    ])
    def test_kept(self, word):
        """Numbers, ids, paths, flags, identifiers, URLs, key=value, codes and modal words stay."""
        assert must_keep(word)

    @pytest.mark.parametrize("word", ["the", "basically", "really", "Deployment", "slow,", "(team).", "...", "",
                                      "-", "—", "(", ","])
    def test_left_to_the_model(self, word):
        """Plain words, with or without punctuation around them, are the model's to decide."""
        assert not must_keep(word)

    @pytest.mark.parametrize("word", ["newer", "older", "larger", "smaller,", "earlier", "later", "(faster)"])
    def test_comparatives_kept(self, word):
        """A comparison's direction: wget's -N "unless newer than local" thinned to "unless than
        local" said nothing; "newer" and "than" together keep which way it goes."""
        assert must_keep(word)
