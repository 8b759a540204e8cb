"""Content-encoding in and out: round trips, corrupt streams and decompression bombs."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
import zstandard

from extproc import BodyTooLarge, UnsupportedBody
from extproc.codec import SUPPORTED_ENCODINGS, decode, encode

from .bodies import TEST_REPORT

BODY = json.dumps({"messages": [{"role": "tool", "tool_call_id": "call_1", "content": TEST_REPORT}]}).encode()
LIMIT = 1024 * 1024


class TestCodec:
    @pytest.mark.parametrize("encoding", ["identity", "gzip", "x-gzip", "zstd"])
    def test_round_trip(self, encoding):
        """What encode writes, decode reads back byte for byte."""
        assert decode(encode(BODY, encoding), encoding, LIMIT) == BODY

    @pytest.mark.parametrize("encoding", ["gzip", "zstd"])
    def test_encode_actually_compresses(self, encoding):
        """gzip and zstd output of a repetitive body is a fraction of its size."""
        encoded = encode(BODY * 20, encoding)
        assert len(encoded) < len(BODY * 20) // 5

    def test_gzip_is_real_gzip(self):
        """Our gzip output is readable by the standard library, and theirs by us."""
        assert gzip.decompress(encode(BODY, "gzip")) == BODY
        assert decode(gzip.compress(BODY), "gzip", LIMIT) == BODY

    def test_zstd_is_real_zstd(self):
        """Our zstd output is readable by zstandard, and a streamed frame without size by us."""
        assert zstandard.ZstdDecompressor().decompress(encode(BODY, "zstd")) == BODY
        streamed = zstandard.ZstdCompressor().compressobj()
        frame = streamed.compress(BODY) + streamed.flush()
        assert decode(frame, "zstd", LIMIT) == BODY

    @pytest.mark.parametrize("encoding", ["", "IDENTITY", " Gzip ", "ZSTD"])
    def test_encoding_names_are_normalised(self, encoding):
        """Empty means identity; case and surrounding spaces do not matter."""
        assert decode(encode(BODY, encoding), encoding, LIMIT) == BODY

    @pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, zstd", "compress"])
    def test_unknown_encoding_is_unsupported(self, encoding):
        """An encoding trimwire cannot read is passed through with its own reason."""
        with pytest.raises(UnsupportedBody) as caught:
            decode(BODY, encoding, LIMIT)
        assert caught.value.reason == "unsupported_encoding"
        with pytest.raises(UnsupportedBody):
            encode(BODY, encoding)

    @pytest.mark.parametrize("encoding", ["gzip", "zstd"])
    @pytest.mark.parametrize("cut", [1, 8, 0.5])
    def test_truncated_stream_is_unsupported(self, encoding, cut):
        """A stream cut short anywhere is corrupt, never a shorter body."""
        encoded = encode(BODY, encoding)
        size = int(len(encoded) * cut) if isinstance(cut, float) else len(encoded) - cut
        with pytest.raises(UnsupportedBody) as caught:
            decode(encoded[:size], encoding, LIMIT)
        assert caught.value.reason == "corrupt_encoding"

    @pytest.mark.parametrize("encoding", ["gzip", "zstd"])
    def test_garbage_is_unsupported(self, encoding):
        """Bytes that are not a stream of the declared encoding are corrupt."""
        with pytest.raises(UnsupportedBody) as caught:
            decode(BODY, encoding, LIMIT)
        assert caught.value.reason == "corrupt_encoding"

    @pytest.mark.parametrize("encoding", ["gzip", "zstd"])
    @pytest.mark.parametrize("tail", ["junk", "second-stream"])
    def test_data_after_the_stream_is_unsupported(self, encoding, tail):
        """A second member or trailing bytes would be dropped on re-encoding, so the body is not ours."""
        extra = b"junk" if tail == "junk" else encode(b" ", encoding)
        with pytest.raises(UnsupportedBody) as caught:
            decode(encode(BODY, encoding) + extra, encoding, LIMIT)
        assert caught.value.reason == "corrupt_encoding"

    @pytest.mark.parametrize("encoding", ["gzip", "zstd"])
    def test_bomb_is_too_large(self, encoding):
        """16 MiB of zeros squeezed into a few KiB stops at the 1 MiB cap."""
        bomb = encode(bytes(16 * 1024 * 1024), encoding)
        assert len(bomb) < 64 * 1024
        with pytest.raises(BodyTooLarge) as caught:
            decode(bomb, encoding, LIMIT)
        assert caught.value.reason == "too_large"

    @pytest.mark.parametrize("encoding", ["identity", "gzip", "zstd"])
    def test_cap_is_inclusive(self, encoding):
        """A body of exactly max_bytes decodes; one byte more is too large."""
        exact = b"a" * 4096
        assert decode(encode(exact, encoding), encoding, 4096) == exact
        with pytest.raises(BodyTooLarge):
            decode(encode(exact + b"a", encoding), encoding, 4096)

    def test_zlib_wrapped_deflate_is_read_as_gzip(self):
        """The gzip decoder auto-detects a zlib header, as lenient servers do."""
        assert decode(zlib.compress(BODY), "gzip", LIMIT) == BODY

    def test_supported_encodings_are_listed(self):
        """The advertised encodings are exactly the ones decode accepts."""
        assert SUPPORTED_ENCODINGS == ("identity", "gzip", "x-gzip", "zstd")
