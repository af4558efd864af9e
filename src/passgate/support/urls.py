"""Checks of the URLs that settings name (database, Redis, SMTP), shared by the settings
model, which refuses a bad one at start, and the adapters that use them.

No error repeats a URL: it may hold a password.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa
from redis.connection import parse_url

from passgate.errors import ConfigurationError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SmtpTarget",
    "check_database_url",
    "check_redis_url",
    "check_smtp_url",
    "normalise_database_url",
    "parse_smtp_url",
    "sqlite_url",
]

#: SMTP timeout unless the URL says ``?timeout=S``.
DEFAULT_TIMEOUT_S = 10.0
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


# -- databases ---------------------------------------------------------------------------


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'passgate.db').resolve()}"


def normalise_database_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def check_database_url(url: str) -> None:
    """Refuse a URL that :func:`make_engine` cannot use: not a URL, a scheme other than
    PostgreSQL (psycopg) or SQLite, an SQLite URL without a file. The ``ValueError`` never
    repeats the URL (it may hold a password)."""
    scheme = url.partition("://")[0]
    try:
        parsed = sa.engine.make_url(normalise_database_url(url))
        parsed.port  # noqa: B018 - make_url leaves a malformed port to this
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise ValueError("not a database URL") from None
    if parsed.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        shown = f" {scheme!r}" if _SCHEME.fullmatch(scheme) and len(scheme) <= 32 else ""
        raise ValueError(f"unsupported database scheme{shown}")
    if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise ValueError("an SQLite URL needs a file: sqlite:///PATH")


# -- Redis -------------------------------------------------------------------------------


def check_redis_url(url: str) -> None:
    """Refuse a URL that :meth:`RedisCounters.from_url` cannot use (a scheme other than
    ``redis``, ``rediss`` or ``unix``, no host, a malformed port, database number or
    option). The ``ValueError`` never repeats the URL (it may hold a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("malformed host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError("not a redis://, rediss:// or unix:// URL")
    if scheme == "unix" and not parts.path:
        raise ValueError("a unix:// URL needs the socket's path")
    if scheme != "unix" and not parts.hostname:
        raise ValueError("the URL has no host")
    database = parts.path.lstrip("/")
    if scheme != "unix" and database and not database.isdigit():
        raise ValueError("the path must be a database number, e.g. /0")
    try:
        parse_url(url)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        raise ValueError("malformed option in the query string") from None


# -- SMTP --------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name, [])
    if not values:
        return False
    value = values[-1].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"SMTP URL: {name} must be true or false")


@dataclasses.dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    timeout: float
    username: str | None
    password: str | None = dataclasses.field(repr=False)

    @property
    def display(self) -> str:
        """The URL without its credentials, for messages."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def check_smtp_url(url: str) -> None:
    """Refuse what :class:`SmtpMailer` would refuse; the ``ValueError`` never repeats the
    URL (it may hold a password)."""
    try:
        parse_smtp_url(url)
    except ConfigurationError as exc:
        raise ValueError(str(exc).removeprefix("SMTP URL: ").removeprefix("SMTP URL ")) from None


def parse_smtp_url(url: str) -> SmtpTarget:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError("SMTP URL: malformed host or port") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigurationError("SMTP URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigurationError("SMTP URL: a host is needed")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"starttls", "timeout"})
    if unknown:
        raise ConfigurationError(f"SMTP URL: unknown option {unknown[0]!r}")
    implicit_tls = scheme == "smtps"
    starttls = _flag(query, "starttls")
    if implicit_tls and starttls:
        raise ConfigurationError("SMTP URL: smtps:// already uses TLS; drop starttls")
    timeout = DEFAULT_TIMEOUT_S
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError as exc:
            raise ConfigurationError("SMTP URL: timeout must be a number of seconds") from exc
        if not 0 < timeout <= 300:
            raise ConfigurationError("SMTP URL: timeout must be between 0 and 300 seconds")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ConfigurationError("SMTP URL: a password needs a user name")
    if username and not (implicit_tls or starttls) and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            "SMTP URL: refusing to send credentials in clear text; "
            "use smtps:// or add ?starttls=true"
        )
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls,
        timeout=timeout,
        username=username,
        password=password,
    )
