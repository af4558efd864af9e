"""Auth0's own Python SDK (``auth0-python``'s Management client) against ``/api/v2``, in
process: the shapes it parses, the errors it raises, the headers it reads."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from auth0.management import AsyncAuth0
from auth0.management.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)

from tests.management.helpers import Admin, m2m_client, management_token
from tests.protection_e2e.helpers import APP_SERVER_IP, BASE_URL, IP_A, PASSWORD, WRONG, Stack

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def sdk(admin: Admin, token: str | None = None) -> AsyncIterator[AsyncAuth0]:
    """Auth0's client on the admin's passgate (no retries: a refusal is the answer)."""
    transport = httpx.ASGITransport(app=admin.stack.app, client=(APP_SERVER_IP, 4321))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield AsyncAuth0(
            base_url=f"{BASE_URL}/api/v2",
            token=token or admin.token,
            httpx_client=http,
            max_retries=0,
        )


@pytest.fixture
async def client(admin: Admin) -> AsyncIterator[AsyncAuth0]:
    async with sdk(admin) as api:
        yield api


async def test_attack_protection_settings(client: AsyncAuth0, admin: Admin) -> None:
    brute = client.attack_protection.brute_force_protection
    assert (await brute.get()).max_attempts == 10
    changed = await brute.update(max_attempts=3, shields=["block"])
    assert changed.max_attempts == 3
    assert changed.shields == ["block"]
    throttling = client.attack_protection.suspicious_ip_throttling
    settings = await throttling.get()
    assert settings.stage is not None
    assert settings.stage.pre_login is not None
    assert settings.stage.pre_login.max_attempts == 100
    breached = await client.attack_protection.breached_password_detection.get()
    assert breached.method == "standard"
    with pytest.raises(BadRequestError) as refused:
        await brute.update(max_attempts=0)
    assert refused.value.body["errorCode"] == "invalid_body"
    # The new threshold holds for the next login.
    for _ in range(3):
        await admin.stack.login(admin.http, "alice", WRONG, forwarded=IP_A)
    assert (
        await admin.stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A)
    ).status_code == 429


async def test_user_blocks(client: AsyncAuth0, admin: Admin) -> None:
    await client.attack_protection.brute_force_protection.update(max_attempts=2)
    for _ in range(2):
        await admin.stack.login(admin.http, "alice", WRONG, forwarded=IP_A)
    listed = await client.user_blocks.list_by_identifier(identifier="ALICE")
    assert listed.blocked_for is not None
    assert [(b.identifier, b.ip) for b in listed.blocked_for] == [("alice@example.com", IP_A)]
    none = await client.user_blocks.list_by_identifier(
        identifier="alice", consider_brute_force_enablement=True
    )
    assert none.blocked_for is not None
    assert len(none.blocked_for) == 1
    by_id = await client.user_blocks.list(id=admin.stack.alice.id)
    assert by_id.blocked_for == listed.blocked_for
    await client.user_blocks.delete_by_identifier(identifier="alice@example.com")
    after = await client.user_blocks.list_by_identifier(identifier="alice")
    assert after.blocked_for == []
    await client.user_blocks.delete(id=admin.stack.alice.id)
    with pytest.raises(NotFoundError):
        await client.user_blocks.list(id="auth0|nobody")


async def test_anomaly_blocks(client: AsyncAuth0, admin: Admin) -> None:
    await client.attack_protection.suspicious_ip_throttling.update(
        stage={"pre-login": {"max_attempts": 1, "rate": 864000}}
    )
    await admin.stack.login(admin.http, "alice", WRONG, forwarded=IP_A)
    await client.anomaly.blocks.check_ip(id=IP_A)  # 200: blocked
    await client.anomaly.blocks.unblock_ip(id=IP_A)
    with pytest.raises(NotFoundError):
        await client.anomaly.blocks.check_ip(id=IP_A)
    with pytest.raises(BadRequestError):
        await client.anomaly.blocks.check_ip(id="not-an-ip")


async def test_refusals_raise_the_sdks_errors(admin: Admin) -> None:
    async with sdk(admin, "not.a.token") as api:
        with pytest.raises(UnauthorizedError):
            await api.attack_protection.brute_force_protection.get()
    narrow = await management_token(admin.http, admin.client, "read:users")
    async with sdk(admin, narrow) as api:
        with pytest.raises(ForbiddenError) as forbidden:
            await api.attack_protection.brute_force_protection.get()
    assert forbidden.value.body["errorCode"] == "insufficient_scope"


async def test_the_sdk_sees_the_rate_limit(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(management_rate_limit=1)
    async with stack.http() as http:
        client = m2m_client(stack)
        admin = Admin(stack, http, client, await management_token(http, client))
        async with sdk(admin) as api:
            brute = api.attack_protection.brute_force_protection
            raw = await brute.with_raw_response.get()
            assert raw.headers["x-ratelimit-remaining"] == "0"
            with pytest.raises(TooManyRequestsError) as limited:
                await brute.get()
    assert limited.value.headers is not None
    assert limited.value.headers["retry-after"] == "60"
