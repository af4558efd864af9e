"""Whose counter a login identifier is: the account it names, resolved in the directory.

The password grant resolves the account beside its lookup (``oauth.password_login``);
this is the same resolution for everything else that needs a login's counter key:
adopting counters an older passgate kept in Redis, and tests.
"""

from __future__ import annotations

from passgate.domain.brute_force import attempt_key
from passgate.storage.counters import AttemptKey
from passgate.storage.directory import DEFAULT_CONNECTION, Directory

__all__ = ["login_key"]


def login_key(
    directory: Directory,
    mode: str,
    identifier: str,
    ip: str,
    *,
    connection: str = DEFAULT_CONNECTION,
) -> AttemptKey:
    """The counter key a password login of ``identifier`` from ``ip`` counts on: its
    account's when it names one, as the token endpoint resolves it."""
    conn = directory.connection_by_name(connection)
    found = directory.find_for_login(conn.id, identifier) if conn is not None else None
    user = found[0] if found is not None else None
    return attempt_key(
        mode,
        connection,
        identifier,
        ip,
        user_id=user.id if user else None,
        shown_as=user.email if user else None,
    )
