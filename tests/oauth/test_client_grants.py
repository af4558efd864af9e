"""``client_credentials`` under client grants: a token for an API only with a grant for it,
and only the grant's scopes, for every API (the Management API too); a new, changed or
deleted grant takes effect at once in the process that made it and within a second in
the others. On every SQL backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest

from passgate.app import Passgate, create_app
from passgate.domain.management_api import MANAGEMENT_SCOPES
from passgate.management.client_grants import (
    ClientGrantChange,
    ClientGrantQuery,
    NewClientGrant,
)
from passgate.oauth.records import GRANT_TTL_S
from passgate.testing import CapturedEvents, ManualClock
from tests.oauth.conftest import (
    API,
    API_NO_OFFLINE,
    API_SCOPES,
    ISSUER,
    NamedClient,
    World,
    asgi_client,
    assert_oauth_error,
    make_settings,
)

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"
MANAGEMENT = ISSUER + "api/v2/"


def form(client: NamedClient, audience: str | None = API, scope: str | None = None) -> Any:
    body = {"grant_type": "client_credentials", "client_id": client.id}
    body["client_secret"] = client.secret or ""
    if audience is not None:
        body["audience"] = audience
    if scope is not None:
        body["scope"] = scope
    return body


async def claims(http: httpx.AsyncClient, token: str, audience: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict((await http.get("/.well-known/jwks.json")).json())
    key = jwks[jwt.get_unverified_header(token)["kid"]]
    decoded: dict[str, Any] = jwt.decode(
        token, key=key, algorithms=["RS256", "ES256"], audience=audience, issuer=ISSUER
    )
    return decoded


def grant_of(world: World, audience: str = API) -> str:
    found = world.passgate.management.client_grants.list_grants(
        ClientGrantQuery(client_id=world.m2m.id, audience=audience)
    )
    assert isinstance(found, list)
    assert len(found) == 1
    return str(found[0]["id"])


def narrow(world: World, *scope: str) -> None:
    world.passgate.management.client_grants.update(grant_of(world), ClientGrantChange(scope=scope))


async def test_a_granted_client_gets_the_grants_scopes(
    world: World, http: httpx.AsyncClient
) -> None:
    narrow(world, "read:things")
    response = await http.post(TOKEN, data=form(world.m2m))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read:things"
    token = await claims(http, response.json()["access_token"], API)
    assert (token["scope"], token["sub"]) == ("read:things", f"{world.m2m.id}@clients")


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        ("read:things", "read:things"),
        ("write:things read:things", "write:things read:things"),
        ("read:things delete:things", "read:things"),  # not granted: dropped
        ("read:things nonsense", "read:things"),  # not defined by the API: dropped
        ("openid", "read:things write:things"),  # no API scope asked for: the grant's
        ("openid read:things", "read:things"),
        ("  read:things  ", "read:things"),
    ],
)
async def test_requested_scopes_are_intersected_with_the_grant(
    world: World, http: httpx.AsyncClient, requested: str, granted: str
) -> None:
    response = await http.post(TOKEN, data=form(world.m2m, scope=requested))
    assert response.status_code == 200, response.text
    body = response.json()
    token = await claims(http, body["access_token"], API)
    assert token["scope"] == granted
    # ``scope`` comes back when it differs from the request.
    assert body.get("scope", requested.strip()) == granted


@pytest.mark.parametrize("requested", ["delete:things", "nonsense", "read:thing", "READ:things"])
async def test_asking_only_for_scopes_not_granted_is_refused(
    world: World, http: httpx.AsyncClient, requested: str
) -> None:
    narrow(world, "read:things")
    response = await http.post(TOKEN, data=form(world.m2m, scope=requested))
    assert_oauth_error(
        response, 403, "access_denied", f"Client has not been granted scopes: {requested}"
    )
    refused = await http.post(TOKEN, data=form(world.m2m, scope="write:things"))
    assert_oauth_error(refused, 403, "access_denied")
    (*_, event) = world.events.events
    assert event.type == "feccft"
    assert event.details["error"]["error"] == "access_denied"


async def test_a_grant_without_scopes_gives_a_token_without_scopes(
    world: World, http: httpx.AsyncClient
) -> None:
    narrow(world)
    response = await http.post(TOKEN, data=form(world.m2m))
    assert response.status_code == 200, response.text
    assert (await claims(http, response.json()["access_token"], API))["scope"] == ""


async def test_an_api_without_a_grant_is_refused_in_auth0s_words(
    world: World, http: httpx.AsyncClient
) -> None:
    response = await http.post(TOKEN, data=form(world.m2m, API_NO_OFFLINE))
    assert_oauth_error(
        response,
        403,
        "access_denied",
        f'Client "{world.m2m.id}" is not authorized to access resource server '
        f'"{API_NO_OFFLINE}". You need to create a "client-grant" associated to this API.',
    )
    event = world.events.events[-1]
    assert (event.type, event.audience, event.client_id) == ("feccft", API_NO_OFFLINE, world.m2m.id)


@pytest.mark.parametrize(
    "audience",
    [API.rstrip("/"), API + "/", API.upper(), "HTTPS://api.passgate.test/", API + " ", API + "#"],
)
async def test_an_audience_names_an_api_exactly(
    world: World, http: httpx.AsyncClient, audience: str
) -> None:
    response = await http.post(TOKEN, data=form(world.m2m, audience))
    assert_oauth_error(response, 403, "access_denied", f"Service not found: {audience}")


async def test_a_grant_only_holds_scopes_its_api_still_defines(
    world: World, http: httpx.AsyncClient
) -> None:
    """An API that stops defining a scope stops granting it, whatever its grants say."""
    with world.passgate.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE apis SET scopes = '[\"write:things\"]' WHERE identifier = %s"
            if connection.dialect.name == "postgresql"
            else "UPDATE apis SET scopes = '[\"write:things\"]' WHERE identifier = ?",
            (API,),
        )
    world.passgate.apis.clear()
    response = await http.post(TOKEN, data=form(world.m2m))
    assert (await claims(http, response.json()["access_token"], API))["scope"] == "write:things"
    refused = await http.post(TOKEN, data=form(world.m2m, scope="read:things"))
    assert_oauth_error(refused, 403, "access_denied")


async def test_a_deleted_grant_stops_new_tokens_at_once(
    world: World, http: httpx.AsyncClient
) -> None:
    assert (await http.post(TOKEN, data=form(world.m2m))).status_code == 200
    world.passgate.management.client_grants.delete(grant_of(world))
    assert_oauth_error(await http.post(TOKEN, data=form(world.m2m)), 403, "access_denied")


async def test_a_new_grant_works_at_once(world: World, http: httpx.AsyncClient) -> None:
    assert_oauth_error(
        await http.post(TOKEN, data=form(world.m2m, API_NO_OFFLINE)), 403, "access_denied"
    )
    world.passgate.management.client_grants.create(NewClientGrant(world.m2m.id, API_NO_OFFLINE, ()))
    assert (await http.post(TOKEN, data=form(world.m2m, API_NO_OFFLINE))).status_code == 200


# -- another process on the same database ---------------------------------------------


@pytest.fixture
def other_worker(world: World, sql_url: str, tmp_path: Path) -> Iterator[Passgate]:
    """A second passgate on the same database, as another worker or instance."""
    other = Passgate(
        make_settings(tmp_path, sql_url), clock=ManualClock(time.time()), events=CapturedEvents()
    )
    try:
        yield other
    finally:
        other.close()


async def test_other_workers_see_a_new_or_deleted_grant_within_a_second(
    world: World, other_worker: Passgate
) -> None:
    slowest = [0.0]  # the longest request: the machine may be busy

    async with asgi_client(create_app(other_worker)) as other:

        async def status(audience: str) -> int:
            start = time.monotonic()
            answer = await other.post(TOKEN, data=form(world.m2m, audience))
            slowest[0] = max(slowest[0], time.monotonic() - start)
            return answer.status_code

        async def seconds_until(audience: str, status_code: int) -> float:
            start = time.monotonic()
            while await status(audience) != status_code:
                assert time.monotonic() - start < GRANT_TTL_S + 5.0
                await anyio.sleep(0.02)
            return time.monotonic() - start

        assert await status(API) == 200  # its grant is now in the other worker's cache
        assert await status(API_NO_OFFLINE) == 403  # and so is the lack of this one
        world.passgate.management.client_grants.delete(grant_of(world))
        world.passgate.management.client_grants.create(
            NewClientGrant(world.m2m.id, API_NO_OFFLINE, ())
        )
        refused = await seconds_until(API, 403)
        granted = await seconds_until(API_NO_OFFLINE, 200)
    # Each cached answer lives GRANT_TTL_S from the request that read it, before the change.
    assert refused <= GRANT_TTL_S + slowest[0] + 0.1, (refused, slowest)
    assert refused + granted <= GRANT_TTL_S + 2 * slowest[0] + 0.1, (granted, slowest)


# -- the Management API ------------------------------------------------------------------


async def test_the_management_api_exists_from_the_start(world: World) -> None:
    api = world.passgate.management_api
    assert (api.identifier, api.is_system, api.scopes) == (MANAGEMENT, True, MANAGEMENT_SCOPES)
    assert world.passgate.applications.api_by_identifier(MANAGEMENT) == api


async def test_a_client_granted_the_management_api_gets_a_token_for_it(
    world: World, http: httpx.AsyncClient
) -> None:
    assert_oauth_error(
        await http.post(TOKEN, data=form(world.m2m, MANAGEMENT)), 403, "access_denied"
    )
    grants = world.passgate.management.client_grants
    grants.create(NewClientGrant(world.m2m.id, MANAGEMENT, ("read:users", "read:logs")))
    response = await http.post(TOKEN, data=form(world.m2m, MANAGEMENT, "read:logs"))
    assert response.status_code == 200, response.text
    token = await claims(http, response.json()["access_token"], MANAGEMENT)
    assert (token["aud"], token["scope"], token["gty"]) == (
        MANAGEMENT,
        "read:logs",
        "client-credentials",
    )
    # The client's grant for the other API is its own: unchanged.
    other = await http.post(TOKEN, data=form(world.m2m))
    assert (await claims(http, other.json()["access_token"], API))["scope"] == " ".join(API_SCOPES)


async def test_a_client_without_the_client_credentials_grant_type_is_refused_first(
    world: World, http: httpx.AsyncClient
) -> None:
    """A grant does not allow the grant type: the client's grant_types still decide."""
    grants = world.passgate.management.client_grants
    grants.create(NewClientGrant(world.post.id, API, API_SCOPES))
    response = await http.post(TOKEN, data=form(world.post))
    assert_oauth_error(response, 403, "unauthorized_client")


@pytest.mark.parametrize("scope", [None, "openid read:users delete:users"])
async def test_a_users_token_never_carries_management_scopes(
    world: World, http: httpx.AsyncClient, scope: str | None
) -> None:
    """Only client grants give the Management API's scopes; a password login for its
    audience gets none of them."""
    response = await http.post(TOKEN, data=world.password_form(audience=MANAGEMENT, scope=scope))
    assert response.status_code == 200, response.text
    token = await claims(http, response.json()["access_token"], MANAGEMENT)
    assert token["scope"] == ("openid" if scope else "")
