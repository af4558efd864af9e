"""Auth0's own Python SDK on ``/clients``, ``/resource-servers`` and ``/client-grants``:
it parses passgate's answers, pages through lists and gets a working client out of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from auth0.management import AsyncAuth0
from auth0.management.errors import BadRequestError, ConflictError, NotFoundError

from tests.management.helpers import Admin
from tests.management.test_sdk import sdk
from tests.protection_e2e.helpers import IP_A, PASSWORD, NamedClient

pytestmark = pytest.mark.anyio

ORDERS = "https://orders.example/"


@pytest.fixture
async def client(admin: Admin) -> AsyncIterator[AsyncAuth0]:
    """Auth0's client on the admin's passgate."""
    async with sdk(admin) as api:
        yield api


async def test_clients(client: AsyncAuth0, admin: Admin) -> None:
    made = await client.clients.create(
        name="Shop", app_type="regular_web", grant_types=["password"]
    )
    assert made.client_id is not None
    assert made.client_secret is not None
    got = await client.clients.get(made.client_id)
    assert got.name == "Shop"
    assert got.client_secret is None
    pager = await client.clients.list(per_page=2)
    names = [c.name async for c in pager]
    assert len(names) == 6
    assert "Shop" in names
    updated = await client.clients.update(made.client_id, is_token_endpoint_ip_header_trusted=True)
    assert updated.is_token_endpoint_ip_header_trusted is True
    rotated = await client.clients.rotate_secret(made.client_id)
    assert rotated.client_secret not in (None, made.client_secret)
    stored = admin.stack.passgate.applications.get_client(made.client_id)
    assert stored is not None
    shop = NamedClient(stored, rotated.client_secret)
    login = await admin.stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A, client=shop)
    assert login.status_code == 200, login.text
    assert admin.stack.events.of_type("sepft")[-1].ip == IP_A
    with pytest.raises(BadRequestError):
        await client.clients.update(made.client_id, token_endpoint_auth_method="none")
    await client.clients.delete(made.client_id)
    with pytest.raises(NotFoundError):
        await client.clients.get(made.client_id)


async def test_resource_servers_and_client_grants(client: AsyncAuth0, admin: Admin) -> None:
    api = await client.resource_servers.create(
        identifier=ORDERS, name="Orders", scopes=[{"value": "read:orders"}]
    )
    assert api.id is not None
    assert (await client.resource_servers.get(ORDERS)).id == api.id
    with pytest.raises(ConflictError):
        await client.resource_servers.create(identifier=ORDERS)
    servers = [s async for s in await client.resource_servers.list()]
    assert [s.is_system for s in servers] == [True, False]
    machine = await client.clients.create(name="Backend", app_type="non_interactive")
    assert machine.client_id is not None
    grant = await client.client_grants.create(
        client_id=machine.client_id, audience=ORDERS, scope=["read:orders"]
    )
    assert grant.id is not None
    assert [g.id async for g in await client.client_grants.list(audience=ORDERS)] == [grant.id]
    token = await admin.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": machine.client_id,
              "client_secret": machine.client_secret, "audience": ORDERS},
    )  # fmt: skip
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read:orders"
    await client.client_grants.delete(grant.id)
    await client.resource_servers.delete(api.id)
    with pytest.raises(NotFoundError):
        await client.resource_servers.get(api.id)
