"""What became of one request: the outcome every entry point reports for it.

``compress.py`` decides a body's outcome (compressed, unchanged, passthrough); ``processor.py``
adds those decided before or around it (bypassed, failed_open). The values are what the
``x-trimwire-outcome`` header, the ``outcome`` label of ``trimwire_requests_total``, the log line,
``/stats`` and the compression API's answers say, so they never change spelling; a ``StrEnum``
member is that very string wherever it is written.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RequestOutcome", "SAVINGS_COUNTED"]


class RequestOutcome(StrEnum):
    """A request's outcome (``pipeline.cache.Outcome`` is a block's: its new text, if any)."""

    COMPRESSED = "compressed"    # some block was rewritten; the new body went upstream
    UNCHANGED = "unchanged"      # read and counted, nothing worth rewriting
    PASSTHROUGH = "passthrough"  # not ours to touch (path, method, content type, body): forwarded as sent
    BYPASSED = "bypassed"        # the caller asked not to be compressed, and may
    FAILED_OPEN = "failed_open"  # compression broke or ran out of time: the original body went upstream
    PENDING = "pending"          # ours, body not in hand yet: never reported (it ends as another)


# Outcomes whose token counts are real and go into the savings metrics and headers.
SAVINGS_COUNTED = (RequestOutcome.COMPRESSED, RequestOutcome.UNCHANGED)
