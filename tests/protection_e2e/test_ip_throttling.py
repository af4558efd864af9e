"""Suspicious IP throttling end to end (SPEC §4), and the per-user-per-IP login rate.

The end user's IP is forwarded by a trusted client, as in a real deployment. The clock is
manual: refills are checked to the millisecond without sleeping.
"""

from __future__ import annotations

import httpx
import pytest

from passgate.errors import SUSPICIOUS_IP_MESSAGE
from passgate.protection.guard import SUL_MESSAGE
from tests.protection_e2e.helpers import (
    APP_SERVER_IP,
    BOB_PASSWORD,
    IP_A,
    IP_B,
    PASSWORD,
    WRONG,
    Stack,
)

pytestmark = pytest.mark.anyio

THROTTLED = {"error": "too_many_attempts", "error_description": SUSPICIOUS_IP_MESSAGE}


async def login(stack: Stack, username: str, password: str, ip: str) -> httpx.Response:
    async with stack.http() as http:
        return await stack.login(http, username, password, forwarded=ip)


async def status(stack: Stack, username: str, password: str, ip: str) -> int:
    return (await login(stack, username, password, ip)).status_code


async def spray(stack: Stack, ip: str, count: int, start: int = 0) -> list[int]:
    """One wrong password for each of ``count`` different accounts."""
    async with stack.http() as http:
        return [
            (await stack.login(http, f"user{n}@example.com", WRONG, forwarded=ip)).status_code
            for n in range(start, start + count)
        ]


async def test_a_hundred_failures_across_a_hundred_accounts_throttle_the_ip(
    stack: Stack,
) -> None:
    stack.passgate.tenant.set("admin_emails", ["security@example.com"])
    assert await spray(stack, IP_A, 99) == [403] * 99
    assert stack.events.of_type("limit_mu") == []
    assert await spray(stack, IP_A, 1, start=99) == [403]

    refused = await login(stack, "user100@example.com", WRONG, IP_A)
    assert refused.status_code == 429
    assert refused.json() == THROTTLED
    hashes = stack.hashes.count
    right = await login(stack, "alice", PASSWORD, IP_A)  # a real user on that IP, too
    assert (right.status_code, right.json()) == (429, THROTTLED)
    assert stack.hashes.count == hashes

    assert await status(stack, "alice", PASSWORD, IP_B) == 200
    assert await status(stack, "bob", BOB_PASSWORD, APP_SERVER_IP) == 200
    (limit,) = stack.events.of_type("limit_mu")
    assert (limit.ip, limit.client_ip) == (IP_A, APP_SERVER_IP)
    (alert,) = stack.mailer.sent
    assert alert.to == "security@example.com"
    assert IP_A in alert.subject


async def test_the_bucket_returns_one_attempt_per_rate_and_not_before(stack: Stack) -> None:
    stack.set_pre_login(max_attempts=5, rate_ms=60_000)
    assert await spray(stack, IP_A, 5) == [403] * 5
    assert await spray(stack, IP_A, 1, start=5) == [429]

    stack.clock.advance(59.99)
    assert await spray(stack, IP_A, 1, start=6) == [429]
    stack.clock.advance(0.01)
    assert await spray(stack, IP_A, 2, start=7) == [403, 429]

    stack.clock.advance(120)
    assert await spray(stack, IP_A, 3, start=9) == [403, 403, 429]
    # Refused attempts took nothing: a full period later the bucket is full again.
    stack.clock.advance(5 * 60)
    assert await spray(stack, IP_A, 6, start=12) == [403] * 5 + [429]


async def test_an_allowlisted_ip_is_never_throttled(stack: Stack) -> None:
    stack.set_pre_login(max_attempts=5, rate_ms=60_000)
    stack.set_suspicious_ip(allowlist=(IP_A,))
    assert await spray(stack, IP_A, 12) == [403] * 12
    assert stack.events.of_type("limit_mu") == []
    assert await spray(stack, IP_B, 6) == [403] * 5 + [429]


async def test_without_the_block_shield_an_emptied_bucket_is_only_logged(stack: Stack) -> None:
    stack.set_pre_login(max_attempts=5, rate_ms=60_000)
    stack.set_suspicious_ip(shields=())
    assert await spray(stack, IP_A, 8) == [403] * 8
    (limit,) = stack.events.of_type("limit_mu")
    assert limit.ip == IP_A
    assert limit.details["blocked"] is False


async def test_malformed_requests_and_successes_take_nothing_from_the_bucket(
    stack: Stack,
) -> None:
    stack.set_pre_login(max_attempts=5, rate_ms=60_000)
    async with stack.http() as http:
        for n in range(8):
            answer = await stack.login(http, f"user{n}", "", forwarded=IP_A)  # no password
            assert answer.status_code == 400
    assert await status(stack, "alice", PASSWORD, IP_A) == 200
    assert await spray(stack, IP_A, 6) == [403] * 5 + [429]


async def test_twenty_logins_for_one_user_from_one_ip_then_limit_sul(stack: Stack) -> None:
    async with stack.http() as http:
        for n in range(20):
            answer = await stack.login(http, "alice", PASSWORD, forwarded=IP_A)
            assert answer.status_code == 200, (n, answer.text)
    hashes = stack.hashes.count

    refused = await login(stack, "alice", PASSWORD, IP_A)
    assert refused.status_code == 429
    assert refused.json() == {"error": "too_many_attempts", "error_description": SUL_MESSAGE}
    assert stack.hashes.count == hashes
    (limit,) = stack.events.of_type("limit_sul")
    assert (limit.user_name, limit.ip, limit.client_ip) == ("alice", IP_A, APP_SERVER_IP)

    assert await status(stack, "bob", BOB_PASSWORD, IP_A) == 200
    assert await status(stack, "alice", PASSWORD, IP_B) == 200
    stack.clock.advance(3)
    assert await status(stack, "alice", PASSWORD, IP_A) == 200
    assert await status(stack, "alice", PASSWORD, IP_A) == 429


async def test_a_throttled_ip_is_told_when_to_try_again(stack: Stack) -> None:
    """Retry-After (whole seconds, at least 1) until the bucket's next attempt is due, on
    the first refusal and on those answered from memory; a brute-force block has none."""
    stack.set_pre_login(max_attempts=5, rate_ms=60_000)
    assert await spray(stack, IP_A, 5) == [403] * 5
    first = await login(stack, "user5@example.com", WRONG, IP_A)
    assert (first.status_code, first.headers["retry-after"]) == (429, "60")
    stack.clock.advance(45.5)
    again = await login(stack, "alice", PASSWORD, IP_A)  # refused from memory now
    assert (again.status_code, again.headers["retry-after"]) == (429, "15")
    stack.clock.advance(14.0)
    last = await login(stack, "alice", PASSWORD, IP_A)
    assert (last.status_code, last.headers["retry-after"]) == (429, "1")

    stack.set_brute_force(max_attempts=2)
    for _ in range(2):
        assert await status(stack, "bob", WRONG, IP_B) == 403
    blocked = await login(stack, "bob", BOB_PASSWORD, IP_B)
    assert blocked.status_code == 429
    assert "retry-after" not in blocked.headers


async def test_too_many_logins_say_when_the_next_is_due(stack: Stack) -> None:
    async with stack.http() as http:
        for _ in range(20):
            assert (await stack.login(http, "alice", PASSWORD, forwarded=IP_A)).status_code == 200
    refused = await login(stack, "alice", PASSWORD, IP_A)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3
