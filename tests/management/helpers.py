"""The Management API as an M2M client sees it: a stack (``tests.protection_e2e``) with
the Management API's resource server, machine-to-machine clients with a client grant for
it, and tokens obtained through the real client-credentials grant.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from passgate.domain.events import Event
from passgate.domain.management_api import MANAGEMENT_SCOPES, management_audience
from passgate.management.client_grants import NewClientGrant
from tests.protection_e2e.helpers import ISSUER, NamedClient, Stack
from tests.support import Cli

AUDIENCE = management_audience(ISSUER)
ALL_SCOPES = " ".join(MANAGEMENT_SCOPES)


def ensure_management_api(stack: Stack) -> None:
    """The Management API's resource server exists from the first start."""
    assert stack.passgate.applications.api_by_identifier(AUDIENCE) is not None


def m2m_client(
    stack: Stack, name: str = "Admin tool", scopes: tuple[str, ...] | None = MANAGEMENT_SCOPES
) -> NamedClient:
    """A machine-to-machine client with a client grant for the Management API holding
    ``scopes`` (every scope by default; no grant when None)."""
    made, secret = stack.passgate.applications.create_client(
        name=name,
        app_type="non_interactive",
        auth_method="client_secret_post",
        grant_types=["client_credentials"],
    )
    if scopes is not None:
        stack.passgate.management.client_grants.create(
            NewClientGrant(made.client_id, AUDIENCE, scopes)
        )
    return NamedClient(made, secret)


async def management_token(
    http: httpx.AsyncClient, client: NamedClient, scope: str | None = ALL_SCOPES
) -> str:
    """A Management API access token for ``client`` by the client-credentials grant,
    with ``scope`` (all of the API's scopes by default)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": client.id,
        "client_secret": client.secret or "",
        "audience": AUDIENCE,
    }
    if scope is not None:
        form["scope"] = scope
    answer = await http.post("/oauth/token", data=form)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_api_error(
    response: httpx.Response, status: int, error_code: str, message: str | None = None
) -> dict[str, Any]:
    """An Auth0-shaped error: ``{statusCode, error, message, errorCode}``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"statusCode", "error", "message", "errorCode"}, body
    assert body["statusCode"] == status
    assert body["errorCode"] == error_code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    if message is not None:
        assert body["message"] == message, body
    assert response.headers["cache-control"] == "no-store"
    return body


def api_events(stack: Stack, *types: str) -> list[Event]:
    return stack.events.of_type(*(types or ("sapi", "fapi")))


@dataclasses.dataclass
class Admin:
    """A stack, its HTTP client, and an M2M client holding every Management API scope."""

    stack: Stack
    http: httpx.AsyncClient
    client: NamedClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    async def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**bearer(token or self.token), **kwargs.pop("headers", {})}
        return await self.http.request(method, "/api/v2" + path, headers=headers, **kwargs)


def cli_for(admin: Admin) -> Cli:
    """``passgate`` commands on the admin's database (policies and, on SQLite, counters)."""
    settings = admin.stack.passgate.settings
    assert settings.database_url is not None
    assert settings.key_encryption_key is not None
    return Cli(
        settings.data_dir,
        env={
            "PASSGATE_DATABASE_URL": settings.database_url.get_secret_value(),
            "PASSGATE_KEY_ENCRYPTION_KEY": settings.key_encryption_key.get_secret_value(),
        },
    )
