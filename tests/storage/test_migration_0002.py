"""Migration 0002: users' lookup keys in the canonical form; counters re-keyed per
account, so an upgrade loses no block (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa

from passgate.domain.brute_force import PER_IDENTIFIER, PER_IDENTIFIER_AND_IP
from passgate.storage import db
from passgate.storage.counters import AttemptKey
from passgate.storage.counters_redis import RedisCounters
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.testing import login_key
from tests.storage.migrations import at_revision, to_revision

T0 = 1_800_000_000.0


@pytest.fixture
def old(sql_url: str) -> Iterator[sa.Engine]:
    """A database at revision 0001 (the PostgreSQL schema is emptied first)."""
    engine = db.make_engine(sql_url)
    at_revision(engine, "0001")
    try:
        yield engine
    finally:
        to_revision(engine, "head")  # the PostgreSQL schema is shared with the other tests
        engine.dispose()


def _old_row(
    key: str, identifier: str, ip: str | None, failures: int, last: float
) -> dict[str, object]:
    return {
        "key": key,
        "identifier": identifier,
        "ip": ip,
        "connection": DEFAULT_CONNECTION,
        "failures": failures,
        "reserved": 0,
        "reserved_until": 0.0,
        "last_failure": last,
    }


def test_upgrade_keeps_every_block_under_the_account(old: sa.Engine) -> None:
    with old.begin() as connection:
        conn_id = "con_test"
        connection.execute(
            sa.text("INSERT INTO connections (id, name, created_at) VALUES (:i, :n, 0)"),
            {"i": conn_id, "n": DEFAULT_CONNECTION},
        )
        connection.execute(
            sa.text(
                "INSERT INTO users (id, connection_id, email, email_key, username, username_key,"
                " email_verified, blocked, password_hash, password_leaked, password_changed_at,"
                " created_at, updated_at) VALUES ('auth0|j', :c, 'Jesse@Example.com',"
                " 'jesse@example.com', 'Jesse', 'jesse', false, false, 'h', false, 0, 0, 0)"
            ),
            {"c": conn_id},
        )
        mode, db_ = PER_IDENTIFIER_AND_IP, DEFAULT_CONNECTION
        connection.execute(
            sa.text(
                "INSERT INTO login_attempts (key, identifier, ip, connection, failures, reserved,"
                " reserved_until, last_failure) VALUES (:key, :identifier, :ip, :connection,"
                " :failures, :reserved, :reserved_until, :last_failure)"
            ),
            [
                # The username and the email of one account, from one IP: merged.
                _old_row(f"{mode}:{db_}:jesse:203.0.113.7", "jesse", "203.0.113.7", 10, T0),
                _old_row(
                    f"{mode}:{db_}:jesse@example.com:203.0.113.7",
                    "jesse@example.com",
                    "203.0.113.7",
                    4,
                    T0 + 5,
                ),
                _old_row(f"{PER_IDENTIFIER}:{db_}:nobody", "nobody", None, 7, T0),
            ],
        )
    to_revision(old, "head")

    directory = Directory(old)
    found = directory.find_for_login(conn_id, "JE\u017fSE@example.com")
    assert found is not None
    assert found[0].id == "auth0|j"
    counters = SqlCounters(old)
    account = login_key(directory, PER_IDENTIFIER_AND_IP, "jesse", "203.0.113.7")
    assert account.user_id == "auth0|j"
    assert counters.failures(account, now=T0 + 10) == 10
    nobody = login_key(directory, PER_IDENTIFIER, "NOBODY", "192.0.2.1")
    assert counters.failures(nobody, now=T0 + 10) == 7
    (blocked,) = counters.list_blocks(None, max_attempts=10, now=T0 + 10)
    assert (blocked.identifier, blocked.user_id, blocked.last_failure) == (
        "jesse@example.com",
        "auth0|j",
        T0 + 5,
    )


@pytest.mark.redis
def test_redis_counters_of_the_older_key_format_are_adopted(redis_url: str, sql_url: str) -> None:
    """Redis holds no schema to migrate: the first start of this version moves counters
    kept under "<mode>:<connection>:<identifier>[:<ip>]" to the account's key, once."""
    prefix = f"passgate-test:{secrets.token_hex(6)}:"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    engine = db.make_engine(sql_url)
    counters = RedisCounters.from_url(redis_url, prefix=prefix)
    try:
        directory = Directory(engine)
        directory.ensure_connection(DEFAULT_CONNECTION)
        user = directory.create_user(
            connection=DEFAULT_CONNECTION,
            email="jesse@example.com",
            username="jesse",
            password_hash="h",
        )
        mode, ip = PER_IDENTIFIER_AND_IP, "203.0.113.7"
        for name, failures in (("jesse", 10), ("jesse@example.com", 3), ("nobody", 4)):
            member = f"{mode}:{DEFAULT_CONNECTION}:{name}:{ip}"
            client.hset(
                f"{prefix}la:{member}",
                mapping={
                    "failures": failures,
                    "reserved": 0,
                    "reserved_until": 0,
                    "last_failure": repr(T0),
                    "identifier": name,
                    "ip": ip,
                    "connection": DEFAULT_CONNECTION,
                },
            )
            client.zadd(f"{prefix}la-recent", {member: T0})
            client.sadd(f"{prefix}la-id:{name}", member)

        def rekey(mode: str, connection: str, identifier: str, ip: str | None) -> AttemptKey:
            return login_key(directory, mode, identifier, ip or "", connection=connection)

        assert counters.adopt_older_keys(rekey, T0 + 1) == 3
        account = login_key(directory, mode, "JESSE@example.com", ip)
        assert account.user_id == user.id
        assert counters.failures(account, now=T0 + 1) == 10
        assert counters.failures(login_key(directory, mode, "nobody", ip), now=T0 + 1) == 4
        blocks = counters.list_blocks(None, max_attempts=10, now=T0 + 1)
        assert [(b.identifier, b.user_id) for b in blocks] == [("jesse@example.com", user.id)]
        assert not [k for k in client.scan_iter(f"{prefix}la:*{DEFAULT_CONNECTION}*")]
        assert counters.adopt_older_keys(rekey, T0 + 1) == 0  # once
    finally:
        counters.close()
        engine.dispose()
        for name in client.scan_iter(match=f"{prefix}*"):
            client.delete(name)
        client.close()
