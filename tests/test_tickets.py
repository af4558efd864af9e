"""Tickets: single-use, expiring links stored as keyed digests (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from passgate.accounts.tickets import MAX_TOKEN_LENGTH, Tickets
from passgate.storage.schema import tickets as tickets_table
from passgate.testing import ManualClock

KEY = b"k" * 32


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def tickets(engine: sa.Engine, clock: ManualClock) -> Tickets:
    return Tickets(engine, KEY, clock)


def test_a_ticket_is_redeemed_once_with_its_payload(tickets: Tickets) -> None:
    token = tickets.issue("reset", {"user_id": "auth0|1", "n": 2}, ttl_s=3600)
    assert tickets.redeem("reset", token) == {"user_id": "auth0|1", "n": 2}
    assert tickets.redeem("reset", token) is None


def test_peek_shows_the_payload_without_using_the_ticket(tickets: Tickets) -> None:
    token = tickets.issue("reset", {"a": 1}, ttl_s=60)
    assert tickets.peek("reset", token) == {"a": 1}
    assert tickets.peek("reset", token) == {"a": 1}
    assert tickets.redeem("reset", token) == {"a": 1}
    assert tickets.peek("reset", token) is None


def test_a_ticket_of_another_kind_is_not_valid(tickets: Tickets) -> None:
    token = tickets.issue("unblock", {"a": 1}, ttl_s=60)
    assert tickets.peek("reset", token) is None
    assert tickets.redeem("reset", token) is None
    assert tickets.redeem("unblock", token) == {"a": 1}


def test_a_ticket_expires_at_its_ttl(tickets: Tickets, clock: ManualClock) -> None:
    token = tickets.issue("reset", {}, ttl_s=100)
    clock.advance(99.5)
    assert tickets.peek("reset", token) == {}
    clock.advance(0.5)
    assert tickets.peek("reset", token) is None
    assert tickets.redeem("reset", token) is None


@pytest.mark.parametrize("token", ["", "x", "A" * (MAX_TOKEN_LENGTH + 1)])
def test_unknown_or_implausible_tokens_are_not_valid(tickets: Tickets, token: str) -> None:
    tickets.issue("reset", {}, ttl_s=60)
    assert tickets.peek("reset", token) is None
    assert tickets.redeem("reset", token) is None


def test_only_a_keyed_digest_of_the_token_is_stored(tickets: Tickets, engine: sa.Engine) -> None:
    token = tickets.issue("reset", {"user_id": "u"}, ttl_s=60)
    with engine.connect() as db:
        rows = db.execute(sa.select(tickets_table)).all()
    assert len(rows) == 1
    assert token not in repr(tuple(rows[0]))
    assert len(rows[0].token_digest) == 64
    # Another key finds nothing: the digest is keyed.
    assert Tickets(engine, b"o" * 32).peek("reset", token) is None


def test_concurrent_redemptions_have_exactly_one_winner(tickets: Tickets) -> None:
    token = tickets.issue("reset", {"user_id": "u"}, ttl_s=60)
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[object] = []
    lock = threading.Lock()

    def redeem() -> None:
        barrier.wait()
        outcome = tickets.redeem("reset", token)
        with lock:
            results.append(outcome)

    workers = [threading.Thread(target=redeem) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(results) == threads
    assert results.count({"user_id": "u"}) == 1
    assert results.count(None) == threads - 1


def test_purge_deletes_long_expired_tickets_only(tickets: Tickets, clock: ManualClock) -> None:
    old = tickets.issue("reset", {"old": True}, ttl_s=10)
    clock.advance(8 * 24 * 3600)
    fresh = tickets.issue("reset", {"old": False}, ttl_s=10)
    assert tickets.purge() == 1
    assert tickets.peek("reset", fresh) == {"old": False}
    assert tickets.peek("reset", old) is None


def test_issue_refuses_bad_arguments(tickets: Tickets) -> None:
    with pytest.raises(ValueError, match="kind"):
        tickets.issue("", {}, ttl_s=10)
    with pytest.raises(ValueError, match="ttl_s"):
        tickets.issue("reset", {}, ttl_s=0)
