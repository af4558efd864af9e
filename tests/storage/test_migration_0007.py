"""Migration 0007: users gain ``app_metadata``, signing keys ``revoked_at``, and the
indexes for user lookups and daily stats appear; the users and keys already there keep
every field (read with no app metadata, not revoked); the downgrade undoes it all
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from passgate.storage import db
from passgate.storage.directory import Directory
from passgate.storage.tokens import SigningKeys
from tests.storage.migrations import at_revision, to_revision

BEFORE = "0006_event_search"
AFTER = "0007_users_stats_keys"
INDEXES = {
    ("users", "ix_users_email_key"),
    ("users", "ix_users_username_key"),
}


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table)}


def _indexes(engine: sa.Engine) -> set[tuple[str, str]]:
    inspector = sa.inspect(engine)
    return {
        (table, str(index["name"]))
        for table in ("users", "events")
        for index in inspector.get_indexes(table)
    }


@pytest.fixture
def at_0006(sql_url: str) -> Iterator[sa.Engine]:
    engine = db.make_engine(sql_url)
    at_revision(engine, BEFORE)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO connections (id, name, created_at) VALUES ('con_t', 'db', 0)")
        )
        connection.execute(
            sa.text(
                "INSERT INTO users (id, connection_id, email, email_key, email_verified,"
                " blocked, password_hash, password_leaked, password_changed_at, created_at,"
                " updated_at) VALUES ('auth0|j', 'con_t', 'J@Example.com', 'j@example.com',"
                " true, false, 'h', false, 1, 2, 3)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO signing_keys (kid, alg, private_jwk, created_at, retired_at)"
                " VALUES ('k1', 'RS256', '{}', 1, 2)"
            )
        )
    try:
        yield engine
    finally:
        to_revision(engine, "head")  # the PostgreSQL schema is shared with the other tests
        engine.dispose()


def test_upgrade_adds_columns_and_indexes_and_keeps_the_rows(at_0006: sa.Engine) -> None:
    assert "app_metadata" not in _columns(at_0006, "users")
    assert not INDEXES & _indexes(at_0006)
    to_revision(at_0006, AFTER)
    assert "app_metadata" in _columns(at_0006, "users")
    assert "revoked_at" in _columns(at_0006, "signing_keys")
    assert _indexes(at_0006) >= INDEXES
    user = Directory(at_0006).get_user("auth0|j")
    assert user is not None
    assert (user.email, user.app_metadata) == ("J@Example.com", {})
    [key] = SigningKeys(at_0006).all()
    assert (key.kid, key.retired_at, key.revoked_at) == ("k1", 2, None)
    assert [u.id for u in Directory(at_0006).users_by_email("j@EXAMPLE.com")] == ["auth0|j"]


def test_downgrade_drops_them_and_keeps_the_rows(at_0006: sa.Engine) -> None:
    to_revision(at_0006, AFTER)
    to_revision(at_0006, BEFORE, down=True)
    assert "app_metadata" not in _columns(at_0006, "users")
    assert "revoked_at" not in _columns(at_0006, "signing_keys")
    assert not INDEXES & _indexes(at_0006)
    with at_0006.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM users")).scalar() == 1
        assert connection.execute(sa.text("SELECT count(*) FROM signing_keys")).scalar() == 1
