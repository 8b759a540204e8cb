"""Content-Encoding of request bodies: identity, gzip and zstd (Codex sends zstd) in and out.

Decoding is capped at ``max_bytes`` so a compression bomb costs at most that much memory.
"""

from __future__ import annotations

import zlib

import zstandard

from .errors import BodyTooLarge, UnsupportedBody

__all__ = ["SUPPORTED_ENCODINGS", "decode", "encode", "is_identity"]

SUPPORTED_ENCODINGS = ("identity", "gzip", "x-gzip", "zstd")
_ZSTD_SLICE = 512  # a 2 GB zstd bomb peaked at ~18 MB over the cap with this slice


def _normalise(encoding: str) -> str:
    encoding = (encoding or "identity").strip().lower()
    if encoding not in SUPPORTED_ENCODINGS:
        raise UnsupportedBody(f"content-encoding {encoding!r}", reason="unsupported_encoding")
    return "gzip" if encoding == "x-gzip" else encoding


def is_identity(encoding: str) -> bool:
    """Whether ``encoding`` leaves the body's bytes as they are (``decode`` hands them back)."""
    return _normalise(encoding) == "identity"


def decode(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """The body's plain bytes; raises BodyTooLarge past ``max_bytes``, UnsupportedBody if corrupt."""
    encoding = _normalise(encoding)
    if encoding == "identity":
        out = body
    elif encoding == "gzip":
        out = _gunzip(body, max_bytes)
    else:
        out = _unzstd(body, max_bytes)
    if len(out) > max_bytes:
        raise BodyTooLarge(f"decoded body over {max_bytes} bytes")
    return out


def encode(body: bytes, encoding: str) -> bytes:
    encoding = _normalise(encoding)
    if encoding == "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        return compressor.compress(body) + compressor.flush()
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(body)
    return body


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, auto-detected
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise UnsupportedBody(f"gzip: {exc}", reason="corrupt_encoding") from None
    if len(out) > max_bytes:
        raise BodyTooLarge(f"decoded body over {max_bytes} bytes")
    if not inflater.eof:
        raise UnsupportedBody("gzip stream truncated", reason="corrupt_encoding")
    if inflater.unused_data:  # a second member or junk: re-encoding only the first would drop it
        raise UnsupportedBody("data after the gzip stream", reason="corrupt_encoding")
    return out


def _unzstd(body: bytes, max_bytes: int) -> bytes:
    # Fed in small slices so one slice cannot expand far past the cap (a zstd bomb), with
    # ``eof`` telling a complete frame from a truncated one. One frame, as HTTP clients send.
    inflater = zstandard.ZstdDecompressor().decompressobj()
    chunks: list[bytes] = []
    size = 0
    try:
        for start in range(0, len(body), _ZSTD_SLICE):
            chunk = inflater.decompress(body[start:start + _ZSTD_SLICE])
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(f"decoded body over {max_bytes} bytes")
    except zstandard.ZstdError as exc:
        raise UnsupportedBody(f"zstd: {exc}", reason="corrupt_encoding") from None
    if not inflater.eof:
        raise UnsupportedBody("zstd stream truncated", reason="corrupt_encoding")
    if inflater.unused_data:  # a second frame or junk: re-encoding only the first would drop it
        raise UnsupportedBody("data after the zstd frame", reason="corrupt_encoding")
    return b"".join(chunks)
