"""Attack protection around accounts: a password change releases brute-force blocks
(SPEC §3), and sign-ups are throttled per IP (SPEC §4, ``pre-user-registration``)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from passgate.domain.policy import ThrottleStage
from passgate.errors import SUSPICIOUS_IP_MESSAGE
from passgate.storage.directory import DEFAULT_CONNECTION
from tests.protection_e2e.helpers import APP_SERVER_IP, IP_A, IP_B, PASSWORD, WRONG, Stack

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "a brand new passphrase 42"


async def test_a_password_change_releases_the_users_blocks(stack: Stack) -> None:
    async with stack.http() as http:
        for _ in range(10):
            assert (await stack.login(http, "alice", WRONG, forwarded=IP_A)).status_code == 403
        assert (await stack.login(http, "alice", PASSWORD, forwarded=IP_A)).status_code == 429

        asked = await http.post(
            "/dbconnections/change_password",
            json={
                "client_id": stack.trusted.id,
                "email": "alice@example.com",
                "connection": DEFAULT_CONNECTION,
            },
        )
        assert asked.status_code == 200
        resets = [m for m in stack.mailer.sent if "/reset-password?" in m.text]
        assert len(resets) == 1
        link = re.search(r"https?://\S+/reset-password\?ticket=(\S+)", resets[0].text)
        assert link is not None

        ticket = unquote(link.group(1))
        form = await http.get("/reset-password", params={"ticket": ticket})
        assert form.status_code == 200
        changed = await http.post(
            "/reset-password",
            data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        )
        assert changed.status_code == 200, changed.text

        # The block from IP A is gone: the new password logs in from there at once.
        answer = await stack.login(http, "alice", NEW_PASSWORD, forwarded=IP_A)
        assert answer.status_code == 200, answer.text
    released = stack.events.of_type("ublkdu")
    assert len(released) == 1
    assert released[0].user_id == stack.alice.id
    assert released[0].details["released_by"] == "password change"
    assert stack.failures("alice", IP_A) == 0


async def signup(stack: Stack, n: int) -> int:
    async with stack.http() as http:
        answer = await http.post(
            "/dbconnections/signup",
            json={
                "client_id": stack.public.id,
                "email": f"new{n}@example.com",
                "password": "a decent passphrase",
                "connection": DEFAULT_CONNECTION,
            },
        )
    if answer.status_code == 429:
        assert SUSPICIOUS_IP_MESSAGE in answer.text
    return answer.status_code


async def test_signups_from_one_ip_are_throttled_and_refill_on_schedule(stack: Stack) -> None:
    stack.set_suspicious_ip(pre_user_registration=ThrottleStage(max_attempts=3, rate=60_000))
    assert [await signup(stack, n) for n in range(4)] == [200, 200, 200, 429]
    limits = stack.events.of_type("limit_mu")
    assert [e.details["stage"] for e in limits] == ["pre-user-registration"]
    assert limits[0].ip == APP_SERVER_IP

    stack.clock.advance(59)
    assert await signup(stack, 10) == 429
    stack.clock.advance(1)
    assert await signup(stack, 11) == 200
    assert await signup(stack, 12) == 429


async def test_signup_throttling_spares_allowlisted_ips(stack: Stack) -> None:
    stack.set_suspicious_ip(
        pre_user_registration=ThrottleStage(max_attempts=1, rate=60_000),
        allowlist=(APP_SERVER_IP, IP_B),
    )
    assert [await signup(stack, n) for n in range(3)] == [200, 200, 200]
    assert stack.events.of_type("limit_mu") == []
