"""``passgate users …``: the users of the database connections.

Passwords are read from stdin (``--password-stdin``) or a hidden prompt, never from the
command line, and stored as argon2id hashes made with the configured parameters. The
breached-password policy applies to them as to a sign-up (``create``) or a password change
(``set-password``): see :func:`_breached_stage`.

Creating and changing users goes through the Management API's service
(:class:`~passgate.management.users.UsersService`): the same checks of every value, the
same duplicate checks, the same release of brute-force blocks on a new password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator

import click

from passgate.accounts.password_rules import ConnectionPasswords
from passgate.breached.checker import BreachedChecker
from passgate.breached.errors import BreachedError
from passgate.cli.protection import configured_counters
from passgate.cli.support import (
    BadValue,
    Stores,
    emit,
    fields,
    json_option,
    open_stores,
    read_new_password,
    table,
    user_json,
)
from passgate.domain.clock import system_clock
from passgate.domain.events import Event
from passgate.domain.models import User
from passgate.errors import InvalidValue, ManagementError
from passgate.management.user_fields import NewUser, UserChange
from passgate.management.users import Actor, UsersService
from passgate.protection.unblock import BlockReleases, ReleasedBy
from passgate.storage.connections import PasswordHistory
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.settings_store import SettingsStore
from passgate.storage.user_search import UserSearches
from passgate.support.common_passwords import common_passwords

__all__ = ["users"]

_USER_HEADERS = ("USER_ID", "EMAIL", "USERNAME", "CONNECTION", "VERIFIED", "BLOCKED")
#: ``details.requested_by`` of the breached-password events these commands write.
REQUESTED_BY = "administrator (cli)"
_BY = Actor(REQUESTED_BY)

password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)


def _user_row(user: User) -> tuple[str, str, str | None, str, str, str]:
    return (
        user.id,
        user.email,
        user.username,
        user.connection,
        "yes" if user.email_verified else "no",
        "yes" if user.blocked else "no",
    )


def _user_text(user: User) -> str:
    return table(_USER_HEADERS, [_user_row(user)], empty="")


def _printable(value: object) -> str:
    """``value`` for a terminal: ``-`` for none, JSON for an object, and every character
    that is not printable (escape sequences, newlines, bidi controls) escaped."""
    if value is None:
        return "-"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _user_details(user: User) -> str:
    return fields([(name, _printable(value)) for name, value in user_json(user).items()])


def _find_user(stores: Stores, user: str, connection: str | None) -> User:
    """By user id, or by email (in ``connection`` when given; refused when ambiguous)."""
    found = stores.directory.get_user(user)
    if found is not None and connection in (None, found.connection):
        return found
    names = (
        [connection]
        if connection is not None
        else [c.name for c in stores.directory.list_connections()]
    )
    matches = [
        match for name in names if (match := stores.directory.find_by_email(name, user)) is not None
    ]
    if not matches:
        where = f" in connection {connection!r}" if connection else ""
        raise click.ClickException(f"no user with id or email {user!r}{where}")
    if len(matches) > 1:
        raise click.ClickException(
            f"{len(matches)} users have the email {user!r} (connections "
            f"{', '.join(m.connection for m in matches)}); choose one with --connection"
        )
    return matches[0]


def _breached_stage(
    stores: Stores, password: str, *, email: str, connection: str, user: User | None = None
) -> None:
    """The breached-password policy's pre-user-registration stage (``user`` None) or
    pre-change-password stage (``user`` given), before anything is written.

    A breached password writes a ``signup_pwd_leak`` / ``reset_pwd_leak`` event, then is
    refused when the stage has the ``block`` shield, and otherwise only warned about on
    stderr. No administrator notification goes out: the administrator is at the terminal.
    """
    policy = SettingsStore(stores.engine).get_breached_password()
    if not policy.enabled:
        return
    if user is None:
        kind, stage = "signup_pwd_leak", "pre-user-registration"
        shields = policy.pre_user_registration_shields
    else:
        kind, stage = "reset_pwd_leak", "pre-change-password"
        shields = policy.pre_change_password_shields
    try:
        checker = BreachedChecker.from_settings(stores.settings)
        try:
            result = checker.check(password)
        finally:
            checker.close()
    except BreachedError as exc:
        raise click.ClickException(f"cannot check the password for breaches: {exc}") from exc
    if not result.breached:
        return
    blocked = "block" in shields
    stores.events.emit(
        Event(
            type=kind,
            date=system_clock(),
            connection=connection,
            user_id=user.id if user is not None else None,
            user_name=email,
            details={
                "stage": stage,
                "action": "blocked" if blocked else "allowed",
                "shields": list(shields),
                "source": result.source,
                "requested_by": REQUESTED_BY,
            },
        )
    )
    if blocked:
        raise click.ClickException(
            "this password is in the breached-password corpus; choose another "
            f"(breached password detection blocks it at the {stage} stage)"
        )
    click.echo(
        "warning: this password is in the breached-password corpus (the policy only "
        f"reports it at the {stage} stage)",
        err=True,
    )


class _CliPasswordRules:
    """The service's password rules from the command line: breached password detection's
    stages (:func:`_breached_stage`); the connection's own rules are the service's."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores

    def check(
        self, password: str, *, email: str, connection: str, user: User | None, by: Actor
    ) -> None:
        _breached_stage(self._stores, password, email=email, connection=connection, user=user)


class _CliReleases:
    """Releases an account's brute-force blocks in the configured counters, opened only
    when a password changes."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores

    def release_account(self, user: User, by: ReleasedBy) -> int:
        stores = self._stores
        with configured_counters(stores.settings, stores.engine) as counters:
            return BlockReleases(
                counters=counters,
                directory=stores.directory,
                policies=SettingsStore(stores.engine),
                events=stores.events,
                clock=system_clock,
            ).release_account(user, by)


def _service(stores: Stores) -> UsersService:
    """The Management API's users service, on this command's stores (the connection's
    password rules and history apply as over HTTP)."""
    hasher = stores.hasher()
    return UsersService(
        directory=stores.directory,
        searches=UserSearches(stores.engine),
        rules=_CliPasswordRules(stores),
        hash_password=hasher.hash,
        releases=_CliReleases(stores),
        clock=system_clock,
        passwords=ConnectionPasswords(
            history=PasswordHistory(stores.engine), verify=hasher.verify, common=common_passwords
        ),
    )


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    """The service's refusals: a value that cannot be stored (too long, not UTF-8 text)
    exits 2 like any bad option value; the others (taken, malformed, unknown) exit 1."""
    try:
        yield
    except ManagementError as exc:
        if isinstance(exc.__cause__, InvalidValue):
            raise BadValue(exc.message) from None
        raise click.ClickException(exc.message) from None


connection_choice = click.option(
    "--connection",
    default=None,
    help="The user's connection, when the email is used in several.",
)


@click.group()
def users() -> None:
    """Users of the database connections."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--username", default=None, help="Optional; users can log in with it too.")
@click.option("--connection", default=DEFAULT_CONNECTION, show_default=True)
@click.option("--name", default=None, help="Full name.")
@click.option("--email-verified", is_flag=True, help="Mark the email address as verified.")
@password_stdin_option
@json_option
def create_user(
    email: str,
    username: str | None,
    connection: str,
    name: str | None,
    email_verified: bool,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Create a user; the password comes from stdin or a hidden prompt.

    A breached password is refused when breached password detection blocks it at the
    pre-user-registration stage (the default).
    """
    new = NewUser(
        connection=connection,
        email=email,
        username=username,
        name=name,
        email_verified=email_verified,
    )
    with open_stores() as stores:
        service = _service(stores)
        with _refused():  # checked before asking for the password
            service.check_new(new)
        password = read_new_password(password_stdin)
        with _refused():
            user = service.create(dataclasses.replace(new, password=password), _BY)
    emit(as_json, user_json(user), lambda: _user_text(user))


@users.command("list")
@click.option("--connection", default=None, help="Only this connection's users.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def list_users(connection: str | None, limit: int, as_json: bool) -> None:
    """List users, oldest first."""
    with open_stores() as stores:
        if connection is not None and stores.directory.connection_by_name(connection) is None:
            raise click.ClickException(f"no database connection named {connection!r}")
        found = stores.directory.list_users(connection=connection, limit=limit)
    emit(
        as_json,
        [user_json(u) for u in found],
        lambda: table(_USER_HEADERS, [_user_row(u) for u in found], empty="no users"),
    )


@users.command("show")
@click.argument("user")
@connection_choice
@json_option
def show_user(user: str, connection: str | None, as_json: bool) -> None:
    """Show USER (a user id or an email address) with the profile given at sign-up."""
    with open_stores() as stores:
        found = _find_user(stores, user, connection)
    emit(as_json, user_json(found), lambda: _user_details(found))


@users.command("set-password")
@click.argument("user")
@connection_choice
@password_stdin_option
@json_option
def set_password(user: str, connection: str | None, password_stdin: bool, as_json: bool) -> None:
    """Set the password of USER (a user id or an email address).

    A new password also lifts a breached-password block and releases the account's
    brute-force blocks (event ``ublkdu``), as a password change by the user does. A breached
    one is refused when breached password detection blocks it at the pre-change-password
    stage (the default).
    """
    with open_stores() as stores:
        found = _find_user(stores, user, connection)
        password = read_new_password(password_stdin)
        with _refused():
            updated = _service(stores).update(found.id, UserChange(password=password), _BY)
    emit(
        as_json,
        user_json(updated),
        f"new password set for {updated.email} ({updated.id})",
    )


def _set_blocked(user: str, connection: str | None, blocked: bool, as_json: bool) -> None:
    with open_stores() as stores:
        found = _find_user(stores, user, connection)
        with _refused():
            updated = _service(stores).update(
                found.id, UserChange(values={"blocked": blocked}), _BY
            )
    state = "blocked" if blocked else "unblocked"
    emit(as_json, user_json(updated), f"{state} {updated.email} ({updated.id})")


@users.command("block")
@click.argument("user")
@connection_choice
@json_option
def block(user: str, connection: str | None, as_json: bool) -> None:
    """Block USER (id or email): logins answer 401 "user is blocked", refreshes 403."""
    _set_blocked(user, connection, True, as_json)


@users.command("unblock")
@click.argument("user")
@connection_choice
@json_option
def unblock(user: str, connection: str | None, as_json: bool) -> None:
    """Lift an administrator's block of USER (id or email); brute-force blocks are separate."""
    _set_blocked(user, connection, False, as_json)
