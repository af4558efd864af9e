"""Refresh tokens: digests, rotation, reuse, revocation, and the user's state.

A rotation is one conditional UPDATE: the token is used only if it is live and its user
exists and is not blocked, so a refusal for the user's sake uses nothing, and a block
that lands while a refresh is under way is either seen by it or waits for it. Run on
SQLite and PostgreSQL (``engine``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.schema import refresh_tokens, users
from passgate.storage.tokens import RefreshTokens, RotateOutcome

NOW = 1_800_000_000.0
KEY = b"k" * 32


@pytest.fixture
def directory(engine: sa.Engine) -> Directory:
    directory = Directory(engine)
    directory.ensure_connection(DEFAULT_CONNECTION)
    return directory


@pytest.fixture
def user_id(directory: Directory) -> str:
    return directory.create_user(
        connection=DEFAULT_CONNECTION, email="alice@example.com", password_hash="h"
    ).id


@pytest.fixture
def tokens(engine: sa.Engine) -> RefreshTokens:
    return RefreshTokens(engine, KEY)


def _issue(tokens: RefreshTokens, user_id: str, *, now: float = NOW, lifetime: int = 3600) -> str:
    return tokens.issue(
        client_id="c1",
        user_id=user_id,
        audience="https://api.example/",
        scope="openid",
        now=now,
        lifetime=lifetime,
    )


def _rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as db:
        return sorted(tuple(row) for row in db.execute(sa.select(refresh_tokens)))


def test_refresh_tokens_are_stored_as_digests(
    tokens: RefreshTokens, engine: sa.Engine, user_id: str
) -> None:
    token = _issue(tokens, user_id)
    rows = _rows(engine)
    assert len(rows) == 1
    assert token not in repr(rows)
    found = tokens.find(token)
    assert found is not None
    assert found.user_id == user_id
    assert found.used_at is None


def test_refresh_rotation(tokens: RefreshTokens, user_id: str) -> None:
    first = _issue(tokens, user_id)
    rotation, second = tokens.rotate(first, client_id="c1", now=NOW + 10, lifetime=3600)
    assert rotation.outcome is RotateOutcome.ROTATED
    assert rotation.token is not None
    assert rotation.token.scope == "openid"
    assert rotation.user is not None
    assert (rotation.user.id, rotation.user.email) == (user_id, "alice@example.com")
    assert second is not None
    assert second != first
    successor = tokens.find(second)
    assert successor is not None
    assert successor.family_id == rotation.token.family_id
    assert successor.expires_at == NOW + 10 + 3600
    rotation, third = tokens.rotate(second, client_id="c1", now=NOW + 20, lifetime=3600)
    assert rotation.outcome is RotateOutcome.ROTATED
    assert third is not None


def test_refresh_reuse_revokes_the_family(tokens: RefreshTokens, user_id: str) -> None:
    first = _issue(tokens, user_id)
    other_family = _issue(tokens, user_id)
    _, second = tokens.rotate(first, client_id="c1", now=NOW + 1, lifetime=3600)
    assert second is not None
    reuse, nothing = tokens.rotate(first, client_id="c1", now=NOW + 2, lifetime=3600)
    assert reuse.outcome is RotateOutcome.REUSED
    assert nothing is None
    revoked, _ = tokens.rotate(second, client_id="c1", now=NOW + 3, lifetime=3600)
    assert revoked.outcome is RotateOutcome.REVOKED
    # Another family of the same user is untouched.
    fine, _ = tokens.rotate(other_family, client_id="c1", now=NOW + 4, lifetime=3600)
    assert fine.outcome is RotateOutcome.ROTATED


def test_refresh_expiry_and_other_outcomes(tokens: RefreshTokens, user_id: str) -> None:
    token = _issue(tokens, user_id, lifetime=100)
    wrong, _ = tokens.rotate(token, client_id="c2", now=NOW + 1, lifetime=100)
    assert wrong.outcome is RotateOutcome.WRONG_CLIENT
    expired, none = tokens.rotate(token, client_id="c1", now=NOW + 100, lifetime=100)
    assert expired.outcome is RotateOutcome.EXPIRED
    assert none is None
    unknown, _ = tokens.rotate("never-issued", client_id="c1", now=NOW, lifetime=100)
    assert unknown.outcome is RotateOutcome.UNKNOWN
    assert unknown.token is None
    still_valid = _issue(tokens, user_id, lifetime=100)
    ok, _ = tokens.rotate(still_valid, client_id="c1", now=NOW + 99, lifetime=100)
    assert ok.outcome is RotateOutcome.ROTATED


def test_refresh_revoke_and_revoke_user(tokens: RefreshTokens, user_id: str) -> None:
    token = _issue(tokens, user_id)
    _, successor = tokens.rotate(token, client_id="c1", now=NOW + 1, lifetime=3600)
    assert successor is not None
    assert not tokens.revoke(token, client_id="someone-else", now=NOW + 2)
    assert tokens.revoke(token, client_id="c1", now=NOW + 2)
    outcome, _ = tokens.rotate(successor, client_id="c1", now=NOW + 3, lifetime=3600)
    assert outcome.outcome is RotateOutcome.REVOKED
    assert not tokens.revoke("unknown", client_id="c1", now=NOW)
    fresh = [_issue(tokens, user_id), _issue(tokens, user_id)]
    assert tokens.revoke_user(user_id, now=NOW + 4) == 2
    for value in fresh:
        outcome, _ = tokens.rotate(value, client_id="c1", now=NOW + 5, lifetime=3600)
        assert outcome.outcome is RotateOutcome.REVOKED


def test_refresh_tokens_depend_on_the_digest_key(engine: sa.Engine, user_id: str) -> None:
    token = _issue(RefreshTokens(engine, KEY), user_id)
    assert RefreshTokens(engine, KEY).find(token) is not None
    assert RefreshTokens(engine, b"x" * 32).find(token) is None


# -- the user's state ------------------------------------------------------------------


def test_a_blocked_users_token_is_refused_unused_and_rotates_once_unblocked(
    tokens: RefreshTokens, engine: sa.Engine, directory: Directory, user_id: str
) -> None:
    token = _issue(tokens, user_id)
    directory.set_blocked(user_id, True)
    before = _rows(engine)
    for step in range(3):
        refused, successor = tokens.rotate(token, client_id="c1", now=NOW + step, lifetime=60)
        assert refused.outcome is RotateOutcome.USER_BLOCKED
        assert successor is None
        assert refused.token is not None
        assert refused.token.user_id == user_id
        assert _rows(engine) == before  # nothing used, nothing issued, nothing revoked
    directory.set_blocked(user_id, False)
    rotated, successor = tokens.rotate(token, client_id="c1", now=NOW + 5, lifetime=60)
    assert rotated.outcome is RotateOutcome.ROTATED
    assert successor is not None


def test_a_deleted_users_token_is_refused_unused(
    tokens: RefreshTokens, engine: sa.Engine, user_id: str
) -> None:
    token = _issue(tokens, user_id)
    with engine.begin() as db:
        db.execute(users.delete().where(users.c.id == user_id))
    before = _rows(engine)
    refused, successor = tokens.rotate(token, client_id="c1", now=NOW + 1, lifetime=60)
    assert refused.outcome is RotateOutcome.USER_UNKNOWN
    assert successor is None
    assert _rows(engine) == before


def test_a_reused_token_revokes_its_family_even_while_the_user_is_blocked(
    tokens: RefreshTokens, directory: Directory, user_id: str
) -> None:
    first = _issue(tokens, user_id)
    _, second = tokens.rotate(first, client_id="c1", now=NOW + 1, lifetime=3600)
    assert second is not None
    directory.set_blocked(user_id, True)
    reuse, _ = tokens.rotate(first, client_id="c1", now=NOW + 2, lifetime=3600)
    assert reuse.outcome is RotateOutcome.REUSED
    directory.set_blocked(user_id, False)
    revoked, _ = tokens.rotate(second, client_id="c1", now=NOW + 3, lifetime=3600)
    assert revoked.outcome is RotateOutcome.REVOKED


def test_the_other_refusals_come_before_the_users_state(
    tokens: RefreshTokens, directory: Directory, user_id: str
) -> None:
    token = _issue(tokens, user_id, lifetime=100)
    directory.set_blocked(user_id, True)
    wrong, _ = tokens.rotate(token, client_id="c2", now=NOW + 1, lifetime=100)
    assert wrong.outcome is RotateOutcome.WRONG_CLIENT
    expired, _ = tokens.rotate(token, client_id="c1", now=NOW + 100, lifetime=100)
    assert expired.outcome is RotateOutcome.EXPIRED
    assert tokens.revoke(token, client_id="c1", now=NOW + 2)
    revoked, _ = tokens.rotate(token, client_id="c1", now=NOW + 3, lifetime=100)
    assert revoked.outcome is RotateOutcome.REVOKED


def test_a_block_under_way_when_the_refresh_arrives_is_waited_for_and_wins(
    tokens: RefreshTokens, engine: sa.Engine, user_id: str
) -> None:
    """The block's transaction has updated the user but not committed: the rotation
    cannot use the token on the strength of the old row; it waits, then refuses."""
    token = _issue(tokens, user_id)
    before = _rows(engine)
    blocking = engine.connect()
    try:
        transaction = blocking.begin()
        blocking.execute(users.update().where(users.c.id == user_id).values(blocked=True))
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(tokens.rotate, token, client_id="c1", now=NOW + 1, lifetime=60)
            time.sleep(0.5)
            assert not pending.done(), "the rotation did not wait for the block"
            transaction.commit()
            rotation, successor = pending.result(timeout=10)
    finally:
        blocking.close()
    assert rotation.outcome is RotateOutcome.USER_BLOCKED
    assert successor is None
    assert _rows(engine) == before


def test_racing_refreshes_of_one_token_rotate_it_once(tokens: RefreshTokens, user_id: str) -> None:
    token = _issue(tokens, user_id)
    start = threading.Barrier(8)

    def one(_: int) -> RotateOutcome:
        start.wait(timeout=10)
        return tokens.rotate(token, client_id="c1", now=NOW + 1, lifetime=60)[0].outcome

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, range(8)))
    assert outcomes.count(RotateOutcome.ROTATED) == 1
    assert outcomes.count(RotateOutcome.REUSED) >= 1
    assert set(outcomes) <= {RotateOutcome.ROTATED, RotateOutcome.REUSED, RotateOutcome.REVOKED}
