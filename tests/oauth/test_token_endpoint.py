"""``POST /oauth/token`` and its companions, through HTTP, as SPEC §1 and §7 describe them."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
import sqlalchemy as sa

from passgate.app import Passgate, create_app
from passgate.domain.events import Event
from passgate.domain.models import PASSWORD_REALM
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.schema import refresh_tokens
from passgate.testing import CapturedEvents
from tests.oauth.conftest import (
    API,
    API_SCOPES,
    BOB_PASSWORD,
    ISSUER,
    PARTNERS,
    PASSWORD,
    PEER_IP,
    USER_AGENT,
    NamedClient,
    VerifyCounter,
    World,
    asgi_client,
    assert_oauth_error,
    event_text,
    make_settings,
)

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"
USERINFO_AUDIENCE = ISSUER + "userinfo"


def basic_auth(client_id: str, secret: str) -> str:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


async def jwks_set(http: httpx.AsyncClient) -> jwt.PyJWKSet:
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return jwt.PyJWKSet.from_dict(response.json())


async def decode(http: httpx.AsyncClient, token: str, audience: str) -> dict[str, Any]:
    """Verify ``token`` with PyJWT against passgate's published JWKS."""
    header = jwt.get_unverified_header(token)
    key = (await jwks_set(http))[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=[header["alg"]], audience=audience, issuer=ISSUER
    )
    return claims


def only_event(world: World) -> Event:
    events = world.events.events
    assert len(events) == 1, [event.type for event in events]
    return events[0]


def assert_no_secret_leaks(world: World, *extra: str) -> None:
    text = event_text(world.events.events)
    for secret in (*world.secrets(), *extra):
        assert secret not in text


async def test_other_methods_on_the_token_endpoint_are_405(http: httpx.AsyncClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await http.request(method, TOKEN)
        assert response.status_code == 405, method
        assert "POST" in response.headers["allow"]


# -- bodies ---------------------------------------------------------------------------


async def test_password_grant_with_a_form_body(world: World, http: httpx.AsyncClient) -> None:
    response = await http.post(TOKEN, data=world.password_form())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert response.headers["cache-control"] == "no-store"
    claims = await decode(http, body["access_token"], USERINFO_AUDIENCE)
    assert claims["sub"] == world.alice.id
    assert claims["azp"] == world.post.id


async def test_password_grant_with_a_json_body(world: World, http: httpx.AsyncClient) -> None:
    response = await http.post(TOKEN, json=world.password_form(audience=API))
    assert response.status_code == 200, response.text
    claims = await decode(http, response.json()["access_token"], API)
    assert claims["sub"] == world.alice.id


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "ALICE@EXAMPLE.COM"])
async def test_username_or_email_any_case(
    world: World, http: httpx.AsyncClient, identifier: str
) -> None:
    response = await http.post(TOKEN, data=world.password_form(username=identifier))
    assert response.status_code == 200, response.text


# -- password-realm ---------------------------------------------------------------------


async def test_password_realm_authenticates_in_the_named_connection(
    world: World, http: httpx.AsyncClient
) -> None:
    form = world.password_form(
        grant_type=PASSWORD_REALM, realm=PARTNERS, username="bob@partners.example"
    )
    form["password"] = BOB_PASSWORD
    response = await http.post(TOKEN, data=form)
    assert response.status_code == 200, response.text
    event = only_event(world)
    assert event.type == "sepft"
    assert event.connection == PARTNERS
    assert event.user_id == world.bob.id


async def test_password_grant_uses_the_default_directory_only(
    world: World, http: httpx.AsyncClient
) -> None:
    form = world.password_form(username="bob@partners.example")
    form["password"] = BOB_PASSWORD
    response = await http.post(TOKEN, data=form)
    assert_oauth_error(response, 403, "invalid_grant", "Wrong email or password.")


async def test_password_realm_with_the_wrong_realm_is_a_wrong_password(
    world: World, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        TOKEN, data=world.password_form(grant_type=PASSWORD_REALM, realm=PARTNERS)
    )
    assert_oauth_error(response, 403, "invalid_grant", "Wrong email or password.")


async def test_password_realm_unknown_realm(
    world: World, http: httpx.AsyncClient, argon2_verifications: VerifyCounter
) -> None:
    response = await http.post(
        TOKEN, data=world.password_form(grant_type=PASSWORD_REALM, realm="No-Such-Connection")
    )
    assert_oauth_error(response, 400, "invalid_request")
    assert argon2_verifications.count == 0
    event = only_event(world)
    assert event.type == "fepft"
    assert event.details["error"]["error"] == "invalid_request"


async def test_password_realm_needs_a_realm(world: World, http: httpx.AsyncClient) -> None:
    response = await http.post(TOKEN, data=world.password_form(grant_type=PASSWORD_REALM))
    assert_oauth_error(response, 400, "invalid_request")


# -- refresh tokens ---------------------------------------------------------------------


async def login_with_refresh(
    world: World, http: httpx.AsyncClient, client: NamedClient | None = None
) -> dict[str, Any]:
    client = client or world.post
    form = world.password_form(client, audience=API, scope="openid offline_access")
    response = await http.post(TOKEN, data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "refresh_token" in body
    return body


def refresh_form(world: World, token: str, client: NamedClient | None = None) -> dict[str, str]:
    client = client or world.post
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client.id}
    if client.secret is not None:
        form["client_secret"] = client.secret
    return form


async def test_refresh_token_rotates(world: World, http: httpx.AsyncClient) -> None:
    first = await login_with_refresh(world, http)
    response = await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = await decode(http, second["access_token"], API)
    assert claims["sub"] == world.alice.id
    assert set(claims["scope"].split()) == {"openid", "offline_access", *API_SCOPES}
    assert claims["iat"] == int(world.clock())
    assert "id_token" in second
    events = world.events.events
    assert [event.type for event in events] == ["sepft", "sertft"]
    assert events[1].user_id == world.alice.id
    assert events[1].client_id == world.post.id
    assert_no_secret_leaks(world, first["refresh_token"], second["refresh_token"])


async def test_refresh_token_reuse_revokes_the_whole_family(
    world: World, http: httpx.AsyncClient
) -> None:
    first = await login_with_refresh(world, http)
    rotated = await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))
    assert rotated.status_code == 200
    newest = rotated.json()["refresh_token"]

    reused = await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))
    assert_oauth_error(reused, 403, "invalid_grant")
    after = await http.post(TOKEN, data=refresh_form(world, newest))
    assert_oauth_error(after, 403, "invalid_grant")
    assert [event.type for event in world.events.events] == [
        "sepft",
        "sertft",
        "ferrt",  # Auth0's code for a detected reuse
        "fertft",
    ]


async def test_refresh_token_belongs_to_its_client(world: World, http: httpx.AsyncClient) -> None:
    first = await login_with_refresh(world, http)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    response = await http.post(
        TOKEN,
        data=form,
        headers={"Authorization": basic_auth(world.basic.id, world.basic.secret or "")},
    )
    assert_oauth_error(response, 403, "invalid_grant")
    # The rightful client can still use it: a foreign attempt did not consume it.
    again = await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))
    assert again.status_code == 200


async def test_refresh_token_for_a_public_client(world: World, http: httpx.AsyncClient) -> None:
    first = await login_with_refresh(world, http, world.public)
    response = await http.post(
        TOKEN, data=refresh_form(world, first["refresh_token"], world.public)
    )
    assert response.status_code == 200, response.text


async def test_refresh_token_unknown(world: World, http: httpx.AsyncClient) -> None:
    response = await http.post(TOKEN, data=refresh_form(world, "not-a-real-refresh-token"))
    assert_oauth_error(response, 403, "invalid_grant")
    assert only_event(world).type == "fertft"


async def test_refresh_token_of_a_blocked_user(world: World, http: httpx.AsyncClient) -> None:
    first = await login_with_refresh(world, http)
    world.passgate.directory.set_blocked(world.alice.id, True)
    response = await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))
    assert_oauth_error(response, 403, "invalid_grant", "user is blocked")  # Auth0's answer


async def test_refresh_token_scope_can_only_narrow(world: World, http: httpx.AsyncClient) -> None:
    first = await login_with_refresh(world, http)
    wider = refresh_form(world, first["refresh_token"])
    wider["scope"] = "openid admin:everything"
    assert_oauth_error(await http.post(TOKEN, data=wider), 400, "invalid_scope")
    narrower = refresh_form(world, first["refresh_token"])
    narrower["scope"] = "read:things"
    response = await http.post(TOKEN, data=narrower)
    assert response.status_code == 200, response.text
    claims = await decode(http, response.json()["access_token"], API)
    assert claims["scope"] == "read:things"


async def test_revoke_revokes_the_refresh_token_family(
    world: World, http: httpx.AsyncClient
) -> None:
    first = await login_with_refresh(world, http)
    rotated = await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))
    newest = rotated.json()["refresh_token"]
    response = await http.post(
        "/oauth/revoke",
        data={
            "token": first["refresh_token"],
            "client_id": world.post.id,
            "client_secret": world.post.secret or "",
        },
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    after = await http.post(TOKEN, data=refresh_form(world, newest))
    assert_oauth_error(after, 403, "invalid_grant")


async def test_revoke_needs_client_authentication(world: World, http: httpx.AsyncClient) -> None:
    first = await login_with_refresh(world, http)
    response = await http.post(
        "/oauth/revoke",
        data={"token": first["refresh_token"], "client_id": world.post.id, "client_secret": "x"},
    )
    assert_oauth_error(response, 401, "invalid_client")
    # Another client cannot revoke it either (the answer is 200, nothing happens).
    response = await http.post(
        "/oauth/revoke",
        data={"token": first["refresh_token"]},
        headers={"Authorization": basic_auth(world.basic.id, world.basic.secret or "")},
    )
    assert response.status_code == 200
    still = await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))
    assert still.status_code == 200


async def test_revoke_an_unknown_token_is_fine(world: World, http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/oauth/revoke",
        data={
            "token": "nope",
            "client_id": world.post.id,
            "client_secret": world.post.secret or "",
        },
    )
    assert response.status_code == 200


# -- client credentials -----------------------------------------------------------------


async def test_client_credentials(world: World, http: httpx.AsyncClient) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": world.m2m.id,
        "client_secret": world.m2m.secret or "",
        "audience": API,
    }
    response = await http.post(TOKEN, data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    claims = await decode(http, body["access_token"], API)
    assert claims["sub"] == f"{world.m2m.id}@clients"
    assert claims["aud"] == API
    assert claims["gty"] == "client-credentials"
    assert set(claims["scope"].split()) == set(API_SCOPES)
    event = only_event(world)
    assert event.type == "seccft"
    assert event.client_id == world.m2m.id
    assert event.client_name == "Backend"
    assert event.audience == API
    assert_no_secret_leaks(world, body["access_token"])


async def test_client_credentials_needs_an_audience(world: World, http: httpx.AsyncClient) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": world.m2m.id,
        "client_secret": world.m2m.secret or "",
    }
    assert_oauth_error(await http.post(TOKEN, data=form), 403, "access_denied")
    event = only_event(world)
    assert event.type == "feccft"
    assert event.details["error"]["error"] == "access_denied"


async def test_client_credentials_with_a_wrong_secret(
    world: World, http: httpx.AsyncClient
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": world.m2m.id,
        "client_secret": "wrong",
        "audience": API,
    }
    assert_oauth_error(await http.post(TOKEN, data=form), 401, "invalid_client")
    assert only_event(world).type == "feccft"


# -- client authentication --------------------------------------------------------------


async def test_client_secret_basic(world: World, http: httpx.AsyncClient) -> None:
    form = world.password_form(world.basic)
    del form["client_id"]
    response = await http.post(
        TOKEN,
        data=form,
        headers={"Authorization": basic_auth(world.basic.id, world.basic.secret or "")},
    )
    assert response.status_code == 200, response.text


async def test_client_secret_basic_client_may_not_post_its_secret(
    world: World, http: httpx.AsyncClient
) -> None:
    form = world.password_form(world.basic, client_secret=world.basic.secret)
    assert_oauth_error(await http.post(TOKEN, data=form), 401, "invalid_client")


async def test_client_secret_post_client_may_not_use_basic(
    world: World, http: httpx.AsyncClient
) -> None:
    form = world.password_form(world.post, client_secret=None)
    del form["client_id"]
    response = await http.post(
        TOKEN,
        data=form,
        headers={"Authorization": basic_auth(world.post.id, world.post.secret or "")},
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_public_client_needs_no_secret_and_may_not_send_one(
    world: World, http: httpx.AsyncClient
) -> None:
    assert (await http.post(TOKEN, data=world.password_form(world.public))).status_code == 200
    form = world.password_form(world.public, client_secret="anything")
    assert_oauth_error(await http.post(TOKEN, data=form), 401, "invalid_client")


async def test_missing_client_authentication(world: World, http: httpx.AsyncClient) -> None:
    form = world.password_form(client_id=None, client_secret=None)
    assert_oauth_error(await http.post(TOKEN, data=form), 401, "invalid_client")
    form = world.password_form(client_secret=None)
    assert_oauth_error(await http.post(TOKEN, data=form), 401, "invalid_client")


async def test_basic_failure_has_www_authenticate_and_post_failure_has_none(
    world: World, http: httpx.AsyncClient
) -> None:
    form = world.password_form(world.basic)
    del form["client_id"]
    response = await http.post(
        TOKEN, data=form, headers={"Authorization": basic_auth(world.basic.id, "wrong-secret")}
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="passgate"'
    posted = await http.post(TOKEN, data=world.password_form(client_secret="wrong-secret"))
    assert_oauth_error(posted, 401, "invalid_client")
    assert "www-authenticate" not in posted.headers


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
async def test_unknown_client_and_wrong_secret_are_answered_identically(
    world: World, http: httpx.AsyncClient, method: str
) -> None:
    client = world.post if method == "client_secret_post" else world.basic

    async def attempt(client_id: str, secret: str) -> httpx.Response:
        form = world.password_form(client)
        if method == "client_secret_post":
            form.update(client_id=client_id, client_secret=secret)
            return await http.post(TOKEN, data=form)
        del form["client_id"]
        return await http.post(
            TOKEN, data=form, headers={"Authorization": basic_auth(client_id, secret)}
        )

    unknown = await attempt("no-such-client-id-0123456789", "some-secret")
    wrong = await attempt(client.id, "some-secret")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.content == wrong.content
    assert unknown.headers.get("www-authenticate") == wrong.headers.get("www-authenticate")
    assert [event.type for event in world.events.events] == ["fepft", "fepft"]


# -- grants not enabled -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "client_name"),
    [
        ("password", "m2m"),
        (PASSWORD_REALM, "public"),
        ("refresh_token", "password_only"),
        ("client_credentials", "post"),
    ],
)
async def test_grant_not_enabled_for_the_client(
    world: World, http: httpx.AsyncClient, grant: str, client_name: str
) -> None:
    client: NamedClient = getattr(world, client_name)
    form = world.password_form(
        client, grant_type=grant, realm=DEFAULT_CONNECTION, refresh_token="x", audience=API
    )
    response = await http.post(TOKEN, data=form)
    assert_oauth_error(
        response, 403, "unauthorized_client", f"Grant type '{grant}' not allowed for the client."
    )
    event = only_event(world)
    assert event.details["error"]["error"] == "unauthorized_client"
    assert event.client_id == client.id


# -- scopes and audience ----------------------------------------------------------------


async def test_audience_without_api_scopes_grants_every_api_scope(
    world: World, http: httpx.AsyncClient
) -> None:
    response = await http.post(TOKEN, data=world.password_form(audience=API, scope="openid"))
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "openid read:things write:things"
    claims = await decode(http, body["access_token"], API)
    assert claims["scope"] == "openid read:things write:things"
    assert claims["aud"] == [API, USERINFO_AUDIENCE]


async def test_requested_api_scopes_are_granted_and_scope_is_omitted_when_equal(
    world: World, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        TOKEN, data=world.password_form(audience=API, scope="openid read:things")
    )
    body = response.json()
    assert "scope" not in body
    claims = await decode(http, body["access_token"], API)
    assert claims["scope"] == "openid read:things"


async def test_unknown_scopes_are_dropped_and_scope_is_returned(
    world: World, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        TOKEN, data=world.password_form(audience=API, scope="read:things delete:world")
    )
    assert response.json()["scope"] == "read:things"


async def test_unknown_audience_is_access_denied(
    world: World, http: httpx.AsyncClient, argon2_verifications: VerifyCounter
) -> None:
    response = await http.post(TOKEN, data=world.password_form(audience="https://unknown.example/"))
    assert_oauth_error(response, 403, "access_denied")
    assert argon2_verifications.count == 0
    event = only_event(world)
    assert event.type == "fepft"
    assert event.audience == "https://unknown.example/"


@pytest.mark.parametrize(
    ("scope", "claims"),
    [
        ("openid", set()),
        ("openid profile", {"name", "nickname", "updated_at", "preferred_username"}),
        ("openid email", {"email", "email_verified"}),
        (
            "openid profile email",
            {"name", "nickname", "updated_at", "preferred_username", "email", "email_verified"},
        ),
    ],
)
async def test_openid_adds_an_id_token_with_claims_per_scope(
    world: World, http: httpx.AsyncClient, scope: str, claims: set[str]
) -> None:
    response = await http.post(TOKEN, data=world.password_form(scope=scope))
    body = response.json()
    assert "scope" not in body
    id_claims = await decode(http, body["id_token"], world.post.id)
    standard = {"iss", "sub", "aud", "iat", "exp", "azp"}
    assert set(id_claims) == standard | claims
    assert id_claims["sub"] == world.alice.id
    if "email" in claims:
        assert id_claims["email"] == "Alice@Example.com"
        assert id_claims["email_verified"] is True
    if "name" in claims:
        assert id_claims["name"] == "Alice Liddell"
        assert id_claims["preferred_username"] == "alice"


async def test_no_openid_no_id_token(world: World, http: httpx.AsyncClient) -> None:
    body = (await http.post(TOKEN, data=world.password_form(scope="profile email"))).json()
    assert "id_token" not in body


async def test_offline_access_gives_a_refresh_token_when_allowed(
    world: World, http: httpx.AsyncClient
) -> None:
    body = (
        await http.post(TOKEN, data=world.password_form(audience=API, scope="offline_access"))
    ).json()
    assert "refresh_token" in body
    with world.passgate.engine.connect() as db:
        stored = db.execute(sa.select(refresh_tokens)).all()
    assert len(stored) == 1
    assert body["refresh_token"] not in json.dumps([tuple(row) for row in stored])


async def test_offline_access_without_api_permission_gives_no_refresh_token(
    world: World, http: httpx.AsyncClient
) -> None:
    form = world.password_form(audience=world.api_no_offline.identifier, scope="offline_access")
    body = (await http.post(TOKEN, data=form)).json()
    assert "access_token" in body
    assert "refresh_token" not in body


async def test_offline_access_without_the_refresh_grant_gives_no_refresh_token(
    world: World, http: httpx.AsyncClient
) -> None:
    form = world.password_form(world.password_only, audience=API, scope="offline_access")
    body = (await http.post(TOKEN, data=form)).json()
    assert "access_token" in body
    assert "refresh_token" not in body
    with world.passgate.engine.connect() as db:
        assert db.execute(sa.select(sa.func.count()).select_from(refresh_tokens)).scalar() == 0


# -- unknown user, wrong password, blocked user -----------------------------------------


async def test_unknown_user_and_wrong_password_look_and_work_the_same(
    world: World, http: httpx.AsyncClient, argon2_verifications: VerifyCounter
) -> None:
    wrong = await http.post(TOKEN, data=world.password_form(password="not the password"))
    assert argon2_verifications.count == 1
    assert argon2_verifications.hashes[0] == world.stored_hash(world.alice.id)
    unknown = await http.post(
        TOKEN, data=world.password_form(username="nobody@example.com", password="not the password")
    )
    assert argon2_verifications.count == 2
    # The unknown user's verification was a real argon2id hash with the same parameters.
    decoy = argon2_verifications.hashes[1]
    assert decoy.startswith("$argon2id$")
    assert decoy.split("$")[3] == argon2_verifications.hashes[0].split("$")[3]

    assert_oauth_error(wrong, 403, "invalid_grant", "Wrong email or password.")
    assert unknown.status_code == wrong.status_code
    assert unknown.content == wrong.content
    assert dict(unknown.headers) == dict(wrong.headers) | {
        "content-length": unknown.headers["content-length"]
    }
    first, second = world.events.events
    assert first.type == second.type == "fepft"
    assert first.details == second.details
    assert first.user_id is None
    assert second.user_id is None


async def test_blocked_user_with_the_right_password(world: World, http: httpx.AsyncClient) -> None:
    world.passgate.directory.set_blocked(world.alice.id, True)
    response = await http.post(TOKEN, data=world.password_form())
    assert_oauth_error(response, 401, "unauthorized", "user is blocked")
    event = only_event(world)
    assert event.type == "fepft"
    assert event.user_id == world.alice.id
    assert event.details["error"]["error"] == "unauthorized"


async def test_blocked_user_with_a_wrong_password_is_just_a_wrong_password(
    world: World, http: httpx.AsyncClient
) -> None:
    world.passgate.directory.set_blocked(world.alice.id, True)
    response = await http.post(TOKEN, data=world.password_form(password="nope"))
    assert_oauth_error(response, 403, "invalid_grant", "Wrong email or password.")


# -- response headers and events --------------------------------------------------------


async def test_every_answer_is_no_store(world: World, http: httpx.AsyncClient) -> None:
    requests: list[dict[str, Any]] = [
        {"data": world.password_form()},
        {"data": world.password_form(password="wrong")},
        {"data": world.password_form(grant_type="nope")},
        {"data": world.password_form(client_secret="wrong")},
        {"content": b"{", "headers": {"Content-Type": "application/json"}},
        {"content": b"x=1", "headers": {"Content-Type": "text/plain"}},
    ]
    for kwargs in requests:
        response = await http.post(TOKEN, **kwargs)
        assert response.headers["cache-control"] == "no-store", response.text
        assert response.headers["pragma"] == "no-cache"


async def test_success_event_has_every_spec_field(world: World, http: httpx.AsyncClient) -> None:
    form = world.password_form(audience=API, scope="openid offline_access")
    response = await http.post(TOKEN, data=form)
    assert response.status_code == 200
    event = only_event(world)
    assert event.type == "sepft"
    assert event.description
    assert event.log_id
    assert event.date == world.clock()
    assert event.ip == PEER_IP
    assert event.client_ip == PEER_IP
    assert event.client_id == world.post.id
    assert event.client_name == "Web App"
    assert event.connection == DEFAULT_CONNECTION
    assert event.user_id == world.alice.id
    assert event.user_name == "alice"
    assert event.user_agent == USER_AGENT
    assert event.audience == API
    assert event.scope == "openid offline_access"
    assert "error" not in event.details
    shape = event.to_json()
    for name in (
        "date",
        "type",
        "description",
        "log_id",
        "ip",
        "client_ip",
        "client_id",
        "client_name",
        "connection",
        "user_id",
        "user_name",
        "user_agent",
        "audience",
        "scope",
        "details",
    ):
        assert name in shape
    body = response.json()
    assert_no_secret_leaks(world, body["access_token"], body["id_token"], body["refresh_token"])


async def test_failure_event_has_every_spec_field(world: World, http: httpx.AsyncClient) -> None:
    form = world.password_form(password="bad password!", audience=API, scope="openid")
    await http.post(TOKEN, data=form)
    event = only_event(world)
    assert event.type == "fepft"
    assert event.ip == event.client_ip == PEER_IP
    assert (event.client_id, event.client_name) == (world.post.id, "Web App")
    assert event.connection == DEFAULT_CONNECTION
    assert event.user_name == "alice"
    assert event.user_agent == USER_AGENT
    assert (event.audience, event.scope) == (API, "openid")
    assert event.details["error"] == {
        "error": "invalid_grant",
        "message": "Wrong email or password.",
    }
    assert_no_secret_leaks(world, "bad password!")


async def test_each_request_writes_one_event_of_its_kind(
    world: World, http: httpx.AsyncClient
) -> None:
    first = await login_with_refresh(world, http)
    m2m = {
        "grant_type": "client_credentials",
        "client_id": world.m2m.id,
        "client_secret": world.m2m.secret or "",
    }
    requests = [
        (world.password_form(), "sepft"),
        (world.password_form(password="wrong"), "fepft"),
        (world.password_form(grant_type=PASSWORD_REALM, realm=DEFAULT_CONNECTION), "sepft"),
        (m2m | {"audience": API}, "seccft"),
        (m2m, "feccft"),
        (refresh_form(world, first["refresh_token"]), "sertft"),
        (refresh_form(world, "unknown"), "fertft"),
    ]
    world.events.clear()
    for form, kind in requests:
        await http.post(TOKEN, data=form)
        event = only_event(world)
        assert event.type == kind, (form, event)
        assert (event.ip, event.client_ip, event.user_agent) == (PEER_IP, PEER_IP, USER_AGENT)
        assert ("error" in event.details) == kind.startswith("f")
        world.events.clear()


async def test_no_secret_in_events_or_logs(
    world: World, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []
    first = await login_with_refresh(world, http)
    tokens += [first["access_token"], first["id_token"], first["refresh_token"]]
    second = (await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))).json()
    tokens += [second["access_token"], second["refresh_token"]]
    await http.post(TOKEN, data=refresh_form(world, first["refresh_token"]))  # reuse
    await http.post(TOKEN, data=world.password_form(password=PASSWORD + "x"))
    await http.post(TOKEN, data=world.password_form(client_secret=(world.post.secret or "") + "x"))
    await http.post(
        TOKEN,
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers={"Authorization": basic_auth(world.basic.id, world.basic.secret or "")},
    )
    await http.post(
        TOKEN,
        json={
            "grant_type": "client_credentials",
            "client_id": world.m2m.id,
            "client_secret": world.m2m.secret,
            "audience": API,
        },
    )
    await http.post("/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    await http.post(
        "/oauth/revoke",
        data={
            "token": second["refresh_token"],
            "client_id": world.post.id,
            "client_secret": world.post.secret or "",
        },
    )
    leaked = (*world.secrets(), PASSWORD + "x", *tokens)
    assert len(world.events.events) == 8  # the revocation's srrt included
    assert_no_secret_leaks(world, *leaked)
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    for value in leaked:
        assert value not in logged


# -- rehash on login --------------------------------------------------------------------


async def test_login_rehashes_when_argon2_parameters_change(
    world: World, tmp_path: Path, sql_url: str
) -> None:
    before = world.stored_hash(world.alice.id)
    assert "m=1024,t=1" in before
    stronger = Passgate(
        make_settings(tmp_path, sql_url, argon2_memory_kib=2048, argon2_time_cost=2),
        clock=world.clock,
        events=CapturedEvents(),
    )
    try:
        async with asgi_client(create_app(stronger)) as http:
            response = await http.post(TOKEN, data=world.password_form())
            assert response.status_code == 200, response.text
            after = world.stored_hash(world.alice.id)
            assert after != before
            assert "m=2048,t=2" in after
            assert stronger.hasher.verify(after, PASSWORD)
            assert not stronger.hasher.needs_rehash(after)
            # Logging in again with the same parameters does not rehash again.
            assert (await http.post(TOKEN, data=world.password_form())).status_code == 200
            assert world.stored_hash(world.alice.id) == after
    finally:
        stronger.close()


async def test_a_wrong_password_never_rehashes(world: World, tmp_path: Path, sql_url: str) -> None:
    before = world.stored_hash(world.alice.id)
    stronger = Passgate(
        make_settings(tmp_path, sql_url, argon2_memory_kib=2048),
        clock=world.clock,
        events=CapturedEvents(),
    )
    try:
        async with asgi_client(create_app(stronger)) as http:
            response = await http.post(TOKEN, data=world.password_form(password="wrong"))
            assert response.status_code == 403
    finally:
        stronger.close()
    assert world.stored_hash(world.alice.id) == before


# -- userinfo and discovery -------------------------------------------------------------


async def test_userinfo_with_the_access_token(world: World, http: httpx.AsyncClient) -> None:
    form = world.password_form(audience=API, scope="openid profile email")
    token = (await http.post(TOKEN, data=form)).json()["access_token"]
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    claims = response.json()
    assert claims["sub"] == world.alice.id
    assert claims["email"] == "Alice@Example.com"
    assert claims["name"] == "Alice Liddell"


async def test_userinfo_releases_only_what_the_scopes_allow(
    world: World, http: httpx.AsyncClient
) -> None:
    token = (await http.post(TOKEN, data=world.password_form(scope="openid"))).json()[
        "access_token"
    ]
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"sub": world.alice.id}


async def test_userinfo_refuses_bad_tokens(world: World, http: httpx.AsyncClient) -> None:
    m2m = {
        "grant_type": "client_credentials",
        "client_id": world.m2m.id,
        "client_secret": world.m2m.secret or "",
        "audience": API,
    }
    api_only = (await http.post(TOKEN, data=m2m)).json()["access_token"]
    good = (await http.post(TOKEN, data=world.password_form(scope="openid"))).json()["access_token"]
    for header in ("", "Bearer", "Bearer not.a.jwt", f"Bearer {api_only}", f"Basic {good}"):
        response = await http.get("/userinfo", headers={"Authorization": header} if header else {})
        assert response.status_code == 401, header
        assert response.headers["www-authenticate"].startswith("Bearer")
    # Expired tokens are refused.
    world.clock.advance(86400 + 1)
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_userinfo_of_a_blocked_user_is_refused(world: World, http: httpx.AsyncClient) -> None:
    token = (await http.post(TOKEN, data=world.password_form(scope="openid"))).json()[
        "access_token"
    ]
    world.passgate.directory.set_blocked(world.alice.id, True)
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_openid_configuration(world: World, http: httpx.AsyncClient) -> None:
    response = await http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == ISSUER
    assert document["token_endpoint"] == ISSUER + "oauth/token"
    assert document["jwks_uri"] == ISSUER + ".well-known/jwks.json"
    assert document["userinfo_endpoint"] == ISSUER + "userinfo"
    assert document["revocation_endpoint"] == ISSUER + "oauth/revoke"
    assert "password" in document["grant_types_supported"]
    assert PASSWORD_REALM in document["grant_types_supported"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_post",
        "client_secret_basic",
    }


async def test_jwks_publishes_public_keys_only(world: World, http: httpx.AsyncClient) -> None:
    keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
    assert {key["kty"] for key in keys} == {"RSA", "EC"}
    for key in keys:
        assert key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


async def test_es256_is_selected_per_api(world: World, http: httpx.AsyncClient) -> None:
    form = world.password_form(audience=world.api_es256.identifier, scope="openid")
    body = (await http.post(TOKEN, data=form)).json()
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"
    claims = await decode(http, body["access_token"], world.api_es256.identifier)
    assert claims["scope"] == "openid read:es"
    # The ID token stays RS256 (what the discovery document promises).
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"
    await decode(http, body["id_token"], world.post.id)
    # /userinfo accepts the ES256 access token too.
    response = await http.get(
        "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 200
    rs = (await http.post(TOKEN, data=world.password_form(audience=API))).json()
    assert jwt.get_unverified_header(rs["access_token"])["alg"] == "RS256"


async def test_key_rotation_keeps_old_tokens_verifiable(
    world: World, http: httpx.AsyncClient
) -> None:
    old = (await http.post(TOKEN, data=world.password_form(audience=API, scope="openid"))).json()
    old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
    new_kids = world.passgate.keys.rotate()
    assert old_kid not in new_kids
    kids = {key["kid"] for key in (await http.get("/.well-known/jwks.json")).json()["keys"]}
    assert old_kid in kids
    assert set(new_kids) <= kids
    assert (await decode(http, old["access_token"], API))["sub"] == world.alice.id
    new = (await http.post(TOKEN, data=world.password_form(audience=API, scope="openid"))).json()
    assert jwt.get_unverified_header(new["access_token"])["kid"] in new_kids
    assert (await decode(http, new["access_token"], API))["sub"] == world.alice.id
    for token in (old["access_token"], new["access_token"]):
        response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
