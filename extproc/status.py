"""What a process made of its optional parts at start-up, as plain values on the ground floor.

``KompressStatus`` is made where the model is opened (``compressors/kompress``) and read by the
parts above and beside it: the workers' readiness (``workers.py``), the metrics (``metrics.py``),
the server's start-up log. It lives here, importing nothing, so none of them reaches up into
the Kompress package for a type.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KompressStatus"]


@dataclass(frozen=True)
class KompressStatus:
    """What a compression process made of its Kompress settings, for logs, metrics and readiness."""

    available: bool
    model: str = ""
    provider: str = ""
    reason: str = ""        # when not available: disabled | missing | corrupt | no_gpu | not_installed
    detail: str = ""
    max_batch: int = 0      # chunks per inference call (1 for a model whose scores depend on the batch)
