"""Shared fixtures: SQL databases (SQLite, and PostgreSQL when configured) and Redis; a
test CA's server certificate, a passgate server over https, and Auth0's Node.js SDK.

PostgreSQL and Redis are used for real when ``PASSGATE_TEST_DATABASE_URL`` and
``PASSGATE_TEST_REDIS_URL`` are set; the Node SDK when ``node`` (20.19+) is on PATH and
tests/node has its packages (``./scripts/bootstrap`` runs ``npm ci`` there). Without them
their tests are skipped and named in the summary, unless
``PASSGATE_TEST_REQUIRE_BACKENDS=1`` (as in CI), which makes a missing one an error instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from passgate.storage.db import make_engine, migrate
from passgate.storage.schema import metadata
from tests.certificates import ServerCertificate, make_server_certificate
from tests.node_sdk import HttpsPassgate, NodeSdk, node_missing, start_https_passgate
from tests.processes import server_env
from tests.support import migrated_schema

REQUIRE_BACKENDS = os.environ.get("PASSGATE_TEST_REQUIRE_BACKENDS") == "1"


def _backend_missing(name: str, variable: str) -> None:
    _missing(f"{name} backend not tested: {variable} is not set")


def _missing(message: str) -> None:
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
    with migrated_schema(base, "pgtest") as url:
        yield url


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


@pytest.fixture
def https_passgate(
    tmp_path: Path, server_certificate: ServerCertificate
) -> Iterator[Callable[..., HttpsPassgate]]:
    """Starts ``passgate serve`` over https with the test CA's certificate: call it with
    settings (``PASSGATE_…`` on top of cheap hashing and a data directory in tmp) and extra
    ``serve`` arguments. Every server it started is stopped afterwards."""
    started: list[HttpsPassgate] = []

    def start(*args: str, **settings: str) -> HttpsPassgate:
        env = server_env(tmp_path / "data", **settings)
        logs = tmp_path / f"server-{len(started)}"
        started.append(start_https_passgate(env, server_certificate, logs, *args))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.server.kill()


@pytest.fixture
def node_sdk(server_certificate: ServerCertificate) -> NodeSdk:
    """Runs tests/node scripts with Auth0's Node.js SDK, trusting the test CA. Without
    node or the SDK's packages: skipped by name, or an error when backends are required."""
    reason = node_missing()
    if reason is not None:
        _missing(f"Node SDK not tested: {reason}")
    return NodeSdk(server_certificate.ca_cert)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every server log of the run, searched for tokens and test passwords
    (tests/log_audit.py): one found fails the run."""
    from tests.log_audit import audit

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return
    problems = audit(factory.getbasetemp())
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "secrets in server logs (tests/log_audit.py)", red=True)
            for problem in problems:
                reporter.write_line(problem)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
