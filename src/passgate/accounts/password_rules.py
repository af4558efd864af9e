"""A connection's password rules, applied wherever a password is set: sign-up, a reset,
a password change or user creation by the Management API or the CLI.

:meth:`ConnectionPasswords.check` refuses with :class:`~passgate.accounts.model.InvalidPassword`
(Auth0's ``invalid_password``), naming the rule as Auth0 does: ``PasswordStrengthError``
(the level and minimum length), ``PasswordDictionaryError`` (a common password, or a word
of the connection's own dictionary, in any case), ``PasswordNoUserInfoError`` (the
user's email local part, username or names inside it) and ``PasswordHistoryError`` (one
of the user's recent passwords, compared with ``verify``: the same argon2 verification as
a login, so the history's hashes cost what the password's own does). Nothing in a refusal
says anything about another account.

Blocking (the history is read and verified): callers run it in a worker thread.
:meth:`ConnectionPasswords.before_change` keeps the current password's hash in the
history just before a new one is stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container
from typing import Protocol

import sqlalchemy as sa

from passgate.accounts.model import InvalidPassword
from passgate.domain.connection_options import ConnectionRules, rules_of
from passgate.domain.models import Connection, User
from passgate.domain.password_policy import holds_personal_info, in_dictionary, personal_values
from passgate.storage.connections import PasswordHistory
from passgate.support.common_passwords import common_passwords

__all__ = ["ConnectionPasswords", "HistoryStore", "PersonalInfo", "connection_passwords"]


class HistoryStore(Protocol):
    """:class:`~passgate.storage.connections.PasswordHistory`."""

    def recent(self, user_id: str, count: int) -> list[str]: ...

    def keep_current(self, user_id: str, size: int, *, now: float | None = None) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class PersonalInfo:
    """What the account says about its owner (a password may not hold it)."""

    email: str | None = None
    username: str | None = None
    names: tuple[str | None, ...] = ()

    @classmethod
    def of(cls, user: User) -> PersonalInfo:
        profile = user.profile
        names = (user.name, profile.given_name, profile.family_name, profile.nickname)
        return cls(email=user.email, username=user.username, names=names)


class ConnectionPasswords:
    def __init__(
        self,
        *,
        history: HistoryStore,
        verify: Callable[[str, str], bool],
        common: Callable[[], Container[str]],
    ) -> None:
        self._history = history
        self._verify = verify
        self._common = common

    def check(
        self,
        connection: Connection,
        password: str,
        info: PersonalInfo,
        *,
        user: User | None = None,
    ) -> None:
        """Raise :class:`InvalidPassword` when ``connection`` refuses ``password`` for
        the account ``info`` describes (``user``: an existing one, whose history counts)."""
        rules = rules_of(connection.options)
        self._strength(rules, password)
        if rules.dictionary and in_dictionary(password, self._common(), rules.words):
            raise InvalidPassword.of_kind("PasswordDictionaryError", rules.strength)
        if rules.no_personal_info:
            values = personal_values(email=info.email, username=info.username, names=info.names)
            if holds_personal_info(password, values):
                raise InvalidPassword.of_kind("PasswordNoUserInfoError", rules.strength)
        if user is not None and rules.history_size:
            for stored in self._history.recent(user.id, rules.history_size):
                if self._verify(stored, password):
                    raise InvalidPassword.of_kind("PasswordHistoryError", rules.strength)

    @staticmethod
    def _strength(rules: ConnectionRules, password: str) -> None:
        failed = rules.strength.failed(password)
        if failed:
            raise InvalidPassword(
                rules.strength,
                rules.strength.rules(password),
                rules.strength.describe_failure(failed),
            )

    def before_change(self, connection: Connection, user: User) -> None:
        """Keep the password being replaced in the history (or forget the history when
        the connection keeps none)."""
        self._history.keep_current(user.id, rules_of(connection.options).history_size)


def connection_passwords(
    engine: sa.Engine, verify: Callable[[str, str], bool]
) -> ConnectionPasswords:
    """The rules with the database's history and the built-in dictionary."""
    return ConnectionPasswords(
        history=PasswordHistory(engine), verify=verify, common=common_passwords
    )
