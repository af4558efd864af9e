"""Migration 0017: connections in Auth0's shape. Existing connections keep today's rule
(``passwordPolicy: low``, at least 8 characters), sign-up on, every existing client
enabled, their users in place; the downgrade drops it all again (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from passgate.domain.connection_options import MIGRATED_OPTIONS, rules_of
from passgate.storage import db
from passgate.storage.connections import ConnectionStore, PasswordHistory
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from tests.storage.migrations import at_revision, to_revision

BEFORE = "0016_log_streams"


@pytest.fixture
def at_0013(sql_url: str) -> Iterator[sa.Engine]:
    """A database at 0013 with two connections, two clients and a user in each."""
    engine = db.make_engine(sql_url)
    at_revision(engine, BEFORE)
    with engine.begin() as connection:
        for cid, name in (("con_a", DEFAULT_CONNECTION), ("con_b", "Partners")):
            connection.execute(
                sa.text("INSERT INTO connections (id, name, created_at) VALUES (:id, :n, 1)"),
                {"id": cid, "n": name},
            )
        for client in ("web", "mobile"):
            connection.execute(
                sa.text(
                    "INSERT INTO clients (client_id, name, app_type, token_endpoint_auth_method,"
                    " grant_types, is_token_endpoint_ip_header_trusted, created_at)"
                    " VALUES (:id, :id, 'spa', 'none', :g, false, 1)"
                ),
                {"id": client, "g": json.dumps(["password"])},
            )
        for uid, cid, email in (("auth0|1", "con_a", "a@example.com"), ("auth0|2", "con_b", "b@x")):
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, connection_id, email, email_key, email_verified,"
                    " blocked, password_hash, password_leaked, password_changed_at,"
                    " created_at, updated_at) VALUES (:id, :cid, :e, :e, false, false,"
                    " '$argon2id$old', false, 1, 1, 1)"
                ),
                {"id": uid, "cid": cid, "e": email},
            )
    try:
        yield engine
    finally:
        to_revision(engine, "head")
        engine.dispose()


def test_upgrade_keeps_todays_behaviour(at_0013: sa.Engine) -> None:
    to_revision(at_0013, "0017_connections")
    store = ConnectionStore(at_0013)
    found = store.list()
    assert [c.name for c in found] == ["Partners", DEFAULT_CONNECTION]
    for connection in found:
        assert connection.options == MIGRATED_OPTIONS
        assert connection.enabled_clients == ("mobile", "web")
        assert connection.strategy == "auth0"
        rules = rules_of(connection.options)
        assert rules.strength.level == "low"
        assert rules.strength.minimum == 8
        assert not rules.disable_signup
        assert rules.brute_force
    directory = Directory(at_0013)
    user = directory.get_user("auth0|1")
    assert user is not None
    assert user.connection == DEFAULT_CONNECTION
    assert directory.get_user("auth0|2") is not None
    assert PasswordHistory(at_0013).recent("auth0|1", 5) == ["$argon2id$old"]
    columns = {c["name"]: c for c in sa.inspect(at_0013).get_columns("password_history")}
    assert isinstance(columns["password_hash"]["type"], sa.Text)


def test_downgrade_drops_options_clients_and_history(at_0013: sa.Engine) -> None:
    to_revision(at_0013, "0017_connections")
    PasswordHistory(at_0013).keep_current("auth0|1", 3)
    to_revision(at_0013, BEFORE, down=True)
    inspector = sa.inspect(at_0013)
    assert "connection_clients" not in inspector.get_table_names()
    assert "password_history" not in inspector.get_table_names()
    names = {column["name"] for column in inspector.get_columns("connections")}
    assert names == {"id", "name", "created_at"}
    with at_0013.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
    assert count == 2
