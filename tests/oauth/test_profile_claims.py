"""A profile given at sign-up comes back in the ID token and ``/userinfo``, through HTTP.

The OIDC standard claims ``name``, ``given_name``, ``family_name``, ``nickname``,
``picture`` and ``updated_at`` are released under the ``profile`` scope only, ``email`` and
``email_verified`` under ``email`` only; ``user_metadata`` is never a claim. SQLite and
PostgreSQL, through the whole application (sign-up, password grant, refresh grant).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from passgate.storage.directory import DEFAULT_CONNECTION
from tests.oauth.conftest import API, World
from tests.oauth.test_token_endpoint import TOKEN, decode, refresh_form

pytestmark = pytest.mark.anyio

PASSWORD = "a sign-up passphrase 42"
PROFILE = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "name": "Grace Brewster Hopper",
    "nickname": "amazing grace",
    "picture": "https://pics.example.com/grace.png",
}
PROFILE_CLAIMS = {"name", "given_name", "family_name", "nickname", "picture", "updated_at"}
STANDARD = {"iss", "sub", "aud", "iat", "exp", "azp"}


async def sign_up(world: World, http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "client_id": world.public.id,
        "email": "Grace@Example.com",
        "password": PASSWORD,
        "connection": DEFAULT_CONNECTION,
        **fields,
    }
    response = await http.post("/dbconnections/signup", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def log_in(world: World, http: httpx.AsyncClient, scope: str, **extra: str) -> dict[str, Any]:
    form = {
        "grant_type": "password",
        "username": "grace@example.com",
        "password": PASSWORD,
        "client_id": world.public.id,
        "scope": scope,
        **extra,
    }
    response = await http.post(TOKEN, data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def userinfo(http: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    claims: dict[str, Any] = response.json()
    return claims


@pytest.mark.parametrize(
    ("scope", "released"),
    [
        ("openid", set()),
        ("openid email", {"email", "email_verified"}),
        ("openid profile", PROFILE_CLAIMS),
        ("openid profile email", PROFILE_CLAIMS | {"email", "email_verified"}),
    ],
)
async def test_the_profile_is_released_under_the_profile_scope_only(
    world: World, http: httpx.AsyncClient, scope: str, released: set[str]
) -> None:
    signed_up = await sign_up(world, http, **PROFILE, user_metadata={"plan": "gold"})
    sub = "auth0|" + signed_up["_id"]
    tokens = await log_in(world, http, scope)
    id_claims = await decode(http, tokens["id_token"], world.public.id)
    info = await userinfo(http, tokens["access_token"])
    assert set(id_claims) == STANDARD | released
    assert set(info) == {"sub"} | released
    for claims in (id_claims, info):
        assert claims["sub"] == sub
        for name in released & set(PROFILE):
            assert claims[name] == PROFILE[name]
        if "email" in released:
            assert (claims["email"], claims["email_verified"]) == ("Grace@Example.com", False)
        if "updated_at" in released:
            assert claims["updated_at"].endswith("Z")
        assert "user_metadata" not in claims
        assert "plan" not in claims


async def test_a_refreshed_id_token_carries_the_profile_too(
    world: World, http: httpx.AsyncClient
) -> None:
    await sign_up(world, http, **PROFILE)
    first = await log_in(world, http, "openid profile offline_access", audience=API)
    response = await http.post(
        TOKEN, data=refresh_form(world, first["refresh_token"], world.public)
    )
    assert response.status_code == 200, response.text
    id_claims = await decode(http, response.json()["id_token"], world.public.id)
    assert {name: id_claims[name] for name in PROFILE} == PROFILE


async def test_without_a_profile_the_defaults_stay_and_nothing_is_invented(
    world: World, http: httpx.AsyncClient
) -> None:
    await sign_up(world, http)
    tokens = await log_in(world, http, "openid profile")
    id_claims = await decode(http, tokens["id_token"], world.public.id)
    info = await userinfo(http, tokens["access_token"])
    for claims in (id_claims, info):
        assert claims["name"] == "Grace@Example.com"  # Auth0's default: the email
        assert claims["nickname"] == "Grace"  # the email's local part
        for absent in ("given_name", "family_name", "picture"):
            assert absent not in claims


async def test_a_refused_profile_creates_no_user_and_no_login(
    world: World, http: httpx.AsyncClient
) -> None:
    body = {
        "client_id": world.public.id,
        "email": "grace@example.com",
        "password": PASSWORD,
        "connection": DEFAULT_CONNECTION,
        **PROFILE,
        "picture": "javascript:alert(1)",
    }
    response = await http.post("/dbconnections/signup", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"
    form = {
        "grant_type": "password",
        "username": "grace@example.com",
        "password": PASSWORD,
        "client_id": world.public.id,
    }
    assert (await http.post(TOKEN, data=form)).status_code == 403
