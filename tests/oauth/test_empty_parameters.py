"""Empty optional parameters are not sent, as Auth0 reads them and as SDKs send them.

auth0-python's ``GetToken.refresh_token`` posts the JSON body
``{"client_id", "refresh_token", "scope": "", "grant_type": "refresh_token",
"client_secret"}`` (``scope`` defaults to ``""``), and its ``login`` sends ``realm``,
``scope`` and ``audience`` as ``null`` when they are not given. An empty (or blank)
``scope``, ``audience`` or ``realm`` is read exactly as a missing one: the refresh keeps
the granted scopes and its ID token.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from passgate.domain.models import PASSWORD_REALM
from passgate.storage.directory import DEFAULT_CONNECTION
from tests.oauth.conftest import API, API_SCOPES, PASSWORD, World
from tests.oauth.test_token_endpoint import TOKEN, decode

pytestmark = pytest.mark.anyio

#: What "not sent" looks like on the wire: absent, JSON null, empty, blank.
MISSING = object()
VARIANTS: list[object] = [MISSING, None, "", " ", "  "]


def with_value(body: dict[str, Any], name: str, value: object) -> dict[str, Any]:
    if value is MISSING:
        return {key: item for key, item in body.items() if key != name}
    return {**body, name: value}


async def sdk_login(world: World, http: httpx.AsyncClient) -> dict[str, Any]:
    """auth0-python's ``GetToken.login`` body (password-realm), asking for a refresh."""
    body = {
        "client_id": world.post.id,
        "username": "alice",
        "password": PASSWORD,
        "realm": DEFAULT_CONNECTION,
        "scope": "openid offline_access",
        "audience": API,
        "grant_type": PASSWORD_REALM,
        "client_secret": world.post.secret,
    }
    response = await http.post(TOKEN, json=body)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def sdk_refresh_body(world: World, refresh_token: str) -> dict[str, Any]:
    """auth0-python's ``GetToken.refresh_token(refresh_token)`` body, exactly."""
    return {
        "client_id": world.post.id,
        "refresh_token": refresh_token,
        "scope": "",
        "grant_type": "refresh_token",
        "client_secret": world.post.secret,
    }


async def test_the_sdks_refresh_keeps_the_granted_scopes_and_the_id_token(
    world: World, http: httpx.AsyncClient
) -> None:
    first = await sdk_login(world, http)
    response = await http.post(TOKEN, json=sdk_refresh_body(world, first["refresh_token"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "id_token", "refresh_token", "token_type", "expires_in"}
    claims = await decode(http, body["access_token"], API)
    assert set(claims["scope"].split()) == {"openid", "offline_access", *API_SCOPES}
    id_claims = await decode(http, body["id_token"], world.post.id)
    assert id_claims["sub"] == world.alice.id
    # The rotated token refreshes again, the SDK's way.
    again = await http.post(TOKEN, json=sdk_refresh_body(world, body["refresh_token"]))
    assert again.status_code == 200, again.text
    assert "id_token" in again.json()
    event = world.events.of_type("sertft")[-1]
    assert event.scope is None


@pytest.mark.parametrize(
    ("encoding", "value"),
    [("json", value) for value in VARIANTS]
    + [("form", value) for value in VARIANTS if value is not None],  # a form has no null
    ids=repr,
)
async def test_a_refresh_without_a_scope_in_any_form_keeps_the_granted_scopes(
    world: World, http: httpx.AsyncClient, value: object, encoding: str
) -> None:
    first = await sdk_login(world, http)
    body = with_value(sdk_refresh_body(world, first["refresh_token"]), "scope", value)
    if encoding == "json":
        response = await http.post(TOKEN, json=body)
    else:
        response = await http.post(TOKEN, data=body)
    assert response.status_code == 200, response.text
    claims = await decode(http, response.json()["access_token"], API)
    assert set(claims["scope"].split()) == {"openid", "offline_access", *API_SCOPES}
    assert "id_token" in response.json()


async def outcome(http: httpx.AsyncClient, body: dict[str, Any]) -> tuple[Any, ...]:
    """What a client can tell of an answer: status, body fields, the token's aud and scope
    (or the error body)."""
    response = await http.post(TOKEN, json=body)
    answer = response.json()
    if response.status_code != 200:
        return response.status_code, answer
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    return 200, sorted(answer), claims["aud"], claims.get("scope"), answer.get("scope")


def password_body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": world.post.id,
        "client_secret": world.post.secret,
        "username": "alice",
        "password": PASSWORD,
        "grant_type": "password",
        **extra,
    }


def client_credentials_body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": world.m2m.id,
        "client_secret": world.m2m.secret,
        "grant_type": "client_credentials",
        **extra,
    }


@pytest.mark.parametrize(
    ("grant", "name", "others"),
    [
        ("password", "scope", {"audience": API}),
        ("password", "scope", {}),
        ("password", "audience", {"scope": "openid"}),
        ("password", "audience", {}),
        (PASSWORD_REALM, "realm", {"audience": API}),
        (PASSWORD_REALM, "scope", {"realm": DEFAULT_CONNECTION}),
        (PASSWORD_REALM, "audience", {"realm": DEFAULT_CONNECTION, "scope": "openid"}),
        ("client_credentials", "scope", {"audience": API}),
        ("client_credentials", "audience", {}),
    ],
)
async def test_an_empty_optional_parameter_is_a_missing_one(
    world: World, http: httpx.AsyncClient, grant: str, name: str, others: dict[str, str]
) -> None:
    if grant == "client_credentials":
        base = client_credentials_body(world, **others)
    else:
        base = password_body(world, grant_type=grant, **others)
    answers = [await outcome(http, with_value(base, name, value)) for value in VARIANTS]
    assert answers == [answers[0]] * len(VARIANTS), answers
    # And the events record no empty value: the same as when it is not sent.
    for event in world.events.events:
        assert event.scope != ""
        assert event.audience != ""
