"""``passgate protection``, ``passgate blocks`` and ``passgate ip-blocks``, run in process.

Policies round-trip in their Management API shapes and a refused value changes nothing.
Blocks and buckets are made by driving the counters directly (as logins would), then shown
and released through the CLI, on every backend the CLI can be configured with: SQLite and
PostgreSQL (``PASSGATE_DATABASE_URL``), each with the SQL counters or with Redis
(``PASSGATE_REDIS_URL``, the server's default key prefix; each test uses an identifier and
IPs of its own and deletes its keys afterwards).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from passgate.domain import ip_throttle
from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP, attempt_key
from passgate.storage.counters import AttackCounters
from passgate.storage.counters_redis import RedisCounters
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.db import make_engine, sqlite_url
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.settings_store import SettingsStore
from passgate.storage.tenant import TenantStore
from passgate.testing import login_key
from tests import support

BRUTE_FORCE = "brute_force_protection"
SUSPICIOUS_IP = "suspicious_ip_throttling"
BREACHED = "breached_password_detection"
REDIS_PREFIX = "passgate:"  # what the CLI (and the server) use


class Cli(support.Cli):
    """Runs ``passgate`` commands against one database (and counters backend)."""

    @property
    def database_url(self) -> str:
        return str(self.runner.env.get("PASSGATE_DATABASE_URL") or sqlite_url(self.data_dir))

    def show(self) -> dict[str, Any]:
        shown: dict[str, Any] = self.json("protection", "show")
        return shown


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


# -- protection show / set -------------------------------------------------------------


def test_show_gives_auth0_defaults_in_management_api_shapes(cli: Cli) -> None:
    assert cli.show() == {
        BRUTE_FORCE: {
            "enabled": True,
            "shields": ["block", "user_notification"],
            "allowlist": [],
            "mode": "count_per_identifier_and_ip",
            "max_attempts": 10,
        },
        SUSPICIOUS_IP: {
            "enabled": True,
            "shields": ["admin_notification", "block"],
            "allowlist": [],
            "stage": {
                "pre-login": {"max_attempts": 100, "rate": 864000},
                "pre-user-registration": {"max_attempts": 50, "rate": 1200},
            },
        },
        BREACHED: {
            "enabled": True,
            "shields": ["block", "user_notification", "admin_notification"],
            "admin_notification_frequency": ["immediately"],
            "method": "standard",
            "stage": {
                "pre-user-registration": {"shields": ["block"]},
                "pre-change-password": {"shields": ["block"]},
            },
        },
        "admin_emails": [],
    }


def test_show_readable_names_every_section(cli: Cli) -> None:
    result = cli.run("protection", "show")
    assert result.exit_code == 0
    for title in ("brute-force protection", "suspicious IP throttling", "breached password"):
        assert title in result.stdout
    assert "administrator emails: (none)" in result.stdout


def test_set_brute_force_round_trips_and_is_what_the_server_reads(cli: Cli) -> None:
    policy = cli.json(
        "protection", "set", "brute-force",
        "--max-attempts", "3",
        "--mode", "count_per_identifier",
        "--shield", "block",
        "--allowlist", "10.0.0.0/8",
        "--allowlist", "2001:db8::/32",
        "--disabled",
    )  # fmt: skip
    assert policy == {
        "enabled": False,
        "shields": ["block"],
        "allowlist": ["10.0.0.0/8", "2001:db8::/32"],
        "mode": "count_per_identifier",
        "max_attempts": 3,
    }
    assert cli.show()[BRUTE_FORCE] == policy
    engine = make_engine(cli.database_url)
    try:
        assert SettingsStore(engine).get_brute_force().to_json() == policy
    finally:
        engine.dispose()

    again = cli.json("protection", "set", "brute-force", "--enabled", "--no-shields")
    assert again == policy | {"enabled": True, "shields": []}
    cleared = cli.json("protection", "set", "brute-force", "--clear-allowlist")
    assert cleared["allowlist"] == []


def test_set_suspicious_ip_changes_only_the_named_stage_fields(cli: Cli) -> None:
    policy = cli.json(
        "protection", "set", "suspicious-ip",
        "--pre-login-max-attempts", "2500",
        "--pre-login-rate", "34560",
        "--signup-max-attempts", "7",
        "--shield", "block",
        "--allowlist", "192.0.2.1",
    )  # fmt: skip
    assert policy["stage"] == {
        "pre-login": {"max_attempts": 2500, "rate": 34560},
        "pre-user-registration": {"max_attempts": 7, "rate": 1200},
    }
    assert policy["shields"] == ["block"]
    assert policy["allowlist"] == ["192.0.2.1"]
    assert cli.show()[SUSPICIOUS_IP] == policy


def test_set_breached_password_stage_shields_and_frequency(cli: Cli) -> None:
    policy = cli.json(
        "protection", "set", "breached-password",
        "--shield", "block",
        "--admin-frequency", "daily",
        "--admin-frequency", "weekly",
        "--no-signup-shields",
        "--change-password-shield", "admin_notification",
    )  # fmt: skip
    assert policy == {
        "enabled": True,
        "shields": ["block"],
        "admin_notification_frequency": ["daily", "weekly"],
        "method": "standard",
        "stage": {
            "pre-user-registration": {"shields": []},
            "pre-change-password": {"shields": ["admin_notification"]},
        },
    }
    assert cli.show()[BREACHED] == policy


def test_patch_merges_objects_field_by_field_and_replaces_arrays(cli: Cli) -> None:
    cli.json("protection", "set", "suspicious-ip", "--allowlist", "192.0.2.1")
    patch = {"allowlist": ["198.51.100.0/24"], "stage": {"pre-login": {"rate": 40000}}}
    policy = cli.json("protection", "set", "suspicious-ip", "--patch", json.dumps(patch))
    assert policy["allowlist"] == ["198.51.100.0/24"]
    assert policy["stage"] == {
        "pre-login": {"max_attempts": 100, "rate": 40000},
        "pre-user-registration": {"max_attempts": 50, "rate": 1200},
    }


def test_patch_can_come_from_stdin(cli: Cli) -> None:
    policy = cli.json(
        "protection", "set", "brute-force", "--patch", "-", input='{"max_attempts": 5}'
    )
    assert policy["max_attempts"] == 5


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("brute-force", "--max-attempts", "0"), "max_attempts"),
        (("brute-force", "--max-attempts", "101"), "--max-attempts"),
        (("brute-force", "--mode", "count_per_ip"), "mode"),
        (("brute-force", "--shield", "admin_notification"), "shields[0]"),
        (("brute-force", "--allowlist", "10.0.0.1/8"), "allowlist[0]"),
        (("brute-force", "--allowlist", "10.0.0.0/8", "--allowlist", "nope"), "allowlist[1]"),
        (("brute-force", "--shield", "block", "--no-shields"), "--no-shields"),
        (("brute-force", "--allowlist", "10.0.0.0/8", "--clear-allowlist"), "--clear-allowlist"),
        (("brute-force", "--patch", '{"max_attempts": 5}', "--disabled"), "--patch"),
        (("brute-force",), "nothing to change"),
        (("brute-force", "--patch", '{"lockout": true}'), "lockout: unknown field"),
        (("brute-force", "--patch", '{"max_attempts": "5"}'), "max_attempts: must be an integer"),
        (("brute-force", "--patch", "{not json"), "not valid JSON"),
        (("brute-force", "--patch", "[]"), "must be an object"),
        (("suspicious-ip", "--pre-login-rate", "34559"), "stage.pre-login.rate"),
        (("suspicious-ip", "--signup-max-attempts", "72001"), "pre-user-registration.max_attempts"),
        (("suspicious-ip", "--patch", '{"stage": {"post-login": {}}}'), "stage.post-login"),
        (("breached-password", "--admin-frequency", "hourly"), "admin_notification_frequency"),
        (("breached-password", "--signup-shield", "user_notification"), "pre-user-registration"),
        (("breached-password", "--patch", '{"method": "enhanced"}'), "method"),
    ],
)
def test_a_refused_value_names_the_field_and_changes_nothing(
    cli: Cli, args: tuple[str, ...], named: str
) -> None:
    before = cli.show()
    message = cli.fails("protection", "set", *args)
    assert named in message
    assert cli.show() == before


# -- protection admins -------------------------------------------------------------------


def test_admins_are_stored_as_a_json_list_in_the_tenant_settings(cli: Cli) -> None:
    stored = cli.json(
        "protection", "admins", "set", "sec@example.com", "ops@example.org", "SEC@example.com"
    )
    assert stored == {"admin_emails": ["sec@example.com", "ops@example.org"]}
    assert cli.show()["admin_emails"] == ["sec@example.com", "ops@example.org"]
    engine = make_engine(cli.database_url)
    try:
        assert TenantStore(engine).get("admin_emails") == ["sec@example.com", "ops@example.org"]
    finally:
        engine.dispose()

    assert cli.json("protection", "admins", "clear") == {"admin_emails": []}
    assert cli.show()["admin_emails"] == []


@pytest.mark.parametrize("bad", ["nobody", "@example.com", "a b@example.com", "x@"])
def test_admins_set_refuses_a_bad_address_and_keeps_the_list(cli: Cli, bad: str) -> None:
    cli.json("protection", "admins", "set", "sec@example.com")
    assert repr(bad) in cli.fails("protection", "admins", "set", "ops@example.com", bad)
    assert cli.show()["admin_emails"] == ["sec@example.com"]


# -- the counters backends -------------------------------------------------------------


@dataclass
class Backend:
    """A CLI on one database and counters backend, and the same counters to drive."""

    cli: Cli
    counters: AttackCounters
    kind: str
    #: Unique per test, so tests sharing one Redis server never meet.
    token: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def identifier(self) -> str:
        return f"user-{self.token}@example.com"

    def ip(self, n: int) -> str:
        # 198.19.0.0/16 (benchmarking), used by no other test: the other tests on the shared
        # Redis server (and earlier runs on this machine) use 198.18.0.0/16.
        value = int(self.token[:4], 16)
        return f"198.19.{value >> 8}.{(value + n) % 256}"

    def fail(self, ip: str, times: int, *, identifier: str | None = None) -> float:
        """``times`` failed logins for (identifier, ip), as the password grant records them."""
        key = attempt_key(
            PER_IDENTIFIER_AND_IP, DEFAULT_CONNECTION, identifier or self.identifier, ip
        )
        now = time.time()
        for _ in range(times):
            self.counters.record_failure(key, now=now, release=False)
        return now

    def empty_bucket(self, ip: str, *, capacity: int, rate_ms: int) -> None:
        now = time.time()
        rate_s = ip_throttle.rate_seconds(rate_ms)
        for _ in range(capacity):
            assert self.counters.take_token(
                ip, ip_throttle.PRE_LOGIN, capacity=capacity, rate_s=rate_s, now=now
            )
        assert not self.counters.has_token(
            ip, ip_throttle.PRE_LOGIN, capacity=capacity, rate_s=rate_s, now=now
        )


def _forget_redis_keys(url: str, token: str, ips: list[str]) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        mine = list(client.scan_iter(match=f"{REDIS_PREFIX}*{token}*", count=500))
        mine += [f"{REDIS_PREFIX}bucket:{ip}" for ip in ips]
        client.delete(*mine)
        recent = f"{REDIS_PREFIX}la-recent"
        members = [m for m, _ in client.zscan_iter(recent, match=f"*{token}*")]
        if members:
            client.zrem(recent, *members)
    finally:
        client.close()


@pytest.fixture(params=["sql", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, sql_url: str, tmp_path: Path) -> Iterator[Backend]:
    env: dict[str, str | None] = {"PASSGATE_DATABASE_URL": sql_url}
    if request.param == "sql":
        engine = make_engine(sql_url)
        try:
            yield Backend(Cli(tmp_path / "data", env), SqlCounters(engine), "sql")
        finally:
            engine.dispose()
        return
    url: str = request.getfixturevalue("redis_url")
    env["PASSGATE_REDIS_URL"] = url
    counters = RedisCounters.from_url(url, prefix=REDIS_PREFIX)
    made = Backend(Cli(tmp_path / "data", env), counters, "redis")
    # A run killed before its clean-up leaves its buckets behind for up to a day.
    _forget_redis_keys(url, made.token, [made.ip(n) for n in range(4)])
    try:
        yield made
    finally:
        counters.close()
        _forget_redis_keys(url, made.token, [made.ip(n) for n in range(4)])


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


# -- blocks ------------------------------------------------------------------------------


def test_blocks_list_shows_blocked_pairs_until_30_days_after_the_last_failure(
    backend: Backend,
) -> None:
    cli, ip1, ip2, ip3 = backend.cli, backend.ip(1), backend.ip(2), backend.ip(3)
    when = backend.fail(ip1, 10)
    backend.fail(ip2, 10)
    backend.fail(ip3, 9)  # one short of the threshold: counted, not blocked

    listed = cli.json("blocks", "list", "--identifier", backend.identifier.upper())
    assert listed["enforced"] is True
    rows = listed["blocked_for"]
    assert sorted(row["ip"] for row in rows) == sorted([ip1, ip2])
    first = next(row for row in rows if row["ip"] == ip1)
    assert first == {
        "identifier": backend.identifier,
        "ip": ip1,
        "connection": DEFAULT_CONNECTION,
        "user_id": None,
        "failures": 10,
        "last_failure": _iso(when),
        "blocked_until": _iso(when + timedelta(days=30).total_seconds()),
    }
    everyone = cli.json("blocks", "list")["blocked_for"]
    assert all(row in everyone for row in rows)

    readable = cli.run("blocks", "list", "--identifier", backend.identifier)
    assert readable.exit_code == 0
    assert ip1 in readable.stdout
    assert ip3 not in readable.stdout


def test_blocks_list_follows_the_current_policy(backend: Backend) -> None:
    cli, ip1, ip2 = backend.cli, backend.ip(1), backend.ip(2)
    backend.fail(ip1, 10)
    backend.fail(ip2, 10)

    def listed() -> list[str]:
        found = cli.json("blocks", "list", "--identifier", backend.identifier)["blocked_for"]
        return sorted(row["ip"] for row in found)

    cli.json("protection", "set", "brute-force", "--allowlist", f"{ip1}/32")
    assert listed() == [ip2]  # allowlisted IPs are never blocked
    cli.json("protection", "set", "brute-force", "--max-attempts", "11", "--clear-allowlist")
    assert listed() == []  # raising the threshold lifts the blocks
    cli.json("protection", "set", "brute-force", "--max-attempts", "10", "--no-shields")
    assert listed() == sorted([ip1, ip2])
    assert cli.json("blocks", "list")["enforced"] is False  # monitoring: shown, not enforced
    cli.json("protection", "set", "brute-force", "--mode", "count_per_identifier")
    assert listed() == []  # per-(identifier, IP) counts do not block in the other mode


def test_blocks_remove_releases_one_pair_then_the_rest_with_one_event_each(
    backend: Backend,
) -> None:
    cli, ip1, ip2, ip3 = backend.cli, backend.ip(1), backend.ip(2), backend.ip(3)
    backend.fail(ip1, 10)
    backend.fail(ip2, 12)
    backend.fail(ip3, 4)

    removed = cli.json(
        "blocks", "remove", "--identifier", f" {backend.identifier.title()} ", "--ip", ip1
    )
    assert removed["identifier"] == backend.identifier
    assert [row["ip"] for row in removed["released"]] == [ip1]
    assert removed["reset_counters"] == 1
    still = cli.json("blocks", "list", "--identifier", backend.identifier)["blocked_for"]
    assert [row["ip"] for row in still] == [ip2]

    events = cli.json("logs", "--type", "ublkdu")
    assert len(events) == 1
    assert events[0]["type"] == "ublkdu"
    assert events[0]["ip"] == ip1
    assert events[0]["user_name"] == backend.identifier
    assert events[0]["connection"] == DEFAULT_CONNECTION
    assert events[0]["details"] == {"released_by": "administrator (cli)"}

    result = cli.run("blocks", "remove", "--identifier", backend.identifier)
    assert result.exit_code == 0
    assert "released 1 block(s)" in result.stdout
    assert ip2 in result.stdout
    assert cli.json("blocks", "list", "--identifier", backend.identifier)["blocked_for"] == []
    events = cli.json("logs", "--type", "ublkdu")
    assert [event["ip"] for event in events] == [ip2, ip1]
    # The counter below the threshold was reset too: ten more failures to block again.
    key = attempt_key(PER_IDENTIFIER_AND_IP, DEFAULT_CONNECTION, backend.identifier, ip3)
    assert backend.counters.failures(key, now=time.time()) == 0


def test_blocks_remove_finding_nothing_says_so_and_exits_0(backend: Backend) -> None:
    cli, ip1 = backend.cli, backend.ip(1)
    backend.fail(ip1, 10)

    result = cli.run("blocks", "remove", "--identifier", backend.identifier, "--ip", backend.ip(2))
    assert result.exit_code == 0
    assert "no block found" in result.stdout
    nothing = cli.json(
        "blocks", "remove", "--identifier", backend.identifier, "--connection", "other-db"
    )
    assert nothing == {"identifier": backend.identifier, "released": [], "reset_counters": 0}
    assert cli.json("logs", "--type", "ublkdu") == []
    assert len(cli.json("blocks", "list", "--identifier", backend.identifier)["blocked_for"]) == 1

    released = cli.json(
        "blocks", "remove", "--identifier", backend.identifier, "--connection", DEFAULT_CONNECTION
    )
    assert [row["ip"] for row in released["released"]] == [ip1]


def test_blocks_remove_refuses_a_bad_ip(cli: Cli) -> None:
    assert "not an IP address" in cli.fails(
        "blocks", "remove", "--identifier", "a@example.com", "--ip", "203.0.113.0/24"
    )


def test_the_ublkdu_event_names_the_user_when_there_is_one(cli: Cli) -> None:
    cli.json("migrate")
    engine = make_engine(cli.database_url)
    try:
        user = Directory(engine).create_user(
            connection=DEFAULT_CONNECTION, email="alice@example.com", password_hash="unused"
        )
        backend = Backend(cli, SqlCounters(engine), "sql")
        backend.fail("203.0.113.7", 10, identifier="Alice@Example.com")
        cli.json("blocks", "remove", "--identifier", "alice@example.com")
    finally:
        engine.dispose()
    [event] = cli.json("logs", "--type", "ublkdu")
    assert event["user_id"] == user.id
    assert event["user_name"] == "alice@example.com"


def test_blocks_of_an_account_are_found_and_removed_by_any_of_its_identifiers(cli: Cli) -> None:
    """Logins count against the account, so its email, username, user id and any
    spelling of them name the same blocks; ``blocks remove`` takes it positionally."""
    cli.json("migrate")
    engine = make_engine(cli.database_url)
    try:
        directory = Directory(engine)
        user = directory.create_user(
            connection=DEFAULT_CONNECTION,
            email="jesse.ross@example.com",
            username="jesse",
            password_hash="unused",
        )
        counters = SqlCounters(engine)
        for ip in ("203.0.113.7", "203.0.113.8"):
            key = login_key(directory, PER_IDENTIFIER_AND_IP, "JE\u017fSE", ip)
            for _ in range(10):
                counters.record_failure(key, now=time.time(), release=False)
    finally:
        engine.dispose()
    for name in ("jesse", "je\u00dfe.ross@example.com", user.id, "JESSE.ROSS@EXAMPLE.COM"):
        rows = cli.json("blocks", "list", "--identifier", name)["blocked_for"]
        assert [(r["identifier"], r["user_id"]) for r in rows] == [
            ("jesse.ross@example.com", user.id)
        ] * 2, name
    assert cli.json("blocks", "list", "--identifier", "jess")["blocked_for"] == []

    one = cli.json("blocks", "remove", "je\u017fse.ross@example.com", "--ip", "203.0.113.7")
    assert [r["ip"] for r in one["released"]] == ["203.0.113.7"]
    rest = cli.json("blocks", "remove", user.id)
    assert [r["ip"] for r in rest["released"]] == ["203.0.113.8"]
    events = cli.json("logs", "--type", "ublkdu")
    assert {e["user_id"] for e in events} == {user.id}
    assert cli.json("blocks", "list")["blocked_for"] == []


def test_users_set_password_releases_the_accounts_blocks(backend: Backend) -> None:
    """A new password ends the account's brute-force blocks, set by the user or by an
    administrator (``users set-password``), on every counters backend."""
    cli = backend.cli
    name = f"u{backend.token}"
    created = cli.json(
        "users", "create", "--email", backend.identifier, "--username", name,
        "--password-stdin", input="an old long passphrase\n",
    )  # fmt: skip
    engine = make_engine(cli.database_url)
    try:
        directory = Directory(engine)
        now = time.time()
        for ip in (backend.ip(1), backend.ip(2)):
            key = login_key(directory, PER_IDENTIFIER_AND_IP, name.upper(), ip)
            for _ in range(10):
                backend.counters.record_failure(key, now=now, release=False)
    finally:
        engine.dispose()
    assert len(cli.json("blocks", "list", "--identifier", name)["blocked_for"]) == 2

    cli.json(
        "users",
        "set-password",
        backend.identifier,
        "--password-stdin",
        input="a new long passphrase\n",
    )
    assert cli.json("blocks", "list", "--identifier", name)["blocked_for"] == []
    (event,) = cli.json("logs", "--type", "ublkdu")
    assert event["user_id"] == created["user_id"]
    assert event["details"]["released_by"] == "password change (administrator (cli))"


def test_blocks_remove_needs_one_identifier(cli: Cli) -> None:
    cli.json("migrate")
    missing = cli.run("blocks", "remove")
    assert missing.exit_code == 2
    assert "missing IDENTIFIER" in missing.stderr
    both = cli.run("blocks", "remove", "a@example.com", "--identifier", "b@example.com")
    assert both.exit_code == 2
    assert "Traceback" not in both.output
    same = cli.json("blocks", "remove", "a@example.com", "--identifier", "a@example.com")
    assert same["released"] == []


# -- ip-blocks ---------------------------------------------------------------------------


def _throttle(cli: Cli, *extra: str) -> None:
    cli.json(
        "protection", "set", "suspicious-ip",
        "--pre-login-max-attempts", "2",
        "--pre-login-rate", "34560",
        *extra,
    )  # fmt: skip


def test_ip_blocks_show_an_untouched_ip_is_not_blocked(backend: Backend) -> None:
    shown = backend.cli.json("ip-blocks", "show", backend.ip(1))
    assert shown == {
        "ip": backend.ip(1),
        "blocked": False,
        "throttling": "enforce",
        "stages": {
            "pre-login": {
                "throttled": False,
                "remaining": 100,
                "max_attempts": 100,
                "retry_after": 0.0,
            },
            "pre-user-registration": {
                "throttled": False,
                "remaining": 50,
                "max_attempts": 50,
                "retry_after": 0.0,
            },
        },
    }


def test_ip_blocks_show_and_remove_an_emptied_bucket(backend: Backend) -> None:
    cli, ip = backend.cli, backend.ip(1)
    _throttle(cli)
    backend.empty_bucket(ip, capacity=2, rate_ms=34560)

    result = cli.run("ip-blocks", "show", ip)
    assert result.exit_code == 0
    assert f"{ip}: blocked" in result.stdout
    shown = cli.json("ip-blocks", "show", ip)
    assert shown["blocked"] is True
    login = shown["stages"]["pre-login"]
    assert login["throttled"] is True
    assert login["remaining"] == 0
    assert 0 < login["retry_after"] <= 34.56
    assert shown["stages"]["pre-user-registration"]["throttled"] is False
    # IPv4-mapped IPv6 is the same address, so the same bucket.
    assert cli.json("ip-blocks", "show", f"::ffff:{ip}")["blocked"] is True

    removed = cli.json("ip-blocks", "remove", ip)
    assert removed == {
        "ip": ip,
        "was_throttled": True,
        "throttled_stages": ["pre-login"],
        "refilled": True,
    }
    after = cli.json("ip-blocks", "show", ip)
    assert after["blocked"] is False
    assert after["stages"]["pre-login"]["remaining"] == 2

    again = cli.run("ip-blocks", "remove", ip)
    assert again.exit_code == 0
    assert "not throttled; nothing to refill" in again.stdout


def test_ip_blocks_an_empty_bucket_blocks_only_when_enforced(backend: Backend) -> None:
    cli, ip = backend.cli, backend.ip(2)
    _throttle(cli, "--shield", "admin_notification")
    backend.empty_bucket(ip, capacity=2, rate_ms=34560)

    monitored = cli.json("ip-blocks", "show", ip)
    assert (monitored["blocked"], monitored["throttling"]) == (False, "monitor")
    assert monitored["stages"]["pre-login"]["throttled"] is True

    _throttle(cli, "--shield", "block", "--allowlist", f"{ip}/32")
    allowlisted = cli.json("ip-blocks", "show", ip)
    assert (allowlisted["blocked"], allowlisted["throttling"]) == (False, "off")

    _throttle(cli, "--clear-allowlist")
    assert cli.json("ip-blocks", "show", ip)["blocked"] is True


@pytest.mark.parametrize("bad", ["localhost", "203.0.113.0/24", "fe80::1%eth0", "1.2.3.4.5"])
@pytest.mark.parametrize("command", ["show", "remove"])
def test_ip_blocks_refuse_what_is_not_one_ip_address(cli: Cli, command: str, bad: str) -> None:
    assert f"not an IP address: {bad!r}" in cli.fails("ip-blocks", command, bad)


# -- Redis unavailable --------------------------------------------------------------------


def test_unreachable_redis_is_an_error_or_falls_back_to_sql_as_configured(cli: Cli) -> None:
    down = {"PASSGATE_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = cli.run("ip-blocks", "show", "203.0.113.7", env=down)
    assert result.exit_code == 1
    assert "attack-protection counters" in result.stderr
    assert "Traceback" not in result.output

    fallback = cli.run(
        "ip-blocks", "show", "203.0.113.7", "--json",
        env=down | {"PASSGATE_REDIS_UNAVAILABLE": "fallback"},
    )  # fmt: skip
    assert fallback.exit_code == 0, fallback.output
    assert json.loads(fallback.stdout)["blocked"] is False
