"""``passgate doctor``'s findings, each from a real situation: logins through the token
endpoint of a real stack (their events written to the database, where the doctor reads
them), the stack's own clients, policies, keys and issuer; events appended directly only
where the situation is an event's content (several processes, a request without its
secret). A correct setup reports nothing; ``GET /api/v2/passgate/doctor`` serves the same
findings."""

from __future__ import annotations

import dataclasses
import hashlib
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
HEALTHY = {"smtp_url": SecretStr("smtp://mail.example:587")}


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


def doctor(stack: Stack, mounts: Path | None = None, **settings: Any) -> Doctor:
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


def findings(stack: Stack, mounts: Path | None = None, **settings: Any) -> list[Finding]:
    checker = doctor(stack, mounts, **settings)
    return checker.findings(checker.since(None))


def codes(found: Sequence[Finding]) -> list[str]:
    return [finding.code for finding in found]


def only(found: Sequence[Finding], code: str) -> Finding:
    (finding,) = [f for f in found if f.code == code]
    return finding


def import_index(stack: Stack) -> None:
    corpus = stack.passgate.settings.data_dir / "corpus.txt"
    digest = hashlib.sha1(b"password").hexdigest().upper()  # noqa: S324 - the corpus format
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
                    client_id=stack.trusted.id,
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
