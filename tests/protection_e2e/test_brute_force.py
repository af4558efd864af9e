"""Brute-force protection end to end (SPEC §3): what a user and an attacker see over HTTP.

Logins come from the application server with the end user's IP in ``auth0-forwarded-for``
(a trusted client), as in a real deployment; IP A, B and C are three end users.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from passgate.errors import BRUTE_FORCE_MESSAGE
from passgate.storage.counters import BLOCK_SECONDS
from passgate.storage.directory import DEFAULT_CONNECTION
from tests.protection_e2e.helpers import (
    APP_SERVER_IP,
    BOB_PASSWORD,
    CAROL_PASSWORD,
    IP_A,
    IP_B,
    IP_C,
    PASSWORD,
    WRONG,
    Stack,
    fepft_errors,
)

pytestmark = pytest.mark.anyio

BLOCKED = {"error": "too_many_attempts", "error_description": BRUTE_FORCE_MESSAGE}
WRONG_PASSWORD = {"error": "invalid_grant", "error_description": "Wrong email or password."}


async def login(stack: Stack, username: str, password: str, ip: str) -> httpx.Response:
    async with stack.http() as http:
        return await stack.login(http, username, password, forwarded=ip)


async def fail(stack: Stack, username: str, ip: str, times: int = 10) -> None:
    """``times`` wrong passwords, each answered like any wrong password."""
    async with stack.http() as http:
        for n in range(times):
            answer = await stack.login(http, username, WRONG, forwarded=ip)
            assert answer.status_code == 403, (n, answer.text)
            assert answer.json() == WRONG_PASSWORD


async def status(stack: Stack, username: str, password: str, ip: str) -> int:
    return (await login(stack, username, password, ip)).status_code


async def test_ten_wrong_passwords_block_that_user_from_that_ip_only(stack: Stack) -> None:
    await fail(stack, "alice", IP_A)
    assert stack.hashes.count == 10

    refused = await login(stack, "alice", PASSWORD, IP_A)
    assert refused.status_code == 429
    assert refused.json() == BLOCKED
    assert refused.headers["cache-control"] == "no-store"
    assert stack.hashes.count == 10  # refused without looking at the password

    assert await status(stack, "alice", PASSWORD, IP_B) == 200
    assert await status(stack, "bob", BOB_PASSWORD, IP_A) == 200
    assert await status(stack, "alice", PASSWORD, IP_A) == 429
    assert fepft_errors(stack) == ["invalid_grant"] * 10 + ["too_many_attempts"] * 2


async def test_spellings_of_one_identifier_and_one_ip_share_one_count(stack: Stack) -> None:
    """Changing the case of a username or the spelling of an IPv6 address is not a way
    to get ten more tries."""
    names = ["alice", "ALICE", "Alice", " alice"]
    ips = ["2001:db8::a", "2001:DB8:0:0::A", "2001:0db8::000a", "2001:db8:0:0:0:0:0:a"]
    for n in range(10):
        await fail(stack, names[n % 4], ips[n % 4], times=1)

    for name in names:
        for ip in ips:
            assert await status(stack, name, PASSWORD, ip) == 429, (name, ip)
    assert await status(stack, "alice", PASSWORD, "2001:db8::b") == 200
    (limit,) = stack.events.of_type("limit_wc")
    assert limit.ip == "2001:db8::a"


async def test_unknown_identifiers_are_blocked_exactly_like_real_accounts(stack: Stack) -> None:
    async def story(username: str, ip: str) -> list[tuple[int, object]]:
        out = []
        async with stack.http() as http:
            for password in [WRONG] * 10 + [WRONG, PASSWORD]:
                answer = await stack.login(http, username, password, forwarded=ip)
                out.append((answer.status_code, answer.json()))
        return out

    real = await story("alice", IP_A)
    hashes_for_real = stack.hashes.count
    unknown = await story("nobody@example.com", IP_B)

    assert real == unknown
    assert [code for code, _ in real] == [403] * 10 + [429, 429]
    assert stack.hashes.count == 2 * hashes_for_real == 20
    limits = stack.events.of_type("limit_wc")
    assert [(e.user_name, e.ip) for e in limits] == [("alice", IP_A), ("nobody@example.com", IP_B)]


async def test_limit_wc_is_logged_once_when_the_block_starts(stack: Stack) -> None:
    await fail(stack, "alice", IP_A, times=9)
    assert stack.events.of_type("limit_wc") == []
    await fail(stack, "alice", IP_A, times=1)
    for _ in range(3):
        assert await status(stack, "alice", WRONG, IP_A) == 429

    (limit,) = stack.events.of_type("limit_wc")
    assert limit.ip == IP_A
    assert limit.client_ip == APP_SERVER_IP
    assert limit.user_name == "alice"
    assert limit.connection == DEFAULT_CONNECTION
    assert limit.client_id == stack.trusted.id
    assert limit.details["max_attempts"] == 10
    assert limit.details["blocked"] is True
    # Logged while handling the tenth failure, and never again for the refusals.
    kinds = [e.type for e in stack.events.events]
    assert kinds == ["fepft"] * 9 + ["limit_wc"] + ["fepft"] * 4


async def test_a_successful_login_resets_the_consecutive_count(stack: Stack) -> None:
    await fail(stack, "alice", IP_A, times=9)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200
    await fail(stack, "alice", IP_A, times=9)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200
    # Consecutive means consecutive: ten in a row still block.
    await fail(stack, "alice", IP_A, times=10)
    assert await status(stack, "alice", PASSWORD, IP_A) == 429


async def test_raising_max_attempts_lifts_the_block_and_lowering_it_blocks(
    stack: Stack,
) -> None:
    await fail(stack, "alice", IP_A)
    assert await status(stack, "alice", PASSWORD, IP_A) == 429

    stack.set_brute_force(max_attempts=11)
    assert await status(stack, "alice", WRONG, IP_A) == 403  # the eleventh try is allowed
    assert await status(stack, "alice", PASSWORD, IP_A) == 429

    stack.set_brute_force(max_attempts=20)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200

    await fail(stack, "bob", IP_A, times=5)
    stack.set_brute_force(max_attempts=5)
    assert await status(stack, "bob", BOB_PASSWORD, IP_A) == 429


async def test_a_block_ends_thirty_days_after_the_last_failure(stack: Stack) -> None:
    await fail(stack, "alice", IP_A)
    blocked_at = stack.clock()

    # Refused attempts during the block are not failures: they do not extend it.
    stack.clock.advance(29 * 24 * 3600)
    assert await status(stack, "alice", PASSWORD, IP_A) == 429
    stack.clock.set(blocked_at + BLOCK_SECONDS - 0.5)
    assert await status(stack, "alice", PASSWORD, IP_A) == 429
    stack.clock.set(blocked_at + BLOCK_SECONDS)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200
    # And the count starts afresh.
    await fail(stack, "alice", IP_A, times=9)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200


async def test_without_shields_failures_are_logged_but_never_blocked(stack: Stack) -> None:
    stack.set_brute_force(shields=())
    await fail(stack, "alice", IP_A, times=15)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200

    (limit,) = stack.events.of_type("limit_wc")
    assert limit.ip == IP_A
    assert limit.details["blocked"] is False
    assert stack.mailer.sent == []
    assert "too_many_attempts" not in fepft_errors(stack)


async def test_allowlisted_ips_are_never_counted(stack: Stack) -> None:
    stack.set_brute_force(allowlist=(IP_A, "2001:db8:1::/48"))
    await fail(stack, "alice", IP_A, times=15)
    await fail(stack, "alice", "2001:db8:1::99", times=15)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200
    assert stack.events.of_type("limit_wc") == []

    # Off the allowlist, the fifteen earlier failures were never counted: ten are needed.
    stack.set_brute_force(allowlist=())
    await fail(stack, "alice", IP_A, times=9)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200
    await fail(stack, "alice", "2001:db8:1::99", times=9)
    assert await status(stack, "alice", PASSWORD, "2001:db8:1::99") == 200


async def test_count_per_identifier_blocks_the_identifier_from_every_ip(stack: Stack) -> None:
    stack.set_brute_force(mode="count_per_identifier")
    for n in range(10):
        await fail(stack, "alice", f"192.0.2.{n}", times=1)

    assert await status(stack, "alice", PASSWORD, IP_C) == 429
    assert await status(stack, "alice", PASSWORD, "2001:db8::c") == 429
    assert await status(stack, "bob", BOB_PASSWORD, "192.0.2.9") == 200
    (limit,) = stack.events.of_type("limit_wc")
    assert (limit.user_name, limit.ip) == ("alice", "192.0.2.9")


LINK = re.compile(r"https://passgate\.test/unblock\?ticket=\S+")


async def test_the_user_gets_one_email_with_an_unblock_link_at_most_hourly_per_ip(
    stack: Stack,
) -> None:
    await fail(stack, "alice", IP_A)
    (mail,) = stack.mailer.sent
    assert mail.to == "alice@example.com"
    assert LINK.search(mail.text), mail.text
    assert IP_A in mail.text
    assert WRONG not in mail.text
    assert PASSWORD not in mail.text

    for _ in range(3):  # refusals send nothing more
        assert await status(stack, "alice", PASSWORD, IP_A) == 429
    await fail(stack, "bob", IP_A)  # same IP within the hour: no second email
    await fail(stack, "nobody", IP_B)  # no account: nobody to tell
    await fail(stack, "carol", IP_C)  # another IP: its own email
    assert [m.to for m in stack.mailer.sent] == ["alice@example.com", "carol@example.com"]

    stack.clock.advance(3600)
    # The same account by its email is the same block: refused, nothing sent.
    assert await status(stack, "Alice@Example.com", PASSWORD, IP_A) == 429
    await fail(stack, "carol", IP_A)  # an hour on, the IP may send again
    assert [m.to for m in stack.mailer.sent][-1] == "carol@example.com"
    assert len(stack.mailer.sent) == 3


async def test_following_the_unblock_link_lifts_that_block_once(stack: Stack) -> None:
    await fail(stack, "alice", IP_A)
    await fail(stack, "alice", IP_B)
    mail_a, mail_b = stack.mailer.sent
    assert IP_A in mail_a.text
    assert IP_B in mail_b.text
    found = LINK.search(mail_a.text)
    assert found is not None
    link = urlsplit(found.group(0))
    ticket = link.query.removeprefix("ticket=")

    async with stack.http(IP_A) as browser:
        # Opening the link (as a mail scanner would) only shows a button.
        page = await browser.get(f"{link.path}?{link.query}")
        assert page.status_code == 200
        assert ticket in page.text
        assert await status(stack, "alice", PASSWORD, IP_A) == 429
        released = await browser.post(link.path, data={"ticket": ticket})
        assert released.status_code == 200, released.text

        assert await status(stack, "alice", PASSWORD, IP_A) == 200
        assert await status(stack, "alice", PASSWORD, IP_B) == 429  # its own link, not this one
        (event,) = stack.events.of_type("ublkdu")
        assert (event.user_id, event.ip) == (stack.alice.id, IP_A)

        # Single use: the link does nothing the second time.
        await fail(stack, "alice", IP_A)
        again = await browser.post(link.path, data={"ticket": ticket})
        assert again.status_code == 410
        assert (await browser.get(f"{link.path}?{link.query}")).status_code == 410
    assert await status(stack, "alice", PASSWORD, IP_A) == 429
    assert await status(stack, "carol", CAROL_PASSWORD, IP_A) == 200
