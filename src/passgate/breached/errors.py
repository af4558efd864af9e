"""Errors of the breached-password corpus.

PassgateError                          (passgate.errors, never raised itself)
 +-- BreachedError                     (never raised itself)
      +-- BreachedImportError          bad input: names the file and the line
      +-- BreachedIndexError           an index file that is missing, foreign or damaged
      +-- BreachedRangeUnavailable     no range companion was imported (--with-range)
      +-- BreachedUpstreamUnavailable  the upstream range API could not answer
           (also a ServiceUnavailable: with the policy "refuse", a login or a new
            password is refused as temporarily unavailable)
"""

from __future__ import annotations

from passgate.errors import PassgateError, ServiceUnavailable

__all__ = [
    "BreachedError",
    "BreachedImportError",
    "BreachedIndexError",
    "BreachedRangeUnavailable",
    "BreachedUpstreamUnavailable",
]


class BreachedError(PassgateError):
    """Base of the breached-corpus errors; never raised directly."""


class BreachedImportError(BreachedError):
    """An import was refused; the message names the file and, for bad lines, the line."""


class BreachedIndexError(BreachedError):
    """An index file could not be opened: missing, not a passgate index, or truncated."""


class BreachedRangeUnavailable(BreachedError):
    """Range answers need the companion file built by ``import --with-range``."""


class BreachedUpstreamUnavailable(BreachedError, ServiceUnavailable):
    """The upstream range API did not answer (timeout, connection refused, bad status)."""

    def __init__(self, description: str | None = None) -> None:
        ServiceUnavailable.__init__(self, description)
