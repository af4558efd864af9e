"""``passgate doctor``'s findings, each from a real situation: logins through the token
endpoint of a real stack (their events written to the database, where the doctor reads
them), the stack's own clients, policies, keys and issuer; events appended directly only
where the situation is an event's content (several processes, a request without its
secret). A correct setup reports nothing; ``GET /api/v2/passgate/doctor`` serves the same
findings."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from passgate.breached.importer import import_corpus
from passgate.domain.client_ip import IGNORED_NO_SECRET
from passgate.domain.doctor import ENOUGH_LOGINS, MANY_USERS, Finding
from passgate.domain.events import Event
from passgate.keys.issuer import ISSUER_KEY
from passgate.management.doctor import Doctor, doctor_for
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.tenant import TenantStore
from tests.management.helpers import Admin, assert_api_error
from tests.protection_e2e.helpers import APP_SERVER_IP, NamedClient, Stack

pytestmark = pytest.mark.anyio

DAY = 86400.0
USER_PASSWORD = "a long enough passphrase 9"
HEALTHY: dict[str, Any] = {"smtp_url": SecretStr("smtp://mail.example:587")}


# -- helpers ---------------------------------------------------------------------------


def persist(stack: Stack) -> None:
    """Write what the token path emitted to the event log (the buffered sink's job)."""
    stack.passgate.event_log.append(stack.events.events)
    stack.events.clear()


def users(stack: Stack, count: int) -> list[str]:
    """``count`` more users (usernames), each with :data:`USER_PASSWORD`."""
    made = []
    password_hash = stack.passgate.hasher.hash(USER_PASSWORD)
    for n in range(count):
        name = f"user{n}"
        stack.passgate.directory.create_user(
            connection=DEFAULT_CONNECTION,
            email=f"{name}@example.com",
            username=name,
            password_hash=password_hash,
        )
        made.append(name)
    return made


async def log_in(
    stack: Stack,
    names: Sequence[str],
    client: NamedClient,
    forwarded: Callable[[int], str | None] = lambda n: None,
    *,
    peer: str = APP_SERVER_IP,
    headers: Sequence[tuple[str, str]] = (),
) -> None:
    async with stack.http(peer) as http:
        for n, name in enumerate(names):
            answer = await stack.login(
                http, name, USER_PASSWORD, client=client, forwarded=forwarded(n),
                extra_headers=headers,
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
    persist(stack)


def doctor(stack: Stack, *, mounts: Path | None = None, **settings: Any) -> Doctor:
    """The doctor over the stack's database, with ``settings`` changed."""
    passgate = stack.passgate
    changed = passgate.settings.model_copy(update=settings)
    return doctor_for(
        changed,
        passgate.engine,
        clients=passgate.applications.list_clients,
        clock=stack.clock,
        mounts=mounts,
    )


def findings(stack: Stack, *, mounts: Path | None = None, **settings: Any) -> list[Finding]:
    checker = doctor(stack, mounts=mounts, **settings)
    return checker.findings(checker.since(None))


def codes(found: Sequence[Finding]) -> list[str]:
    return [finding.code for finding in found]


def only(found: Sequence[Finding], code: str) -> Finding:
    (finding,) = [f for f in found if f.code == code]
    return finding


def import_index(stack: Stack) -> None:
    corpus = stack.passgate.settings.data_dir / "corpus.txt"
    digest = hashlib.sha1(b"password").hexdigest().upper()
    corpus.write_text(f"{digest}:12345\n")
    import_corpus([corpus], stack.passgate.settings.breached_index_path)


@pytest.fixture
def healthy(make_stack: Callable[..., Stack]) -> Stack:
    """A stack set up right: SMTP, a breached index, no public client with the password
    grant (the test stack has one; it goes)."""
    stack = make_stack(**HEALTHY)
    import_index(stack)
    assert stack.passgate.applications.delete_client(stack.public.id)
    return stack


def process_events(
    stack: Stack, tags: Sequence[str], *, start: float, span_s: float, per_tag: int = 3
) -> None:
    """Password exchanges written by processes ``tags`` (each a ``log_id`` stamp of
    10 hex digits), spread over ``span_s`` seconds from ``start``, each tag's in turn."""
    batch = []
    for t, tag in enumerate(tags):
        for n in range(per_tag):
            date = start + t * span_s + n * span_s / max(per_tag - 1, 1)
            batch.append(
                Event(
                    type="sepft",
                    date=date,
                    log_id=f"{int(date * 1_000_000):017d}{tag}{n:08x}",
                    ip="198.51.100.10",
                    client_ip="198.51.100.10",
                    user_id=f"auth0|{tag}{n}",
                )
            )
    stack.passgate.event_log.append(batch)


# -- a correct setup ----------------------------------------------------------------------


async def test_a_correct_setup_reports_nothing(healthy: Stack) -> None:
    names = users(healthy, MANY_USERS)
    await log_in(healthy, names, healthy.trusted, lambda n: f"198.51.100.{n + 1}")
    await log_in(healthy, names[:3], healthy.trusted_basic, lambda n: f"2001:db8::{n + 1}")

    assert findings(healthy) == []


async def test_the_api_serves_the_findings_and_refuses_a_bad_since(admin: Admin) -> None:
    answer = await admin.call("GET", "/passgate/doctor", params={"since": "1h"})
    assert answer.status_code == 200, answer.text
    found = answer.json()["findings"]
    assert {"smtp_unset", "breached_corpus_missing", "public_client_password_grant"} <= {
        f["code"] for f in found
    }
    public = next(f for f in found if f["code"] == "public_client_password_grant")
    assert public["client_id"] == admin.stack.public.id
    assert list(public) == ["code", "severity", "client_id", "message", "fix"]
    assert all("client_id" not in f for f in found if f["code"] == "smtp_unset")

    for bad in ("yesterday", "7x", "2025-13-01", "-1d"):
        refused = await admin.call("GET", "/passgate/doctor", params={"since": bad})
        assert_api_error(refused, 400, "invalid_query_string")


# -- per client, from the logins ----------------------------------------------------------


async def test_many_users_sharing_the_app_servers_ip_is_an_error(healthy: Stack) -> None:
    names = users(healthy, MANY_USERS)
    await log_in(healthy, names, healthy.untrusted)  # no header: every ip is the app's

    found = findings(healthy)
    assert codes(found) == ["shared_ip_many_users"]
    finding = found[0]
    assert (finding.severity, finding.client_id) == ("error", healthy.untrusted.id)
    assert APP_SERVER_IP in finding.message
    assert f"passgate clients set-trust {healthy.untrusted.id} --on" in finding.fix


async def test_fewer_users_on_one_ip_are_not_reported(healthy: Stack) -> None:
    await log_in(healthy, users(healthy, MANY_USERS - 1), healthy.untrusted)
    assert findings(healthy) == []


async def test_a_trusted_client_that_never_forwards_an_ip(healthy: Stack) -> None:
    names = users(healthy, 2)
    await log_in(healthy, names * (ENOUGH_LOGINS // 2 + 1), healthy.trusted)

    finding = only(findings(healthy), "trusted_client_without_forwarded_ip")
    assert (finding.severity, finding.client_id) == ("warning", healthy.trusted.id)
    assert "auth0-forwarded-for" in finding.fix


async def test_one_forwarded_login_clears_the_trusted_client(healthy: Stack) -> None:
    names = users(healthy, ENOUGH_LOGINS)
    await log_in(healthy, names, healthy.trusted, lambda n: "198.51.100.7" if n == 0 else None)
    assert "trusted_client_without_forwarded_ip" not in codes(findings(healthy))


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("untrusted", "forwarded_ip_ignored_untrusted_client"),
        ("public", "forwarded_ip_ignored_public_client"),
    ],
)
async def test_a_header_sent_but_ignored_says_why(
    make_stack: Callable[..., Stack], kind: str, code: str
) -> None:
    stack = make_stack(**HEALTHY)
    import_index(stack)
    client: NamedClient = getattr(stack, kind)
    await log_in(stack, users(stack, 2), client, lambda n: f"198.51.100.{n + 1}")

    finding = only(findings(stack), code)
    assert (finding.severity, finding.client_id) == ("warning", client.id)
    assert "2 token request(s)" in finding.message
    assert client.id in finding.fix


async def test_a_header_ignored_for_want_of_the_secret(healthy: Stack) -> None:
    """The token path cannot produce it today (a confidential client always authenticates
    with its secret); an event that says so is still explained."""
    healthy.passgate.event_log.append(
        [
            Event(
                type="sepft",
                date=healthy.clock(),
                ip=APP_SERVER_IP,
                client_ip=APP_SERVER_IP,
                client_id=healthy.trusted.id,
                details={"ip_header": IGNORED_NO_SECRET},
            )
        ]
    )
    finding = only(findings(healthy), "forwarded_ip_ignored_no_secret")
    assert finding.client_id == healthy.trusted.id


async def test_forwarding_the_load_balancers_private_ip(healthy: Stack) -> None:
    names = users(healthy, 4)
    await log_in(healthy, names, healthy.trusted, lambda n: f"10.0.0.{n % 2 + 1}")
    await log_in(healthy, names[:1], healthy.trusted_basic, lambda n: "::1")

    found = findings(healthy)
    assert codes(found) == ["forwarded_ip_internal", "forwarded_ip_internal"]
    assert {f.client_id for f in found} == {healthy.trusted.id, healthy.trusted_basic.id}
    assert (
        "10.0.0.1, 10.0.0.2"
        in only(
            [f for f in found if f.client_id == healthy.trusted.id], "forwarded_ip_internal"
        ).message
    )


async def test_the_same_few_forwarded_ips_for_many_users(healthy: Stack) -> None:
    names = users(healthy, MANY_USERS)
    await log_in(healthy, names, healthy.trusted, lambda n: ("198.51.100.77", "2001:db8::5")[n % 2])

    finding = only(findings(healthy), "forwarded_ip_same_few")
    assert finding.client_id == healthy.trusted.id
    assert "198.51.100.77" in finding.message


async def test_a_public_client_with_the_password_grant(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(**HEALTHY)
    import_index(stack)
    finding = only(findings(stack), "public_client_password_grant")
    assert (finding.severity, finding.client_id) == ("warning", stack.public.id)
    stack.passgate.applications.update_client(stack.public.id, grant_types=["refresh_token"])
    assert findings(stack) == []


async def test_events_before_since_are_not_read(healthy: Stack) -> None:
    await log_in(healthy, users(healthy, MANY_USERS), healthy.untrusted)
    healthy.clock.advance(2 * DAY)
    checker = doctor(healthy)
    assert codes(checker.findings(checker.since("3d"))) == ["shared_ip_many_users"]
    assert checker.findings(checker.since("1d")) == []
    assert checker.report("1d") == {"findings": []}


# -- configuration ------------------------------------------------------------------------


async def test_x_forwarded_for_without_trusted_proxies(healthy: Stack) -> None:
    names = users(healthy, 2)
    await log_in(
        healthy, names, healthy.trusted, lambda n: f"198.51.100.{n + 1}",
        peer="10.0.0.5", headers=[("x-forwarded-for", APP_SERVER_IP)],
    )  # fmt: skip

    finding = only(findings(healthy), "trusted_proxies_unset")
    assert finding.severity == "warning"
    assert "10.0.0.5" in finding.message
    assert "PASSGATE_TRUSTED_PROXIES" in finding.fix
    # Once the proxy is trusted, the doctor (run with the servers' settings) is content.
    assert findings(healthy, trusted_proxies=["10.0.0.0/8"]) == []


def mount_table(tmp_path: Path, directory: Path, kind: str) -> Path:
    table = tmp_path / f"mounts-{kind}"
    table.write_text(
        "/dev/sda1 / ext4 rw,relatime 0 0\n"
        f"fileserver:/export {directory.resolve()} {kind} rw,vers=4.2 0 0\n"
    )
    return table


async def test_sqlite_shared_over_a_network_filesystem(
    healthy: Stack, backend: Any, tmp_path: Path
) -> None:
    if not healthy.passgate.settings.uses_sqlite:
        pytest.skip("about SQLite")
    database_dir = Path(healthy.passgate.engine.url.database or "").parent
    nfs = mount_table(tmp_path, database_dir, "nfs4")
    start = healthy.clock() - 3600
    process_events(healthy, ["aaaaaaaaaa"], start=start, span_s=600)

    alone = only(findings(healthy, mounts=nfs), "sqlite_on_network_filesystem")
    assert alone.severity == "info"
    assert findings(healthy, mounts=mount_table(tmp_path, database_dir, "ext4")) == []

    # A second process serving in the same ten minutes: two instances on one file.
    process_events(healthy, ["bbbbbbbbbb"], start=start + 120, span_s=300)
    together = only(findings(healthy, mounts=nfs), "sqlite_on_network_filesystem")
    assert together.severity == "error"
    assert "2 passgate processes" in together.message
    assert "PostgreSQL" in together.fix


async def test_a_restart_is_not_a_second_instance(healthy: Stack, tmp_path: Path) -> None:
    if not healthy.passgate.settings.uses_sqlite:
        pytest.skip("about SQLite")
    database_dir = Path(healthy.passgate.engine.url.database or "").parent
    start = healthy.clock() - 3600
    process_events(healthy, ["aaaaaaaaaa", "cccccccccc"], start=start, span_s=600)
    finding = only(
        findings(healthy, mounts=mount_table(tmp_path, database_dir, "cifs")),
        "sqlite_on_network_filesystem",
    )
    assert finding.severity == "info"


async def test_redis_fallback_with_several_instances(healthy: Stack) -> None:
    redis: dict[str, Any] = {"redis_url": SecretStr("redis://cache.example:6379/0")}
    start = healthy.clock() - 3600
    process_events(healthy, ["aaaaaaaaaa"], start=start, span_s=600)
    assert findings(healthy, **redis, redis_unavailable="fallback") == []

    process_events(healthy, ["bbbbbbbbbb", "dddddddddd"], start=start + 60, span_s=0.0)
    process_events(healthy, ["bbbbbbbbbb", "dddddddddd"], start=start + 500, span_s=0.0)
    finding = only(
        findings(healthy, **redis, redis_unavailable="fallback"), "redis_fallback_multi_instance"
    )
    assert finding.severity == "warning"
    assert "3 passgate processes" in finding.message
    assert "PASSGATE_REDIS_UNAVAILABLE=refuse" in finding.fix
    assert findings(healthy, **redis, redis_unavailable="refuse") == []


async def test_smtp_unset(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    import_index(stack)
    stack.passgate.applications.delete_client(stack.public.id)
    finding = only(findings(stack), "smtp_unset")
    assert finding.severity == "warning"
    assert str(stack.passgate.settings.outbox_dir) in finding.message
    assert codes(findings(stack, **HEALTHY)) == []


async def test_no_breached_corpus(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(**HEALTHY)
    stack.passgate.applications.delete_client(stack.public.id)
    finding = only(findings(stack), "breached_corpus_missing")
    assert "passgate breached import" in finding.fix
    # An upstream range API answers instead; detection turned off needs none.
    assert findings(stack, breached_range_url="https://ranges.example/range/") == []
    stack.passgate.policies.set_breached_password(
        dataclasses.replace(stack.passgate.policies.get_breached_password(), enabled=False)
    )
    assert findings(stack) == []


async def test_a_stale_or_damaged_breached_corpus(healthy: Stack) -> None:
    healthy.clock.set(time.time() + 400 * DAY)
    healthy.passgate.keys.rotate()  # fresh keys: only the corpus is old
    finding = only(findings(healthy), "breached_corpus_stale")
    assert "days ago" in finding.message

    healthy.passgate.settings.breached_index_path.write_bytes(b"not an index")
    damaged = only(findings(healthy), "breached_corpus_unreadable")
    assert damaged.severity == "error"


async def test_signing_keys_older_than_the_rotation_period(healthy: Stack) -> None:
    healthy.clock.advance(181 * DAY)
    finding = only(findings(healthy), "signing_key_old")
    assert "RS256" in finding.message
    assert "ES256" in finding.message
    assert "passgate keys rotate" in finding.fix
    assert findings(healthy, signing_key_rotation_days=365) == []
    assert findings(healthy, signing_key_rotation_days=0) == []

    healthy.passgate.keys.rotate()
    assert findings(healthy) == []


@pytest.mark.parametrize(
    ("issuer", "reported"),
    [
        ("http://auth.example.com/", True),
        ("http://192.0.2.10:8000/", True),
        ("https://auth.example.com/", False),
        ("http://localhost:8000/", False),
        ("http://127.0.0.1:8000/", False),
        ("http://[::1]:8000/", False),
    ],
)
async def test_an_issuer_that_is_not_https(healthy: Stack, issuer: str, reported: bool) -> None:
    TenantStore(healthy.passgate.engine).set(ISSUER_KEY, issuer)
    found = findings(healthy)
    assert codes(found) == (["issuer_not_https"] if reported else [])
    if reported:
        assert found[0].severity == "error"
        assert "passgate issuer set https://" in found[0].fix


@pytest.mark.parametrize(
    ("entries", "wide"),
    [
        (("0.0.0.0/0",), ["0.0.0.0/0"]),
        (("203.0.113.7", "10.0.0.0/8"), ["10.0.0.0/8"]),
        (("2001:db8::/32", "2001:db8:1::/48"), ["2001:db8::/32"]),
        (("203.0.113.0/24", "192.168.0.0/16", "2001:db8::/64"), []),
    ],
)
async def test_allowlists_holding_whole_ranges(
    healthy: Stack, entries: tuple[str, ...], wide: list[str]
) -> None:
    healthy.set_brute_force(allowlist=entries)
    healthy.set_suspicious_ip(allowlist=entries[:1])
    found = [f for f in findings(healthy) if f.code == "allowlist_wide_range"]
    brute_force = [f for f in found if "brute-force" in f.message]
    if not wide:
        assert found == []
        return
    (finding,) = brute_force
    assert all(entry in finding.message for entry in wide)
    assert len(found) == (2 if entries[0] in wide else 1)
