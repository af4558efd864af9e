"""The one canonical form of a login identifier (an email or a username).

Whatever names an account goes through :func:`canonical_identifier`: the stored lookup
keys of users, every login lookup, every attack-protection counter and block, the
Management API and the CLI. Two normalisations of one value would let an attacker spell
the same account several ways and get a fresh set of attempts for each spelling.

The form is Unicode's compatibility caseless match: NFKC, full case folding (``ß`` and
``ẞ`` become ``ss``, the long s U+017F becomes ``s``, ``ﬃ`` becomes ``ffi``), NFKC again, repeated
until it no longer changes, and surrounding white space removed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "LABEL_MAX",
    "canonical_identifier",
    "counter_subject",
    "identifier_subjects",
    "is_valid_username",
    "label",
]

#: Longest identifier label kept for display in block records (the column's length).
LABEL_MAX = 320
_ELLIPSIS = "…"


def canonical_identifier(value: str) -> str:
    """``value`` in the form every lookup and counter uses; idempotent."""
    current = value
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", current).casefold())
        folded = folded.strip()
        if folded == current:
            break
        current = folded
    return current


def counter_subject(connection: str, *, user_id: str | None, identifier: str) -> str:
    """Whom brute-force counters count against, as 32 hex digits (a fixed size whatever
    the identifier's length or script).

    An identifier that resolves to an account counts against the account (``user_id``),
    whichever of its identifiers and spellings was used; any other counts against its
    canonical form. ``identifier`` must already be canonical.
    """
    kind, value = ("user", user_id) if user_id is not None else ("name", identifier)
    material = "\0".join((kind, connection, value)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).hexdigest()[:32]


def identifier_subjects(
    connection: str, identifiers: Iterable[str | None], user_id: str | None = None
) -> set[str]:
    """Every subject that counters of these identifiers (any spelling) can be kept under
    in ``connection``: the account's, and each identifier's own (counted before the
    account existed, or by a release made before this form)."""
    found = {
        counter_subject(connection, user_id=None, identifier=canonical_identifier(identifier))
        for identifier in identifiers
        if identifier
    }
    if user_id is not None:
        found.add(counter_subject(connection, user_id=user_id, identifier=""))
    return found


_USERNAME = re.compile(r"[^@\s\x00-\x1f\x7f-\x9f]+")


def is_valid_username(username: str) -> bool:
    """Whether ``username`` can be one: no ``@``, white space or control character, as
    typed *and* in its canonical form (U+FF20 and U+FE6B become ``@``). A login identifier
    with ``@`` names an email, any other a username, so each names at most one account."""
    return bool(_USERNAME.fullmatch(username)) and bool(
        _USERNAME.fullmatch(canonical_identifier(username))
    )


def label(identifier: str, limit: int = LABEL_MAX) -> str:
    """``identifier`` cut to ``limit`` characters for display, ending in ``…`` when cut."""
    if len(identifier) <= limit:
        return identifier
    return identifier[: limit - len(_ELLIPSIS)] + _ELLIPSIS
