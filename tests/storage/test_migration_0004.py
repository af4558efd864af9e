"""Migration 0004: users gain the profile columns; the users already there keep every
field and read with an empty profile; the downgrade drops the columns and keeps the users
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from passgate.domain.models import UserProfile
from passgate.storage import db
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from tests.storage.migrations import at_revision, to_revision

PROFILE_COLUMNS = {"given_name", "family_name", "nickname", "picture", "user_metadata"}


def _columns(engine: sa.Engine) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns("users")}


@pytest.fixture
def at_0003(sql_url: str) -> Iterator[sa.Engine]:
    """A database at revision 0003 with one user (the PostgreSQL schema is emptied first)."""
    engine = db.make_engine(sql_url)
    at_revision(engine, "0003")
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO connections (id, name, created_at) VALUES ('con_t', :n, 0)"),
            {"n": DEFAULT_CONNECTION},
        )
        connection.execute(
            sa.text(
                "INSERT INTO users (id, connection_id, email, email_key, username, username_key,"
                " email_verified, name, blocked, password_hash, password_leaked,"
                " password_changed_at, created_at, updated_at) VALUES ('auth0|j', 'con_t',"
                " 'Jesse@Example.com', 'jesse@example.com', 'Jesse', 'jesse', true,"
                " 'Jesse Pinkman', false, 'h', false, 1, 2, 3)"
            )
        )
    try:
        yield engine
    finally:
        to_revision(engine, "head")  # the PostgreSQL schema is shared with the other tests
        engine.dispose()


def test_upgrade_adds_the_profile_and_keeps_the_users(at_0003: sa.Engine) -> None:
    assert not PROFILE_COLUMNS & _columns(at_0003)
    to_revision(at_0003, "0004_user_profile")
    assert _columns(at_0003) >= PROFILE_COLUMNS
    to_revision(at_0003, "head")  # today's Directory reads the later columns too
    directory = Directory(at_0003)
    user = directory.get_user("auth0|j")
    assert user is not None
    assert (user.email, user.username, user.name, user.email_verified) == (
        "Jesse@Example.com",
        "Jesse",
        "Jesse Pinkman",
        True,
    )
    assert user.profile == UserProfile()
    found = directory.find_for_login("con_t", "jesse")
    assert found is not None
    assert found[0] == user


def test_downgrade_drops_the_profile_and_keeps_the_users(at_0003: sa.Engine) -> None:
    to_revision(at_0003, "head")  # today's Directory writes the later columns too
    directory = Directory(at_0003)
    directory.create_user(
        connection=DEFAULT_CONNECTION,
        email="ada@example.com",
        password_hash="h",
        profile=UserProfile(given_name="Ada", user_metadata={"plan": "gold"}),
    )
    to_revision(at_0003, "0003", down=True)
    assert not PROFILE_COLUMNS & _columns(at_0003)
    with at_0003.connect() as connection:
        emails = connection.execute(sa.text("SELECT email FROM users ORDER BY email")).scalars()
        assert list(emails) == ["Jesse@Example.com", "ada@example.com"]
