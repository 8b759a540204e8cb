"""The compression pipeline: a policy that releases blocks, a router, and compressors per content type.

A compressor is a small class (``contract.Compressor``): settings in ``__init__``, a ``name``, a
cheap ``applies`` check and a ``compress_block`` that returns new text or None. It is given a
``contract.BlockInputs``, never the ``Block``: the text and the few facts its result may depend
on, which are exactly what the block cache key holds. Each block the policy releases is
classified once (``Routes.router``, built from the table of content types in
``compressors/content_types.py``) and offered only to the compressors routed for its type, in
order; the first that applies and makes it shorter wins. No compressor checks the type again. A block nothing
shrinks, or whose type has no compressors (code, JSONL), stays byte-identical. Output inside a
harness wrapper (``envelope.py``) is classified and compressed by what is wrapped, and ANSI
colour and cursor codes (``ansi.py``) are taken out first, except from source code. What the
compressors made of a block is remembered under that key (its inputs and the compressor
settings: ``BlockInputs.key``; ``cache.py``, optionally ``shared_cache.py``), so resent history
is a lookup. A tool result's context terms (``focus.py``: what the user's latest question and the
call's arguments name) tell a compressor that must drop items or lines which to keep.

Two modes (``config.MODES``):

* ``cache`` (default): a block's treatment is a pure function of its text, tool name, context
  terms and settings, never of its position, age or later messages (its context comes before
  it), so every message already sent comes out byte-identical in each later request of the
  conversation and the provider's prompt cache keeps hitting.
* ``token``: also the age rules of ``age.py``: the last ``protect_recent`` tool results stay
  whole, and file reads made stale by a later edit or full re-read become one-line markers.
"""

from .contract import BlockInputs, Budget, Compressor
from .core import _CACHE_SCHEMA as _CACHE_SCHEMA  # the schema version, beside the key (golden tests)
from .core import Pipeline, Routes, config_version
from .policy import Policy

__all__ = ["BlockInputs", "Budget", "Compressor", "Pipeline", "Policy", "Routes", "config_version"]
