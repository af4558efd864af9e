"""Client of an upstream Pwned-Passwords-compatible range API (k-anonymity).

Only the first 5 hex digits of a password's SHA-1 leave the process: ``GET {url}{PREFIX}``
with ``Add-Padding: true`` (so the size of the answer reveals nothing either); the answer's
``SUFFIX:COUNT`` lines are matched locally, count-0 lines (padding) ignored.

Answers are cached per prefix in a bounded LRU with a time to live (a
:class:`~passgate.support.cache.TtlCache`; one entry holds the real lines of one answer as
a single string, ~40 KB for the full Pwned Passwords corpus).
Requests have a timeout. When the upstream cannot answer (connection refused, timeout,
non-200 status, unparsable body), ``on_unavailable`` decides:

``"refuse"``
    raise :class:`BreachedUpstreamUnavailable` (a ``ServiceUnavailable``: the login is
    answered 503 and can be retried);
``"allow"``
    treat the password as not found upstream (the local index still applies).

After a failure the upstream is not asked again for ``retry_after`` seconds, so a dead
upstream costs one timeout, not one per login. The clock is injected; tests never sleep.

``parse_range_body`` is pure (no I/O) and shared with anything else reading range answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import httpx

from passgate.breached.errors import BreachedUpstreamUnavailable
from passgate.support.cache import TtlCache

__all__ = ["OnUnavailable", "RangeClient", "parse_range_body"]

OnUnavailable = Literal["refuse", "allow"]
_HEX = frozenset("0123456789ABCDEF")


def parse_range_body(text: str) -> dict[str, int]:
    """``SUFFIX:COUNT`` lines (CRLF or LF) to ``{SUFFIX: count}``, padding (count 0) left out.

    Raises ``ValueError`` on a line that is not 35 hex digits, ':' and a decimal count.
    """
    found: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        suffix, colon, count = line.partition(":")
        suffix = suffix.upper()
        if len(suffix) != 35 or not colon or not count.isdigit() or not _HEX.issuperset(suffix):
            raise ValueError(f"line {number} of the range answer is not SUFFIX:COUNT")
        if int(count) > 0:
            found[suffix] = int(count)
    return found


class _Answer:
    """The real lines of one range answer, packed as ``"\\nSUFFIX:COUNT\\n..."``."""

    __slots__ = ("text",)

    def __init__(self, found: dict[str, int]) -> None:
        self.text = "\n" + "".join(f"{suffix}:{count}\n" for suffix, count in found.items())

    def count(self, suffix: str) -> int | None:
        at = self.text.find(f"\n{suffix}:")
        if at < 0:
            return None
        start = at + 37
        return int(self.text[start : self.text.index("\n", start)])


class RangeClient:
    """Asks an upstream range API about SHA-1 digests; thread-safe, blocking (httpx)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        on_unavailable: OnUnavailable = "allow",
        cache_size: int = 1024,
        cache_ttl: float = 3600.0,
        retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if on_unavailable not in ("refuse", "allow"):
            raise ValueError(f"on_unavailable must be 'refuse' or 'allow', not {on_unavailable!r}")
        self.url = url if url.endswith("/") else url + "/"
        self.on_unavailable: OnUnavailable = on_unavailable
        self.retry_after = retry_after
        self.clock = clock
        # An unavailable upstream's "nothing found" (None) is never kept.
        self.cache: TtlCache[str, _Answer | None] = TtlCache(
            self._fetch,
            ttl=cache_ttl,
            size=cache_size,
            negative_size=0,
            keep_recently_used=True,
            clock=clock,
        )
        self._down_until = float("-inf")
        self._client = httpx.Client(
            timeout=timeout, transport=transport, headers={"Add-Padding": "true"}
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RangeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, sha1_digest: bytes) -> int | None:
        """The upstream count of a digest, None when absent (or unavailable and allowed)."""
        hexdigest = sha1_digest.hex().upper()
        prefix, suffix = hexdigest[:5], hexdigest[5:]
        answer = self.cache.get(prefix)
        return None if answer is None else answer.count(suffix)

    def _fetch(self, prefix: str) -> _Answer | None:
        if self.clock() < self._down_until:
            return self._unavailable("did not answer recently; not retried yet")
        try:
            response = self._client.get(self.url + prefix)
            if response.status_code != 200:
                raise ValueError(f"status {response.status_code}")
            found = parse_range_body(response.text)
        except (httpx.HTTPError, ValueError) as exc:
            self._down_until = self.clock() + self.retry_after
            return self._unavailable(f"{type(exc).__name__}: {exc}")
        return _Answer(found)

    def _unavailable(self, reason: str) -> _Answer | None:
        """Apply the policy: raise ("refuse"), or answer "nothing found" ("allow")."""
        if self.on_unavailable == "refuse":
            raise BreachedUpstreamUnavailable(
                f"the breached-password range API {self.url} is unavailable ({reason})"
            )
        return None
