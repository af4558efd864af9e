"""One typed settings object, read from the environment (prefix ``PASSGATE_``).

Every field has a ``description``: ``docs/settings.md`` is generated from them
(``python -m passgate.settings``), and a refused value is explained with them. A
field's ``json_schema_extra`` may say what it ``expects`` (when its type does not say
enough) and its ``doc_default`` (when the default is computed on each machine).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from passgate.errors import ConfigurationError
from passgate.support import settings_doc
from passgate.support.key_encryption import KEY_FILE_NAME
from passgate.support.settings_doc import explain_settings_error
from passgate.support.urls import check_database_url, check_redis_url, check_smtp_url, sqlite_url

__all__ = ["Settings", "read_settings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["console", "json"]

_HTTP_URL = "http:// or https:// URL"


class Settings(BaseSettings):
    """Process settings. Tenant settings (issuer, protection policies) live in the database."""

    model_config = SettingsConfigDict(env_prefix="PASSGATE_", extra="ignore")

    data_dir: Path = Field(
        default=Path("passgate-data"),
        description="Directory of the embedded SQLite database, the outbox and the "
        "breached-password index; relative paths start at the working directory.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="The SQL database. Unset: SQLite in the data directory "
        "(`passgate.db`). `postgres://` is accepted for `postgresql://`.",
        json_schema_extra={
            "expects": "postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE or sqlite:///PATH",
            "doc_default": "SQLite in the data directory",
        },
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for the attack-protection counters, shared by every instance. "
        "Unset: the counters live in the SQL database.",
        json_schema_extra={"expects": "redis://[:PASSWORD@]HOST[:PORT][/DB], rediss:// or unix://"},
    )
    redis_unavailable: Literal["refuse", "fallback"] = Field(
        default="refuse",
        description="What logins do when Redis cannot be reached: `refuse` them (503), or "
        "`fallback` to the SQL database for the attack-protection counters.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies in front of passgate whose `X-Forwarded-For` is "
        "believed (the first untrusted hop from the right is the connecting IP).",
        json_schema_extra={"expects": "comma-separated IP addresses or CIDR networks"},
    )
    key_encryption_key: SecretStr | None = Field(
        default=None,
        description=(
            "The key that encrypts the signing keys stored in the database: 32 random bytes, "
            "base64url-encoded (43 characters, e.g. from `python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`). Several, comma-separated, during a "
            "rotation: the first encrypts, every one decrypts. Unset: the key file "
            "`key-encryption-key` in the data directory, created (mode 0600) at the first "
            "start of the embedded SQLite default; required with PostgreSQL, the same on "
            "every instance."
        ),
        json_schema_extra={
            "expects": "32 random bytes, base64url-encoded (several comma-separated)",
            "doc_default": "the key file in the data directory",
        },
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="SMTP server for email (unblock and reset links, administrator alerts). "
        "Unset: each message is written to the `outbox` folder of the data directory.",
        json_schema_extra={
            "expects": "smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=true][&timeout=S] "
            "or smtps://…",
            "doc_default": "the outbox folder",
        },
    )
    mail_from: str = Field(
        default="passgate@localhost",
        description="The `From` address of every email passgate sends.",
        json_schema_extra={"expects": "an email address, optionally `Name <address>`"},
    )
    public_url: str | None = Field(
        default=None,
        description="Public base URL of the links in emails (unblock, password reset); "
        "defaults to the issuer.",
        json_schema_extra={"expects": _HTTP_URL, "doc_default": "the issuer"},
    )
    issuer: str | None = Field(
        default=None,
        description="The `iss` of every token and the base of the discovery document: "
        "fixed in the database by the first start (from this, or the first serving "
        "address); a later start with another value is refused; change it with "
        "`passgate issuer set URL`.",
        json_schema_extra={
            "expects": f"{_HTTP_URL} without query or fragment",
            "doc_default": "the first `http://HOST:PORT/` of `passgate serve` (`https://` "
            "with TLS)",
        },
    )
    tls_cert: Path | None = Field(
        default=None,
        description="Serve https: the PEM certificate file (the server's certificate "
        "first, then any intermediates), with `PASSGATE_TLS_KEY`; the `--tls-cert` of "
        "`passgate serve` and `quickstart` overrides it. Unset: plain http (behind a proxy "
        "that ends TLS).",
        json_schema_extra={"expects": "a PEM certificate file", "doc_default": "plain http"},
    )
    tls_key: Path | None = Field(
        default=None,
        description="The unencrypted PEM private key of `PASSGATE_TLS_CERT`'s certificate; "
        "`--tls-key` overrides it.",
        json_schema_extra={"expects": "a PEM private key file"},
    )
    hash_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=64,
        description="Threads verifying passwords. With several worker processes each has "
        "this many, and together they hash at most this many at once.",
        json_schema_extra={"doc_default": "the number of CPU cores"},
    )
    hash_slots_id: int | None = Field(
        default=None,
        ge=0,
        description="Set by `passgate serve --workers N` for its workers: the System V "
        "semaphore that bounds their hashing together. Not set by hand.",
    )
    argon2_memory_kib: int = Field(
        default=19456,
        ge=8,
        le=4 * 1024 * 1024,
        description="argon2id memory cost of new password hashes (KiB); older hashes are "
        "upgraded at the next successful login.",
    )
    argon2_time_cost: int = Field(
        default=2, ge=1, le=100, description="argon2id time cost (iterations) of new hashes."
    )
    argon2_parallelism: int = Field(
        default=1, ge=1, le=16, description="argon2id parallelism (lanes) of new hashes."
    )
    max_body_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Request bodies larger than this are answered 413.",
    )
    users_import_max_bytes: int = Field(
        default=500 * 1024,
        ge=1024,
        le=4 * 1024 * 1024 * 1024,
        description="The largest users file `POST /api/v2/jobs/users-imports` takes (Auth0's "
        "limit, 500 KB, by default); a larger upload is answered 413. `passgate users import` "
        "has no limit.",
    )
    breached_index: Path | None = Field(
        default=None,
        description="The breached-password index file that `passgate breached import` "
        "writes and logins read.",
        json_schema_extra={"doc_default": "`breached.idx` in the data directory"},
    )
    breached_range_enabled: bool = Field(
        default=False,
        description="Serve `GET /range/{prefix}` (Pwned Passwords range answers) from the "
        "index; needs an index imported with `--with-range`.",
    )
    breached_range_url: str | None = Field(
        default=None,
        description="An upstream Pwned-Passwords-compatible range API, asked when the local "
        "index does not know a password, e.g. `https://host/range/`.",
        json_schema_extra={"expects": _HTTP_URL},
    )
    breached_range_timeout: float = Field(
        default=2.0, gt=0, le=60, description="Seconds to wait for the upstream range API."
    )
    breached_upstream_unavailable: Literal["refuse", "allow"] = Field(
        default="allow",
        description="What a login does when the upstream range API cannot be reached.",
    )
    login_rate_limit: bool = Field(
        default=True,
        description="Auth0's per-user per-IP login rate limit (event `limit_sul`): 20 "
        "logins, then 1 every 3 s.",
    )
    server_timing: bool = Field(
        default=False,
        description="Send a `Server-Timing` header (verify, total) on token responses; for "
        "benchmarks.",
    )
    gil_switch_interval_ms: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="Python's GIL switch interval in server processes (the interpreter's "
        "default, 5, slows logins behind a busy event loop).",
    )
    purge_interval_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="How often a server process deletes protection records that hold no "
        "state any more (full buckets, forgotten failures, expired marks), tickets "
        "expired a week ago, and events past their retention.",
    )
    events_retention_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="How many days the event log keeps an event (Auth0 keeps 30): older "
        "events are deleted by the purge that runs every purge_interval_s. 0 keeps events "
        "forever; at most 3650.",
    )
    signing_key_rotation_days: int = Field(
        default=180,
        ge=0,
        le=3650,
        description="How old the current signing keys may grow before `passgate doctor` "
        "says to rotate them (`passgate keys rotate`); passgate never rotates them by "
        "itself. 0 turns the check off.",
    )
    management_rate_limit: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="Management API calls per minute for each access token: a token's "
        "bucket holds this many calls and refills completely in a minute (one call back "
        "every 60/N seconds), shared by every worker and instance (it is kept with the "
        "attack-protection counters). Answers carry x-ratelimit-limit, "
        "x-ratelimit-remaining and x-ratelimit-reset; past the limit they are 429.",
    )
    admin_session_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=1440,
        description="The admin console logs an administrator out after this many minutes "
        "without a request (the live log tail's polling does not count).",
    )
    admin_session_max_hours: int = Field(
        default=12,
        ge=1,
        le=168,
        description="The admin console logs an administrator out this many hours after "
        "the login, active or not.",
    )
    log_level: LogLevel = Field(
        default="info", description="Level of the server's log lines (any letter case)."
    )
    log_stream_delivery: bool = Field(
        default=True,
        description="Whether this server process delivers log streams (`/api/v2/log-"
        "streams`). Several processes share the work: one delivers a stream at a time.",
    )
    log_stream_batch_size: int = Field(
        default=500,
        ge=1,
        le=10000,
        description="Most events a log stream sends in one request (JSONLINES, JSONARRAY).",
    )
    log_stream_poll_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often a server process looks for events to deliver when the "
        "streams have caught up: the most a new event waits before it is sent.",
    )
    log_stream_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a log stream's receiver has to answer a request.",
    )
    log_stream_lease_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How long a process holds a log stream without renewing its lease: "
        "another process takes a stream over this long after its deliverer died. Raised "
        "to three times log_stream_timeout_s when lower.",
    )
    log_stream_retry_max_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Longest wait between tries to a failing receiver (the wait starts at "
        "1 s and doubles).",
    )
    log_stream_suspend_after_s: float = Field(
        default=86400.0,
        ge=0,
        le=31_536_000,
        description="A stream whose receiver has failed without a break this long is "
        "suspended (resume it to deliver what it missed); 0 never suspends.",
    )
    log_format: LogFormat = Field(
        default="console",
        description="How the server writes its log lines to stderr: `json` (one JSON "
        "object a line, for log shippers) or `console` (`key=value`, for people).",
    )
    access_log: bool = Field(
        default=True,
        description="One `info` line per HTTP request (method, path without the query, "
        "status, latency, grant, outcome, ip, client_ip, request id).",
    )
    metrics: bool = Field(
        default=False,
        description="Serve Prometheus metrics at `GET /metrics` (`on`/`off`); with "
        "`passgate serve --workers N` the answer adds up every worker.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, `/metrics` answers only requests with `Authorization: "
        "Bearer <this>` (compared in constant time; 401 otherwise).",
        json_schema_extra={"expects": "at least 16 visible ASCII characters, no spaces"},
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve `/metrics` on this port of the `serve` host instead of the main "
        "one (which then answers 404 there), from the serving process itself.",
    )
    metrics_max_clients: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Client ids that get a label of their own in `passgate_events_total` "
        "(per process; later ones are counted as `other`).",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP address or CIDR: {entry!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_database_url(value.get_secret_value())
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_redis_url(value.get_secret_value())
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_smtp_url(value.get_secret_value())
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None:
            _check_http_url(value, bare=True)
        return value

    @field_validator("public_url", "breached_range_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            _check_http_url(value, bare=False)
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        _, address = parseaddr(value)
        if any(c in value for c in "\r\n\0") or "@" not in address:
            raise ValueError("not an email address")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            token = value.get_secret_value()
            if len(token) < 16 or not all("!" <= c <= "~" for c in token):
                raise ValueError("too short, or holds spaces or other characters")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _fold_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @cached_property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies)

    @property
    def sql_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return sqlite_url(self.data_dir)

    @property
    def uses_sqlite(self) -> bool:
        return self.sql_url.startswith("sqlite")

    @property
    def breached_index_path(self) -> Path:
        return self.breached_index or self.data_dir / "breached.idx"

    @property
    def key_file(self) -> Path:
        """Where the key-encryption key is kept when ``key_encryption_key`` is not set."""
        return self.data_dir / KEY_FILE_NAME

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def prepare_data_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"PASSGATE_DATA_DIR: cannot create {self.data_dir.resolve()}: "
                f"{exc.strerror or exc}; expected a directory passgate can create and write"
            ) from exc


def _check_http_url(value: str, *, bare: bool) -> None:
    """Refuse what is not an absolute http(s) URL with a host (and, when ``bare``, without
    query or fragment, as an OpenID issuer must be)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("malformed host or port") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if bare and parts.query:
        raise ValueError("an issuer has no query")
    if bare and parts.fragment:
        raise ValueError("an issuer has no fragment")


def read_settings() -> Settings:
    """The settings of this process's environment.

    Raises :class:`ConfigurationError` with one line per refused variable, each naming the
    ``PASSGATE_…`` variable and what it expects (never the value of a secret setting).
    """
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        raise ConfigurationError(explain_settings_error(Settings, exc)) from None


if __name__ == "__main__":  # python -m passgate.settings [--check] [PATH]: the reference
    sys.exit(settings_doc.main(Settings))
