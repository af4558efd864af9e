"""Helpers shared by in-process test suites."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from click.testing import CliRunner, Result
from pydantic import SecretStr

from passgate.cli.main import main
from passgate.settings import Settings
from passgate.storage.db import make_engine, migrate

#: A key-encryption key for tests (PostgreSQL needs one; on SQLite it replaces the key file).
TEST_KEY_ENCRYPTION_KEY = "wOqT1tM7WkE3cZc9yQ4n2bHn5XW3f0V6a1sYpJr8kLg"


@contextlib.contextmanager
def migrated_schema(base: str, prefix: str) -> Iterator[str]:
    """A URL on PostgreSQL ``base`` whose search_path is a fresh, migrated schema (named
    ``prefix`` and a unique suffix), dropped afterwards."""
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def cheap_settings(
    tmp_path: Path, sql_url: str, *, issuer: str | None, **overrides: Any
) -> Settings:
    """Settings on ``sql_url`` with cheap password hashing, for tests."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": SecretStr(sql_url),
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "issuer": issuer,
        "hash_workers": 2,
        "key_encryption_key": SecretStr(TEST_KEY_ENCRYPTION_KEY),
    }
    values.update(overrides)
    return Settings(**values)


class Cli:
    """Runs ``passgate`` commands in process against one data directory (no PASSGATE_*
    settings from outside but ``env``; cheap password hashing), whose database ``passgate
    migrate`` has made unless ``migrated`` is false (read commands refuse a database that
    does not exist)."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str | None] | None = None,
        *,
        migrated: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.runner = CliRunner(
            env={
                "PASSGATE_DATA_DIR": str(data_dir),
                "PASSGATE_ARGON2_MEMORY_KIB": "1024",
                "PASSGATE_ARGON2_TIME_COST": "1",
                "PASSGATE_DATABASE_URL": None,
                "PASSGATE_ISSUER": None,
                "PASSGATE_KEY_ENCRYPTION_KEY": None,
                "PASSGATE_REDIS_URL": None,
                "PASSGATE_REDIS_UNAVAILABLE": None,
                **(env or {}),
            }
        )
        if migrated:
            self.json("migrate")

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return self.runner.invoke(main, list(args), input=input, env=env, catch_exceptions=True)

    def json(self, *args: str, input: str | None = None) -> Any:
        result = self.run(*args, "--json", input=input)
        assert result.exit_code == 0, (result.output, result.exception)
        return json.loads(result.stdout)

    def fails(self, *args: str, input: str | None = None) -> str:
        """Run a command that must be refused: exit 1, a message on stderr, no traceback.
        Returns the message (without the ``passgate: data directory …`` line)."""
        result = self.run(*args, input=input)
        assert result.exit_code == 1, (result.output, result.exception)
        assert isinstance(result.exception, SystemExit)
        message = "".join(
            line for line in result.stderr.splitlines(True) if not line.startswith("passgate: ")
        )
        assert message.startswith("Error: ")
        assert "Traceback" not in result.output
        return message


def refusal_lines(stderr: str) -> list[str]:
    """The lines of a refusal on stderr, without the ``passgate: data directory …`` /
    ``passgate: database …`` line that every command opening the database writes first."""
    return [
        line
        for line in stderr.strip().splitlines()
        if not line.startswith(("passgate: data directory ", "passgate: database "))
    ]
