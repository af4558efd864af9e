"""``BlockReleases``: the one way a brute-force block is released, whoever asks (an
unblock link, the command line, a password change, an API client), each release logged
as ``ublkdu`` saying who released it."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP
from passgate.domain.login import RequestContext
from passgate.domain.models import User
from passgate.domain.policy import BruteForcePolicy
from passgate.protection.unblock import (
    ADMINISTRATOR_CLI,
    PASSWORD_CHANGE,
    UNBLOCK_LINK,
    BlockReleases,
    ReleasedBy,
    current_blocks,
)
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.testing import CapturedEvents, ManualClock, login_key

IP_A, IP_B = "203.0.113.7", "203.0.113.8"
API_CLIENT = RequestContext(ip="198.51.100.1", client_ip="198.51.100.1", client_id="mgmt")


class Policies:
    def get_brute_force(self) -> BruteForcePolicy:
        return BruteForcePolicy()


@dataclasses.dataclass
class Setup:
    releases: BlockReleases
    counters: SqlCounters
    directory: Directory
    events: CapturedEvents
    clock: ManualClock
    user: User
    released: list[str]

    def block(self, identifier: str, ip: str) -> None:
        key = login_key(self.directory, PER_IDENTIFIER_AND_IP, identifier, ip)
        for _ in range(BruteForcePolicy().max_attempts):
            self.counters.record_failure(key, now=self.clock(), release=False)

    def blocked_ips(self) -> list[str | None]:
        records = current_blocks(self.counters, BruteForcePolicy(), None, self.clock())
        return [record.ip for record in records]


@pytest.fixture
def setup(engine: sa.Engine) -> Setup:
    directory = Directory(engine)
    directory.ensure_connection(DEFAULT_CONNECTION)
    user = directory.create_user(
        connection=DEFAULT_CONNECTION,
        email="alice@example.com",
        username="alice",
        password_hash="unused",
    )
    counters, events, clock = SqlCounters(engine), CapturedEvents(), ManualClock()
    released: list[str] = []
    releases = BlockReleases(
        counters=counters,
        directory=directory,
        policies=Policies(),
        events=events,
        clock=clock,
        on_release=lambda: released.append("released"),
    )
    return Setup(releases, counters, directory, events, clock, user, released)


def test_an_api_client_releases_one_ip_of_an_account_by_its_user_id(setup: Setup) -> None:
    setup.block("alice", IP_A)
    setup.block("ALICE@example.com", IP_B)
    done = setup.releases.release(setup.user.id, ReleasedBy("api client mgmt", API_CLIENT), ip=IP_A)
    assert [record.ip for record in done.blocks] == [IP_A]
    assert done.reset == 1
    assert setup.blocked_ips() == [IP_B]
    (event,) = setup.events.of_type("ublkdu")
    assert (event.ip, event.user_id, event.user_name) == (IP_A, setup.user.id, "alice@example.com")
    assert (event.client_ip, event.client_id) == ("198.51.100.1", "mgmt")
    assert event.details == {"released_by": "api client mgmt"}
    assert setup.released == ["released"]


def test_the_command_line_releases_every_block_of_any_spelling_with_one_event_each(
    setup: Setup,
) -> None:
    setup.block("alice", IP_A)
    setup.block("alice", IP_B)
    done = setup.releases.release(" \uff21lice ", ReleasedBy(ADMINISTRATOR_CLI))
    assert sorted(record.ip or "" for record in done.blocks) == [IP_A, IP_B]
    assert setup.blocked_ips() == []
    events = setup.events.of_type("ublkdu")
    assert sorted(event.ip or "" for event in events) == [IP_A, IP_B]
    assert {event.client_ip for event in events} == {None}  # no request
    assert all(event.details == {"released_by": ADMINISTRATOR_CLI} for event in events)


def test_releasing_nothing_is_no_error_and_logs_nothing(setup: Setup) -> None:
    done = setup.releases.release("nobody@example.com", ReleasedBy(ADMINISTRATOR_CLI))
    assert (done.blocks, done.reset) == ([], 0)
    assert setup.events.of_type("ublkdu") == []


def test_a_password_change_releases_the_account_with_one_event(setup: Setup) -> None:
    setup.block("alice", IP_A)
    setup.block("alice@example.com", IP_B)
    reset = setup.releases.release_account(setup.user, ReleasedBy(PASSWORD_CHANGE, API_CLIENT))
    assert reset == 2
    assert setup.blocked_ips() == []
    (event,) = setup.events.of_type("ublkdu")
    assert (event.ip, event.connection) == (API_CLIENT.ip, DEFAULT_CONNECTION)
    assert event.details == {"released_by": PASSWORD_CHANGE, "keys": 2}
    assert setup.releases.release_account(setup.user, ReleasedBy(PASSWORD_CHANGE)) == 0
    assert len(setup.events.of_type("ublkdu")) == 1  # nothing more to release, no event


def test_an_unblock_link_releases_the_block_it_names(setup: Setup) -> None:
    setup.block("alice", IP_A)
    setup.block("alice", IP_B)
    key = login_key(setup.directory, PER_IDENTIFIER_AND_IP, "alice", IP_A)
    payload = {
        "identifier": key.label,
        "subject": key.subject,
        "ip": IP_A,
        "connection": DEFAULT_CONNECTION,
        "user_id": setup.user.id,
    }
    browser = RequestContext(ip="192.0.2.9", client_ip="192.0.2.9", user_agent="Mozilla/5.0")
    setup.releases.release_link(payload, ReleasedBy(UNBLOCK_LINK, browser))
    assert setup.blocked_ips() == [IP_B]
    (event,) = setup.events.of_type("ublkdu")
    assert (event.ip, event.client_ip, event.user_agent) == (IP_A, "192.0.2.9", "Mozilla/5.0")
    assert event.user_id == setup.user.id
    assert event.details == {"released_by": UNBLOCK_LINK}
