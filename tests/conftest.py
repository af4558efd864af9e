"""Shared fixtures: SQL databases (SQLite, and PostgreSQL when configured) and Redis; a
test CA's server certificate.

PostgreSQL and Redis are used for real when ``PASSGATE_TEST_DATABASE_URL`` and
``PASSGATE_TEST_REDIS_URL`` are set. Without them their tests are skipped and named in
the summary, unless ``PASSGATE_TEST_REQUIRE_BACKENDS=1`` (as in CI), which makes a missing
backend an error instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from passgate.storage.db import make_engine, migrate
from passgate.storage.schema import metadata
from tests.certificates import ServerCertificate, make_server_certificate

REQUIRE_BACKENDS = os.environ.get("PASSGATE_TEST_REQUIRE_BACKENDS") == "1"


def _backend_missing(name: str, variable: str) -> None:
    message = f"{name} backend not tested: {variable} is not set"
    if REQUIRE_BACKENDS:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, migrated, dropped afterwards."""
    base = os.environ.get("PASSGATE_TEST_DATABASE_URL")
    if not base:
        _backend_missing("PostgreSQL", "PASSGATE_TEST_DATABASE_URL")
        raise AssertionError("unreachable")
    schema = f"pgtest_{os.getpid()}_{secrets.token_hex(4)}"
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


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("PASSGATE_TEST_REDIS_URL")
    if not url:
        _backend_missing("Redis", "PASSGATE_TEST_REDIS_URL")
        raise AssertionError("unreachable")
    return url


def _truncate_all(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(sa.text("DELETE FROM alembic_version WHERE 1 = 0"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, or the PostgreSQL test schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'passgate.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        return url
    pg: str = request.getfixturevalue("pg_url")
    engine = make_engine(pg)
    _truncate_all(engine)
    engine.dispose()
    return pg


@pytest.fixture
def engine(sql_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(sql_url)
    yield engine
    engine.dispose()


@pytest.fixture
def server_certificate(tmp_path: Path) -> ServerCertificate:
    """A test CA and a server certificate it issued for 127.0.0.1, ::1 and localhost."""
    return make_server_certificate(tmp_path / "tls")

