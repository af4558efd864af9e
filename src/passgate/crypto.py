"""Random secrets, keyed digests and constant-time comparison.

Client secrets, refresh tokens and single-use links are random and high-entropy, so a fast
keyed digest (HMAC-SHA256) is enough to store them: client authentication costs
microseconds, not a password hash, and a database dump does not reveal them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["constant_time_equal", "keyed_digest", "new_id", "new_secret"]


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random string with ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def new_id(prefix: str = "", nbytes: int = 12) -> str:
    return prefix + secrets.token_hex(nbytes)


def keyed_digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )
