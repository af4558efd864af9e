"""One typed settings object, read from the environment (prefix ``PASSGATE_``)."""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from passgate.errors import ConfigurationError
from passgate.key_encryption import KEY_FILE_NAME
from passgate.storage.db import sqlite_url

__all__ = ["Settings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Process settings. Tenant settings (issuer, protection policies) live in the database."""

    model_config = SettingsConfigDict(env_prefix="PASSGATE_", extra="ignore")

    data_dir: Path = Path("passgate-data")
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    #: What logins do when Redis cannot be reached: refuse them (503), or fall back to
    #: the SQL database for the attack-protection counters.
    redis_unavailable: Literal["refuse", "fallback"] = "refuse"
    #: Reverse proxies in front of passgate whose X-Forwarded-For is believed.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
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
    )
    smtp_url: SecretStr | None = None
    mail_from: str = "passgate@localhost"
    #: Public base URL used in emailed links; defaults to the issuer.
    public_url: str | None = None
    issuer: str | None = None
    #: Threads verifying passwords; defaults to the number of cores. With several worker
    #: processes each has this many, and together they hash at most this many at once.
    hash_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    #: Set by ``passgate serve --workers N`` for its workers: the System V semaphore that
    #: bounds their hashing together (see ``passgate.hash_slots``). Not set by hand.
    hash_slots_id: int | None = Field(default=None, ge=0)
    argon2_memory_kib: int = Field(default=19456, ge=8, le=4 * 1024 * 1024)
    argon2_time_cost: int = Field(default=2, ge=1, le=100)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    max_body_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    breached_index: Path | None = None
    breached_range_enabled: bool = False
    breached_range_url: str | None = None
    breached_range_timeout: float = Field(default=2.0, gt=0, le=60)
    #: What a login does when the upstream range API cannot be reached.
    breached_upstream_unavailable: Literal["refuse", "allow"] = "allow"
    #: Auth0's per-user per-IP login rate limit (event ``limit_sul``): 20 logins, then 1 per 3 s.
    login_rate_limit: bool = True
    #: Send a Server-Timing header (verify, total) on token responses; for benchmarks.
    server_timing: bool = False
    #: Python's GIL switch interval in server processes (the interpreter's default is 5).
    gil_switch_interval_ms: float = Field(default=1.0, gt=0, le=100)
    #: How often a server process deletes protection records that hold no state any more
    #: (full buckets, forgotten failures, expired marks) and tickets expired a week ago.
    purge_interval_s: float = Field(default=300.0, gt=0, le=86400)
    events_retention_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="How many days the event log keeps an event (Auth0 keeps 30): older "
        "events are deleted by the purge that runs every purge_interval_s. 0 keeps events "
        "forever; at most 3650.",
    )
    log_level: str = "info"

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
                f"cannot create data directory {self.data_dir}: {exc}"
            ) from exc
