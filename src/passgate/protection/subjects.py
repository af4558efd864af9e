"""Whose counter a login identifier is: the account it names, resolved in the directory.

The password grant resolves the account beside its lookup (``oauth.password_login``);
:func:`login_key` is the same resolution for everything else that needs a login's counter
key: adopting counters an older passgate kept in Redis, and tests. :func:`account_subjects`
goes the other way for block administration: every counter subject an identifier (any of
an account's identifiers, any spelling, or its user id) can have blocks under.
"""

from __future__ import annotations

from passgate.domain.brute_force import attempt_key
from passgate.domain.identifiers import identifier_subjects
from passgate.domain.models import User
from passgate.storage.counters import AttemptKey
from passgate.storage.directory import DEFAULT_CONNECTION, Directory

__all__ = ["account_subjects", "login_key", "user_subjects"]


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


def older_counter_key(
    directory: Directory, mode: str, connection: str, identifier: str, ip: str | None
) -> AttemptKey:
    """Today's key for a counter an older passgate kept (see ``adopt_older_counters``)."""
    return login_key(directory, mode, identifier, ip or "", connection=connection)


def account_subjects(
    directory: Directory, identifier: str, *, connection: str | None = None
) -> tuple[set[str], dict[str, User]]:
    """The counter subjects ``identifier`` names, and the account it names in each
    connection (all connections, or only ``connection``).

    An identifier names the account whose user id, email or username (any spelling) it
    is; the subjects are that account's and those counted under the identifier itself
    (before the account existed), in each connection."""
    subjects: set[str] = set()
    accounts: dict[str, User] = {}
    by_id = directory.get_user(identifier)
    if by_id is not None and connection in (None, by_id.connection):
        accounts[by_id.connection] = by_id
    for conn in directory.list_connections():
        if connection not in (None, conn.name):
            continue
        found = directory.find_for_login(conn.id, identifier)
        if found is not None:
            accounts.setdefault(conn.name, found[0])
        subjects |= identifier_subjects(conn.name, [identifier])
    for user in accounts.values():
        subjects |= user_subjects(user)
    return subjects, accounts


def user_subjects(user: User) -> set[str]:
    """The counter subjects of one account: its own, and its email's and username's."""
    return identifier_subjects(user.connection, [user.email, user.username], user.id)
