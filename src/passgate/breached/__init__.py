"""Breached passwords: a local Pwned Passwords corpus, its index, checks and range API.

Modules, in the order data flows:

- ``formats``: streaming readers of the input formats (SHA-1 file, range directory,
  password lists; plain or gzip);
- ``importer``: bounded-memory external sort into a new index, swapped in atomically;
  ``import_lock``: one import per index, and the removal of what a killed one left;
- ``writer`` / ``index``: the index file (and optional range companion) and its
  memory-mapped reader;
- ``live``: the index of a path, swapped for the new one after an import replaces it;
- ``checker``: ``is_breached(password)`` for the login, signup and password-change flows;
- ``upstream``: an optional client of an upstream range API (k-anonymity);
- ``range``: the Pwned-Passwords-compatible ``GET /range/{prefix}`` route;
- ``cli``: ``passgate breached import | stats | check``.
"""

from __future__ import annotations

from passgate.breached.checker import TEST_PASSWORD_PREFIX, BreachedChecker, BreachedResult
from passgate.breached.errors import (
    BreachedError,
    BreachedImportError,
    BreachedIndexError,
    BreachedRangeUnavailable,
    BreachedUpstreamUnavailable,
)
from passgate.breached.importer import ImportStats, import_corpus
from passgate.breached.index import COUNT_RELATIVE_ERROR, BreachedIndex
from passgate.breached.live import LiveIndex
from passgate.breached.range import range_routes
from passgate.breached.upstream import RangeClient

__all__ = [
    "COUNT_RELATIVE_ERROR",
    "TEST_PASSWORD_PREFIX",
    "BreachedChecker",
    "BreachedError",
    "BreachedImportError",
    "BreachedIndex",
    "BreachedIndexError",
    "BreachedRangeUnavailable",
    "BreachedResult",
    "BreachedUpstreamUnavailable",
    "ImportStats",
    "LiveIndex",
    "RangeClient",
    "import_corpus",
    "range_routes",
]
