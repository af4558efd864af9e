"""What every ``passgate`` command shares: settings, the stores, output, passwords, errors.

Commands work directly on the configured database through the stores; they build no
:class:`~passgate.app.Passgate` (no thread pools, no buffered event sink), so nothing runs
in the background of a CLI process. Every refusal becomes a :class:`click.ClickException`:
a message on stderr and exit code 1 (2 for a value that cannot be stored, like any bad
option value, and for refused settings), never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import sqlalchemy as sa

from passgate.errors import ConfigurationError, PassgateError
from passgate.passwords import PasswordHasher
from passgate.settings import Settings
from passgate.storage.applications import Applications
from passgate.storage.directory import Directory
from passgate.storage.event_log import EventLog
from passgate.storage.limits import ValueTooLong
from passgate.storage.models import Api, Client, User
from passgate.storage.tenant import TenantStore

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "BadValue",
    "ConfigurationFailure",
    "Stores",
    "api_json",
    "client_json",
    "emit",
    "fields",
    "iso_time",
    "json_option",
    "load_settings",
    "open_stores",
    "read_new_password",
    "refusals",
    "table",
    "user_json",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The token endpoint refuses longer passwords, so an account with one could never log in.
MAX_PASSWORD_LENGTH = 4096


def load_settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.ClickException(f"invalid settings: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class Stores:
    """The configured database's stores, for one command."""

    settings: Settings
    engine: sa.Engine
    tenant: TenantStore
    directory: Directory
    applications: Applications
    events: EventLog

    def hasher(self) -> PasswordHasher:
        """Hashes with the configured argon2 parameters (the ones logins check against)."""
        return PasswordHasher(
            memory_kib=self.settings.argon2_memory_kib,
            time_cost=self.settings.argon2_time_cost,
            parallelism=self.settings.argon2_parallelism,
        )


class BadValue(click.ClickException):
    """A value given on the command line that cannot be stored (too long for its column,
    not UTF-8 text): one line on stderr and exit code 2, as click answers any bad option
    value."""

    exit_code = 2


class ConfigurationFailure(click.ClickException):
    """Settings that passgate cannot run with: one line on stderr, exit code 2."""

    exit_code = 2


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Render passgate's refusals (invalid values, duplicates, storage faults) for a human."""
    try:
        yield
    except ValueTooLong as exc:
        raise BadValue(str(exc)) from exc
    except UnicodeEncodeError as exc:
        # Bytes of an argument that are not UTF-8 reach Python as lone surrogates, which
        # no database driver encodes. The value is not shown: it could be anything.
        raise BadValue("a value given is not valid UTF-8 text") from exc
    except ConfigurationError as exc:
        raise ConfigurationFailure(str(exc)) from None
    except PassgateError as exc:
        raise click.ClickException(str(exc)) from exc
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"database error: {exc.orig}") from exc


@contextlib.contextmanager
def open_stores(settings: Settings | None = None) -> Iterator[Stores]:
    """The configured database, migrated, with the default connection present."""
    from passgate.app import open_database

    settings = settings if settings is not None else load_settings()
    with refusals():
        engine = open_database(settings)
        try:
            tenant = TenantStore(engine)
            yield Stores(
                settings=settings,
                engine=engine,
                tenant=tenant,
                directory=Directory(engine),
                applications=Applications(engine, tenant.digest_key()),
                events=EventLog(engine),
            )
        finally:
            engine.dispose()


# -- output ------------------------------------------------------------------------


def json_option(fn: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document (for scripts)."
    )(fn)


def emit(as_json: bool, document: Any, text: str | Callable[[], str]) -> None:
    """Print ``document`` as JSON, or the readable ``text``."""
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo(text() if callable(text) else text)


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str) -> str:
    if not rows:
        return empty
    cells = [[("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def fields(pairs: Sequence[tuple[str, object]]) -> str:
    """``name: value`` lines, the values aligned."""
    width = max(len(name) for name, _ in pairs) + 2
    return "\n".join(f"{name + ':':<{width}}{value}" for name, value in pairs)


def client_json(client: Client) -> dict[str, Any]:
    """A client's settings: never its secret, nor the secret's digest."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "app_type": client.app_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "is_token_endpoint_ip_header_trusted": client.is_token_endpoint_ip_header_trusted,
        "created_at": iso_time(client.created_at),
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "email": user.email,
        "username": user.username,
        "name": user.name,
        "given_name": user.profile.given_name,
        "family_name": user.profile.family_name,
        "nickname": user.profile.nickname,
        "picture": user.profile.picture,
        "user_metadata": dict(user.profile.user_metadata),
        "email_verified": user.email_verified,
        "connection": user.connection,
        "blocked": user.blocked,
        "password_leaked": user.password_leaked,
        "created_at": iso_time(user.created_at),
        "updated_at": iso_time(user.updated_at),
    }


def api_json(api: Api) -> dict[str, Any]:
    return {
        "id": api.id,
        "identifier": api.identifier,
        "name": api.name,
        "scopes": list(api.scopes),
        "token_lifetime": api.token_lifetime,
        "allow_offline_access": api.allow_offline_access,
        "signing_alg": api.signing_alg,
    }


# -- passwords ---------------------------------------------------------------------


def read_new_password(from_stdin: bool) -> str:
    """A new password from stdin (one line) or a hidden prompt with confirmation.

    Never from the command line, where other users and shell histories would see it.
    """
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, err=True, type=str
        )
    if not password:
        raise click.ClickException("the password must not be empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise click.ClickException(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


MAX_EMAIL = 320


def check_email(email: str, *, suffix: str = "") -> None:
    """Refuse what cannot be an email address (a plain check, not RFC 5322)."""
    local, at, domain = email.rpartition("@")
    if not (at and local and domain) or len(email) > MAX_EMAIL or any(c.isspace() for c in email):
        raise click.ClickException(f"not an email address: {email!r}{suffix}")
