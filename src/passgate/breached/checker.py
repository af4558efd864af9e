"""Is this password breached? The local index first, then (optionally) an upstream API.

Decision order, for ``check(password)``:

1. a password starting with ``AUTH0-TEST-`` is always breached (Auth0's documented way to
   try the flow without a real leaked password);
2. the SHA-1 of its UTF-8 bytes is looked up in the local index; found with an
   (approximate, see :mod:`passgate.breached.index`) count ≥ ``min_count`` → breached;
3. otherwise, when an upstream range client is configured, its count ≥ ``min_count`` →
   breached. An unavailable upstream either raises ``BreachedUpstreamUnavailable`` or is
   ignored, per the client's ``on_unavailable`` policy.

Checks are blocking (an upstream request may take up to its timeout): the web layer runs
them in a worker thread, like password hashing. The local lookup costs a few µs.

Built from settings, the local index is a :class:`~passgate.breached.live.LiveIndex`:
:meth:`BreachedChecker.refresh` swaps in a corpus imported after start-up (server
processes call it every second in the background).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from passgate.breached.index import BreachedIndex
from passgate.breached.live import LiveIndex
from passgate.breached.upstream import RangeClient

if TYPE_CHECKING:
    from passgate.settings import Settings

__all__ = ["TEST_PASSWORD_PREFIX", "BreachedChecker", "BreachedResult"]

TEST_PASSWORD_PREFIX = "AUTH0-TEST-"


@dataclass(frozen=True)
class BreachedResult:
    breached: bool
    #: The (approximate) number of times the password was seen, when it was found.
    count: int | None = None
    #: Where the answer came from: "test" (AUTH0-TEST- prefix), "local" or "upstream".
    source: Literal["test", "local", "upstream"] | None = None


class BreachedChecker:
    """Decides whether passwords are breached; safe to share between threads.

    ``index``: a fixed :class:`BreachedIndex`, or a :class:`LiveIndex` that
    :meth:`refresh` reloads when its file is replaced.
    """

    def __init__(
        self,
        index: BreachedIndex | LiveIndex | None = None,
        *,
        min_count: int = 1,
        upstream: RangeClient | None = None,
    ) -> None:
        if min_count < 1:
            raise ValueError("min_count must be at least 1")
        self.live = index if isinstance(index, LiveIndex) else None
        self._fixed = index if isinstance(index, BreachedIndex) else None
        self.min_count = min_count
        self.upstream = upstream

    @property
    def index(self) -> BreachedIndex | None:
        """The index lookups use now (None while there is none)."""
        return self.live.current() if self.live is not None else self._fixed

    def refresh(self) -> bool:
        """Swap in a replaced index file, if any (see :class:`LiveIndex`); True if it did."""
        return self.live.refresh() if self.live is not None else False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        min_count: int = 1,
        index_path: Path | None = None,
        require_index: bool = False,
    ) -> BreachedChecker:
        """Open the index named by the settings (if the file exists) and the upstream client.

        Call once at start-up; :meth:`refresh` then follows imports. With
        ``require_index``, a missing index raises ``BreachedIndexError`` instead of being
        left out (then, until one is imported, only the test prefix and the upstream, if
        any, are checked).
        """
        path = index_path if index_path is not None else settings.breached_index_path
        index = LiveIndex(path, required=require_index)
        upstream = None
        if settings.breached_range_url:
            upstream = RangeClient(
                settings.breached_range_url,
                timeout=settings.breached_range_timeout,
                on_unavailable=settings.breached_upstream_unavailable,
            )
        return cls(index, min_count=min_count, upstream=upstream)

    def close(self) -> None:
        """Unmap the index and close the upstream client (tests and the CLI)."""
        if self.live is not None:
            self.live.close()
        elif self._fixed is not None:
            self._fixed.close()
        if self.upstream is not None:
            self.upstream.close()

    def check(self, password: str) -> BreachedResult:
        if password.startswith(TEST_PASSWORD_PREFIX):
            return BreachedResult(True, None, "test")
        digest = hashlib.sha1(
            password.encode("utf-8", "surrogatepass"), usedforsecurity=False
        ).digest()
        index = self.index  # one index for the whole lookup, even if a reload swaps it
        if index is not None:
            count = index.count(digest)
            if count is not None and count >= self.min_count:
                return BreachedResult(True, count, "local")
        if self.upstream is not None:
            count = self.upstream.count(digest)
            if count is not None and count >= self.min_count:
                return BreachedResult(True, count, "upstream")
        return BreachedResult(False)

    def is_breached(self, password: str) -> bool:
        return self.check(password).breached
