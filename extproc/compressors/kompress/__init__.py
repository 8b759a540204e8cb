"""Kompress: prose thinned to its important words by an ONNX token-importance model.

The compressor for plain-text tool output (``ContentType.TEXT``) that reads as prose. Per block:
split into prose lines and words (``words.py``), mark the words the rules keep (``rules.py``),
tokenise the rest in chunks that fit the model's 512 positions, score them through the
process's micro-batcher (``batcher.py``, one inference thread shared by every request), and keep
the best-scored words of each paragraph or option description up to ``keep_ratio`` of its words
(or those above ``threshold``). A word's score is its best sub-token's. Scores are rounded before
ranking, so tiny numeric differences between devices do not change which words survive.

``load_kompress`` (``prose.py``) opens the model (``model.py``) once per ``ModelShelf``, which
the engines of one process share; when it cannot, trimwire serves
with the structural compressors and the status says why. A block whose inference would miss the
request's deadline, or finds the queue full, is left as it was: a long block whose first chunks
were scored in time is thinned there and kept whole after.
"""

from ...status import KompressStatus
from .prose import Kompress, ModelShelf, ProseEntry, load_kompress

__all__ = ["Kompress", "KompressStatus", "ModelShelf", "ProseEntry", "load_kompress"]
