"""``passgate admins create|list|remove|set-password``: administrators of the console.

Administrators log in at ``/admin`` on a running server. They are not end users: their
own table, their own roles (``admin`` changes things, ``viewer`` reads everything and
changes nothing). Passwords come from stdin (``--password-stdin``) or a hidden prompt,
never from the command line; they must pass the password policy and must not be in the
breached-password corpus.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from passgate.breached.checker import BreachedChecker
from passgate.breached.errors import BreachedError
from passgate.cli.support import (
    Stores,
    emit,
    iso_time,
    json_option,
    open_stores,
    read_new_password,
    refusals,
    table,
)
from passgate.domain.admins import ADMIN, ROLES, Admin
from passgate.domain.clock import system_clock
from passgate.management.admins import Admins
from passgate.storage.admins import AdminStore

__all__ = ["admins"]

_HEADERS = ("ID", "EMAIL", "ROLE", "CREATED_AT", "LAST_LOGIN_AT")


def _admin_json(admin: Admin) -> dict[str, Any]:
    return {
        "id": admin.id,
        "email": admin.email,
        "role": admin.role,
        "created_at": iso_time(admin.created_at),
        "last_login_at": iso_time(admin.last_login_at),
    }


def _table(rows: list[dict[str, Any]], empty: str = "") -> str:
    return table(_HEADERS, [[row[h.lower()] for h in _HEADERS] for row in rows], empty=empty)


@contextlib.contextmanager
def _admins(stores: Stores) -> Iterator[Admins]:
    try:
        checker = BreachedChecker.from_settings(stores.settings)
    except BreachedError as exc:
        raise click.ClickException(f"cannot check passwords for breaches: {exc}") from exc
    hasher = stores.hasher()
    try:
        yield Admins(
            AdminStore(stores.engine, stores.tenant.digest_key()),
            hash_password=hasher.hash,
            breached=lambda password: checker.check(password).breached,
            clock=system_clock,
        )
    finally:
        checker.close()


@click.group()
def admins() -> None:
    """Administrators of the admin console (/admin on a running server)."""


@admins.command("create")
@click.option("--email", required=True, help="The administrator's email (the login name).")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=ADMIN,
    show_default=True,
    help="admin changes things; viewer reads everything and changes nothing.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)
@json_option
def create_admin(email: str, role: str, password_stdin: bool, as_json: bool) -> None:
    """Create an administrator who can log in to the console."""
    password = read_new_password(password_stdin)
    with open_stores() as stores, refusals(), _admins(stores) as service:
        admin = service.create(email, role, password)
    row = _admin_json(admin)
    emit(as_json, row, lambda: f"created {admin.role} {admin.email} ({admin.id})")


@admins.command("list")
@json_option
def list_admins(as_json: bool) -> None:
    """List administrators (never a password or its hash)."""
    with open_stores() as stores, refusals():
        rows = [
            _admin_json(admin)
            for admin in AdminStore(stores.engine, stores.tenant.digest_key()).all()
        ]
    emit(
        as_json,
        rows,
        lambda: _table(rows, "no administrator yet (passgate admins create --email E)"),
    )


@admins.command("remove")
@click.argument("admin")
@json_option
def remove_admin(admin: str, as_json: bool) -> None:
    """Remove the administrator ADMIN (an id or email); its sessions end at once."""
    with open_stores() as stores, refusals(), _admins(stores) as service:
        removed = service.remove(admin)
    emit(as_json, {"removed": _admin_json(removed)}, f"removed {removed.email} ({removed.id})")


@admins.command("set-password")
@click.argument("admin")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)
@json_option
def set_admin_password(admin: str, password_stdin: bool, as_json: bool) -> None:
    """Give the administrator ADMIN (an id or email) a new password; its sessions end."""
    password = read_new_password(password_stdin)
    with open_stores() as stores, refusals(), _admins(stores) as service:
        changed = service.set_password(admin, password)
    emit(as_json, _admin_json(changed), f"new password set for {changed.email}")
