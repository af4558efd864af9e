"""Random secrets, keyed digests and constant-time comparison.

Client secrets, refresh tokens and single-use links are random and high-entropy, so a fast
keyed digest (HMAC-SHA256) is enough to store them: client authentication costs
microseconds, not a password hash, and a database dump does not reveal them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["constant_time_equal", "keyed_digest", "new_id", "new_ids", "new_secret"]


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random string with ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def new_id(prefix: str = "", nbytes: int = 12) -> str:
    return prefix + secrets.token_hex(nbytes)


def new_ids(prefix: str, nbytes: int, count: int) -> list[str]:
    """``count`` ids as :func:`new_id` makes them, from one read of the system's random
    source (a bulk import makes thousands at a time)."""
    text = secrets.token_hex(nbytes * count)
    size = 2 * nbytes
    return [prefix + text[i : i + size] for i in range(0, size * count, size)]


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


@functools.lru_cache(maxsize=16)
def _hmac_pads(key: bytes) -> tuple[_Hash, _Hash]:
    """SHA-256 states with HMAC's inner and outer key pads already absorbed (RFC 2104).

    Hashed once per key: OpenSSL's one-shot HMAC sets up the digest and both pads on every
    call, several times the cost of the two copies and short updates that remain."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def keyed_digest(key: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, in hex."""
    inner_pad, outer_pad = _hmac_pads(key)
    inner = inner_pad.copy()
    inner.update(value.encode("utf-8", "surrogatepass"))
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )
