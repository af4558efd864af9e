"""What every ``passgate`` command shares: settings, the stores, output, passwords, errors.

Commands work directly on the configured database through the stores; they build no
:class:`~passgate.app.Passgate` (no thread pools, no buffered event sink), so nothing runs
in the background of a CLI process. Every refusal becomes a :class:`click.ClickException`:
a message on stderr and exit code 1, never a traceback. A value that cannot be stored
(:class:`BadValue`, like any bad option value), refused settings, and a database that read
commands would have to create exit with status 2 (:class:`SettingsRefused`).

Every command that opens the database first says on stderr which one
(``passgate: data directory …`` or ``passgate: database postgresql://user:***@host/db``:
never a password). Commands that only read (``… list``, ``… show``, ``logs``, ``doctor``)
refuse an SQLite database that does not exist rather than create an empty one (a run
outside the data directory would otherwise show nothing, silently); the others create it
and say so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlalchemy as sa

from passgate.domain.models import Api, Client, User
from passgate.errors import ConfigurationError, ManagementError, PassgateError
from passgate.keys.issuer import ISSUER_KEY, tenant_issuer
from passgate.management.applications import ApplicationsAdmin, applications_admin
from passgate.management.client_grants import ClientGrantsService
from passgate.settings import Settings, read_settings
from passgate.storage.applications import Applications
from passgate.storage.client_grants import ClientGrants
from passgate.storage.directory import Directory
from passgate.storage.event_log import EventLog
from passgate.storage.limits import ValueTooLong
from passgate.storage.tenant import TenantStore
from passgate.support.passwords import PasswordHasher

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "READ_COMMANDS",
    "BadValue",
    "SettingsRefused",
    "Stores",
    "api_json",
    "client_json",
    "emit",
    "fields",
    "iso_time",
    "json_option",
    "load_settings",
    "open_stores",
    "plural",
    "read_new_password",
    "refusals",
    "say_where",
    "sqlite_file",
    "table",
    "user_json",
    "where",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The token endpoint refuses longer passwords, so an account with one could never log in.
MAX_PASSWORD_LENGTH = 4096


#: Names of the commands that only read: they never create a database.
READ_COMMANDS = frozenset({"list", "show", "logs", "doctor", "dashboard", "export"})


class SettingsRefused(click.ClickException):
    """Refused settings (one line per ``PASSGATE_…`` variable), or a database that does
    not exist: exit status 2, as for a usage error."""

    exit_code = 2


def load_settings() -> Settings:
    """This process's settings, or exit 2 with one line per refused variable."""
    try:
        return read_settings()
    except ConfigurationError as exc:
        raise SettingsRefused(str(exc)) from None


@dataclasses.dataclass(frozen=True)
class Stores:
    """The configured database's stores, for one command."""

    settings: Settings
    engine: sa.Engine
    tenant: TenantStore
    directory: Directory
    applications: Applications
    events: EventLog

    def client_grants(self) -> ClientGrantsService:
        """The client grants, with the Management API present once the issuer is fixed
        (a server's start makes it; a command run before the upgraded server starts too)."""
        issuer = self.tenant.get(ISSUER_KEY)
        if issuer is None and self.settings.issuer is not None:
            # PASSGATE_ISSUER fixes it as the first start would.
            configured = self.settings.issuer
            issuer, _ = tenant_issuer(self.tenant, configured=configured, first_address=configured)
        if issuer:
            self.applications.ensure_management_api(str(issuer))
        return ClientGrantsService(applications=self.applications, grants=ClientGrants(self.engine))

    def admin(self) -> ApplicationsAdmin:
        """The clients' and APIs' services (the Management API's; running servers see a
        change within their records' cache time, 2 seconds)."""
        return applications_admin(self.applications)

    def hasher(self) -> PasswordHasher:
        """Hashes with the configured argon2 parameters (the ones logins check against)."""
        return PasswordHasher(
            memory_kib=self.settings.argon2_memory_kib,
            time_cost=self.settings.argon2_time_cost,
            parallelism=self.settings.argon2_parallelism,
        )


class BadValue(click.ClickException):
    """A value given on the command line that cannot be stored (too long for its column,
    not UTF-8 text) or that a Management API service refuses (it names no client, a scope
    the API does not define): one line on stderr and exit code 2, as click answers any
    bad option value."""

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
        raise SettingsRefused(str(exc)) from None
    except ManagementError as exc:  # refused input or a missing object, as the API says
        raise BadValue(exc.message) from None
    except PassgateError as exc:
        raise click.ClickException(str(exc)) from exc
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"database error: {exc.orig}") from exc


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file of ``settings`` (None on PostgreSQL)."""
    if not settings.uses_sqlite:
        return None
    database = sa.engine.make_url(settings.sql_url).database
    return Path(database).resolve() if database else None


def _database_name(settings: Settings) -> str:
    """The database URL without password or options (options may hold a password too)."""
    url = sa.engine.make_url(settings.sql_url)
    return url.set(query={}).render_as_string(hide_password=True)


def say_where(settings: Settings, *, created: bool = False) -> None:
    """Tell (on stderr) which data directory or database this command works on."""
    click.echo(f"passgate: {where(settings, created=created)}", err=True)


def where(settings: Settings, *, created: bool = False) -> str:
    """Which data directory or database this command works on, in words."""
    if settings.database_url is not None and not settings.uses_sqlite:
        return f"database {_database_name(settings)}"
    database = sqlite_file(settings)
    default = database is not None and database.parent == settings.data_dir.resolve()
    where_ = (
        f"data directory {settings.data_dir.resolve()}"
        if default or database is None
        else f"database {database}"
    )
    note = " (created a new, empty database)" if created else ""
    return f"{where_}{note}"


def _missing_database(settings: Settings, database: Path) -> str:
    if settings.database_url is not None:
        named_by = "PASSGATE_DATABASE_URL"
    elif "PASSGATE_DATA_DIR" in {name.upper() for name in os.environ}:
        named_by = f"PASSGATE_DATA_DIR={settings.data_dir}"
    else:
        named_by = f"PASSGATE_DATA_DIR is not set: {settings.data_dir} in {Path.cwd()}"
    return (
        f"no passgate database at {database} ({named_by}); run this where the data "
        "directory is, set PASSGATE_DATA_DIR, or create a database with `passgate migrate`"
    )


def _only_reads() -> bool:
    context = click.get_current_context(silent=True)
    return context is not None and context.info_name in READ_COMMANDS


@contextlib.contextmanager
def open_stores(
    settings: Settings | None = None, *, create: bool | None = None
) -> Iterator[Stores]:
    """The configured database, migrated, with the default connection present.

    A missing SQLite database is created when ``create`` is true, and refused (exit 2)
    when it is false; by default only read commands (:data:`READ_COMMANDS`) refuse it.
    """
    from passgate.storage.setup import open_database

    settings = settings if settings is not None else load_settings()
    database = sqlite_file(settings)
    if create is None:
        create = not _only_reads()
    missing = database is not None and not database.exists()
    if database is not None and missing and not create:
        raise SettingsRefused(_missing_database(settings, database))
    say_where(settings, created=missing)
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


def plural(count: int, one: str, many: str) -> str:
    """``1 entry``, ``2 entries``, ``12,345 entries``."""
    return f"{count:,} {one if count == 1 else many}"


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
        "is_system": api.is_system,
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
