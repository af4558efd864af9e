"""Users of the database connections, as the Management API's ``/users`` and
``/users-by-email`` and the ``passgate users`` commands manage them.

:class:`UsersService` creates, finds, lists, changes and deletes users. Values come in as
:mod:`passgate.management.user_fields` reads them; users go out as
:class:`~passgate.domain.models.User` records (:func:`user_json` gives Auth0's shape,
never a password or hash); refusals are :class:`~passgate.errors.ManagementError` (400,
404 ``inexistent_user``, 409).

A new password (create, or a change) passes :class:`PasswordRules` first (the password
policy and breached password detection's stage, as at sign-up and password change), is
hashed by ``hash_password`` (argon2id with the server's parameters, in the hashing pool),
and a changed one releases the account's brute-force blocks
(:meth:`~passgate.protection.unblock.BlockReleases.release_account`, event ``ublkdu``), as
``passgate users set-password`` and a password reset do. Every method is blocking.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from passgate.accounts.model import BREACHED_PASSWORD_MESSAGE, AccountContext, InvalidPassword
from passgate.accounts.password_rules import ConnectionPasswords, PersonalInfo
from passgate.breached.gate import BreachedPasswords
from passgate.domain.clock import Clock
from passgate.domain.connection_options import rules_of
from passgate.domain.login import RequestContext
from passgate.domain.models import Connection, User
from passgate.errors import BadRequest, Conflict, InvalidValue, NotFound, PasswordLeaked
from passgate.management.user_fields import NewUser, UserChange, invalid, merge_metadata
from passgate.protection.unblock import PASSWORD_CHANGE, ReleasedBy
from passgate.storage.directory import Directory, DuplicateUser, InvalidIdentifier
from passgate.storage.limits import ValueTooLong
from passgate.storage.user_search import UserSearch, UserSearches

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "Actor",
    "BreachedPasswordRules",
    "PasswordRules",
    "UsersService",
    "user_json",
]

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
#: Longer ids name no user (ours are 18 characters).
MAX_USER_ID = 64
USER_NOT_FOUND = "The user does not exist."


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who changes a user: ``name`` for ``details.requested_by`` / ``released_by``, and the
    request (IP, client, user agent) when it came over HTTP."""

    name: str
    request: RequestContext | None = None


class PasswordRules(Protocol):
    """Checks a new password before it is hashed; raises a 400 :class:`BadRequest`
    (``user`` None: a new user's)."""

    def check(
        self, password: str, *, email: str, connection: str, user: User | None, by: Actor
    ) -> None: ...


class AccountReleases(Protocol):
    """:meth:`BlockReleases.release_account`: a new password ends the account's blocks."""

    def release_account(self, user: User, by: ReleasedBy) -> int: ...


def _iso(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def user_json(user: User) -> dict[str, Any]:
    """A user in Auth0's shape: fields given, identities, metadata, state; no secret."""
    profile = user.profile
    body: dict[str, Any] = {"user_id": user.id, "email": user.email}
    body["email_verified"] = user.email_verified
    optional = {
        "username": user.username,
        "name": user.name,
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "nickname": profile.nickname,
        "picture": profile.picture,
    }
    body.update((key, value) for key, value in optional.items() if value is not None)
    body["identities"] = [
        {
            "connection": user.connection,
            "user_id": user.id.removeprefix("auth0|"),
            "provider": "auth0",
            "isSocial": False,
        }
    ]
    body["user_metadata"] = dict(profile.user_metadata)
    body["app_metadata"] = dict(user.app_metadata)
    body["blocked"] = user.blocked
    if user.password_changed_at > user.created_at:
        body["last_password_reset"] = _iso(user.password_changed_at)
    body["created_at"] = _iso(user.created_at)
    body["updated_at"] = _iso(user.updated_at)
    return body


class BreachedPasswordRules:
    """The server's :class:`PasswordRules`: breached password detection's
    pre-user-registration or pre-change-password stage (its events, notifications and
    ``block`` shield, as for the user's own request). The connection's own rules are
    :class:`UsersService`'s."""

    def __init__(self, breached: BreachedPasswords) -> None:
        self._breached = breached

    def check(
        self, password: str, *, email: str, connection: str, user: User | None, by: Actor
    ) -> None:
        request = by.request or RequestContext(ip="", client_ip="")
        context = AccountContext(request=request, connection=connection)
        try:
            if user is None:
                self._breached.check_signup(email, password, context)
            else:
                self._breached.check_password_change(user, password, context)
        except PasswordLeaked:
            raise BadRequest(BREACHED_PASSWORD_MESSAGE, code="password_leaked") from None


def password_refused(refusal: InvalidPassword) -> BadRequest:
    """A connection's refusal of a password, in the Management API's shape."""
    return BadRequest(f"{refusal.name}: {refusal.description}", code="invalid_password")


def _info(user: User, values: dict[str, Any]) -> PersonalInfo:
    """What the account will say about its owner once ``values`` are set."""
    current = PersonalInfo.of(user)
    return PersonalInfo(
        email=values.get("email", current.email),
        username=values.get("username", current.username),
        names=(
            values.get("name", user.name),
            values.get("given_name", user.profile.given_name),
            values.get("family_name", user.profile.family_name),
            values.get("nickname", user.profile.nickname),
        ),
    )


def _not_found() -> NotFound:
    return NotFound(USER_NOT_FOUND, code="inexistent_user")


def _refused_value(exc: InvalidValue, field: str | None = None) -> BadRequest:
    if isinstance(exc, ValueTooLong):
        return invalid(str(exc), exc.field)
    return invalid(str(exc), field)


class UsersService:
    def __init__(
        self,
        *,
        directory: Directory,
        searches: UserSearches,
        rules: PasswordRules,
        hash_password: Callable[[str], str],
        releases: AccountReleases,
        clock: Clock,
        passwords: ConnectionPasswords,
    ) -> None:
        self._passwords = passwords
        self._directory = directory
        self._searches = searches
        self._rules = rules
        self._hash = hash_password
        self._releases = releases
        self._clock = clock

    # -- reads ---------------------------------------------------------------------
    def get(self, user_id: str) -> User:
        user = self._directory.get_user(user_id) if len(user_id) <= MAX_USER_ID else None
        if user is None:
            raise _not_found()
        return user

    def by_email(self, email: str) -> list[User]:
        """Every user with this email, in any spelling (Auth0 compares case-insensitively)."""
        return self._directory.users_by_email(email)

    def search(
        self, search: UserSearch, *, page: int = 0, per_page: int = DEFAULT_PER_PAGE
    ) -> tuple[Sequence[User], int]:
        """One page of what ``search`` finds and where it starts."""
        start = page * per_page
        return self._searches.page(search, offset=start, limit=per_page), start

    def count(self, search: UserSearch) -> int:
        return self._searches.count(search)

    def list_page(
        self, search: UserSearch, *, page: int, per_page: int, include_totals: bool
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """Auth0's ``GET /users`` answer: a bare array, or with ``include_totals``
        ``{start, limit, length, total, users}``."""
        found, start = self.search(search, page=page, per_page=per_page)
        users = [user_json(user) for user in found]
        if not include_totals:
            return users
        total = self.count(search)
        return {
            "start": start,
            "limit": per_page,
            "length": len(users),
            "total": total,
            "users": users,
        }

    # -- changes -------------------------------------------------------------------
    def check_new(self, new: NewUser) -> Connection:
        """Everything :meth:`create` checks before the password: the values, the
        connection (its username rules), and that neither the email nor the username is
        taken there."""
        new.check()
        connection = self._directory.connection_by_name(new.connection)
        if connection is None:
            raise BadRequest(
                f"The connection does not exist: no database connection named "
                f"{new.connection[:100]!r}",
                code="inexistent_connection",
            )
        rules = rules_of(connection.options)
        if new.username is None and rules.requires_username:
            raise invalid("Missing required property: username (the connection requires one)")
        bounds = rules.username_bounds
        if new.username is not None and bounds and not bounds[0] <= len(new.username) <= bounds[1]:
            raise invalid(
                f"The username must be {bounds[0]} to {bounds[1]} characters long", "username"
            )
        for identifier in (new.email, new.username):
            if identifier and self._directory.find_for_login(connection.id, identifier):
                raise Conflict(
                    f"The user already exists: a user with the email or username "
                    f"{identifier[:100]!r} exists in {new.connection}",
                    code="auth0_idp_error",
                )
        return connection

    def _check_password(
        self, connection: Connection, password: str, info: PersonalInfo, user: User | None
    ) -> None:
        try:
            self._passwords.check(connection, password, info, user=user)
        except InvalidPassword as exc:
            raise password_refused(exc) from None

    def create(self, new: NewUser, by: Actor) -> User:
        """Create a user with ``new.password``: 400 for a refused value or password, 409
        when the email or username is taken in the connection."""
        if new.password is None:
            raise invalid("Missing required property: password")
        connection = self.check_new(new)
        names = (new.name, new.profile.given_name, new.profile.family_name, new.profile.nickname)
        info = PersonalInfo(email=new.email, username=new.username, names=names)
        self._check_password(connection, new.password, info, None)
        self._rules.check(
            new.password, email=new.email, connection=new.connection, user=None, by=by
        )
        password_hash = self._hash(new.password)
        try:
            return self._directory.create_user(
                connection=new.connection,
                email=new.email,
                password_hash=password_hash,
                username=new.username,
                email_verified=new.email_verified,
                name=new.name,
                profile=new.profile,
                now=self._clock(),
                blocked=new.blocked,
                app_metadata=new.app_metadata,
            )
        except DuplicateUser:
            raise Conflict("The user already exists.", code="auth0_idp_error") from None
        except InvalidValue as exc:
            raise _refused_value(exc) from exc

    def update(self, user_id: str, change: UserChange, by: Actor) -> User:
        """Apply ``change`` (see :class:`UserChange`); a new password is checked, hashed,
        and releases the account's brute-force blocks."""
        user = self.get(user_id)
        if change.connection is not None and change.connection != user.connection:
            raise BadRequest(
                f"The user is not in the connection {change.connection[:100]!r}",
                code="invalid_body",
            )
        values: dict[str, Any] = dict(change.values)
        if values.get("email", user.email) != user.email and "email_verified" not in values:
            values["email_verified"] = False  # a new address is not verified (as Auth0)
        if change.user_metadata is not None:
            values["user_metadata"] = merge_metadata(
                user.profile.user_metadata, change.user_metadata, "user_metadata"
            )
        if change.app_metadata is not None:
            values["app_metadata"] = merge_metadata(
                user.app_metadata, change.app_metadata, "app_metadata"
            )
        if change.password is not None:
            email = str(values.get("email", user.email))
            connection = self._directory.connection_by_name(user.connection)
            assert connection is not None  # a user's connection holds it
            self._check_password(connection, change.password, _info(user, values), user)
            self._rules.check(
                change.password, email=email, connection=user.connection, user=user, by=by
            )
            values["password_hash"] = self._hash(change.password)
            self._passwords.before_change(connection, user)
        if not values:
            return user
        try:
            updated = self._directory.update_user(user.id, values, now=self._clock())
        except DuplicateUser:
            raise Conflict(
                "The specified new email or username already exists in the connection.",
                code="auth0_idp_error",
            ) from None
        except (ValueTooLong, InvalidIdentifier) as exc:
            raise _refused_value(exc) from exc
        if updated is None:  # deleted meanwhile
            raise _not_found()
        if change.password is not None:
            name = f"{PASSWORD_CHANGE} ({by.name})"
            self._releases.release_account(updated, ReleasedBy(name, by.request))
        return updated

    def delete(self, user_id: str) -> None:
        """Delete a user and its refresh tokens (Auth0 answers 204 for an unknown id too;
        ours says 404, so a typo is seen)."""
        if len(user_id) > MAX_USER_ID or not self._directory.delete_user(user_id):
            raise _not_found()
