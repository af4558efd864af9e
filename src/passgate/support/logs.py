"""Process logging: one line per record, never a password, secret or token."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
