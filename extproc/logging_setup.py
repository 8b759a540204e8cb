"""structlog set-up: JSON lines on stdout, one per request plus lifecycle events.

Only ids, sizes, counts and timings are ever logged: never prompt text, never headers wholesale
(authorization and api keys travel in them).
"""

from __future__ import annotations

import logging

import structlog

__all__ = ["configure_logging", "get_logger"]


def configure_logging(level: str = "info") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),  # sys.stdout as it is when a line is written
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "trimwire") -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
