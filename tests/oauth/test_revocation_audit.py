"""The audit trail of refresh tokens: revocation and reuse (Auth0's log event codes).

- ``POST /oauth/revoke`` that revokes a client's token writes ``srrt`` ("Successfully
  revoked a refresh token"). Auth0 has no event code for a failed revocation; a refused
  request (400, 401) and a token that is unknown or another client's (200, RFC 7009)
  write none.
- Using an already rotated refresh token revokes its family and writes ``ferrt``
  (Auth0's "Failed Exchange of Rotating Refresh Token. This could occur when reuse is
  detected."), with the family revoked as its reason; every other failed refresh is
  ``fertft`` with a reason of its own.
- No token, nor any part of one, nor its stored digest, is ever in an event.

Run on SQLite and PostgreSQL, through the SQL event log (what ``passgate logs`` and an
operator searching by type read back).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from passgate.app import Passgate
from passgate.domain.events import Event
from passgate.storage.schema import events as events_table
from passgate.storage.schema import refresh_tokens
from passgate.testing import CapturedEvents, ManualClock
from tests.oauth.conftest import (
    API,
    PEER_IP,
    USER_AGENT,
    NamedClient,
    World,
    asgi_client,
    build_world,
    make_settings,
)
from tests.oauth.test_token_endpoint import TOKEN, basic_auth

pytestmark = pytest.mark.anyio

REVOKE = "/oauth/revoke"
REUSE_REASON = "refresh token reused: its family was revoked"


@pytest.fixture
def logged(sql_url: str, tmp_path: Path) -> Iterator[World]:
    """A world whose events go to the SQL event log, written as they happen."""
    clock = ManualClock(float(int(time.time())))
    passgate = Passgate(make_settings(tmp_path, sql_url), clock=clock, buffered_events=False)
    try:
        yield build_world(passgate, CapturedEvents(), clock)
    finally:
        passgate.close()


@pytest.fixture
async def http(logged: World) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(logged.app) as client:
        yield client


def stored(world: World, *types: str) -> list[Event]:
    """Events of ``types`` as the SQL log returns them, oldest first."""
    return list(reversed(world.passgate.event_log.recent(types=types, limit=100)))


def stored_text(world: World) -> str:
    """Every stored event row, every column, as one text."""
    with world.passgate.engine.connect() as db:
        rows = db.execute(sa.select(events_table)).all()
    return "\n".join(json.dumps([str(value) for value in row]) for row in rows)


def token_digests(world: World) -> list[str]:
    with world.passgate.engine.connect() as db:
        return [str(row[0]) for row in db.execute(sa.select(refresh_tokens.c.token_digest))]


def assert_no_token_in_events(world: World, *tokens: str) -> None:
    """Neither a token, nor any 8 characters of one, nor a stored digest is in the log."""
    text = stored_text(world)
    for token in tokens:
        for start in range(len(token) - 7):
            assert token[start : start + 8] not in text
    for digest in token_digests(world):
        assert digest not in text
        assert digest[:16] not in text


async def login(world: World, http: httpx.AsyncClient, client: NamedClient | None = None) -> str:
    client = client or world.post
    form = world.password_form(client, audience=API, scope="openid offline_access")
    headers = {}
    if client.client.token_endpoint_auth_method == "client_secret_basic":
        headers["authorization"] = basic_auth(client.id, client.secret or "")
    response = await http.post(TOKEN, data=form, headers=headers)
    assert response.status_code == 200, response.text
    token: str = response.json()["refresh_token"]
    return token


def refresh_form(world: World, token: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": world.post.id,
        "client_secret": world.post.secret or "",
    }


async def refresh(world: World, http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post(TOKEN, data=refresh_form(world, token))


def family_of(world: World, token: str) -> str:
    record = world.passgate.refresh_tokens.find(token)
    assert record is not None
    return record.family_id


# -- srrt ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["form", "sdk-json", "basic"])
async def test_revoking_a_refresh_token_writes_srrt(
    logged: World, http: httpx.AsyncClient, shape: str
) -> None:
    world = logged
    client = world.basic if shape == "basic" else world.post
    token = await login(world, http, client)
    family = family_of(world, token)
    if shape == "form":
        body = {"token": token, "client_id": client.id, "client_secret": client.secret or ""}
        response = await http.post(REVOKE, data=body)
    elif shape == "sdk-json":  # auth0-python's RevokeToken.revoke_refresh_token body
        body = {"client_id": client.id, "token": token, "client_secret": client.secret or ""}
        response = await http.post(REVOKE, json=body)
    else:
        auth = {"authorization": basic_auth(client.id, client.secret or "")}
        response = await http.post(REVOKE, data={"token": token}, headers=auth)
    assert response.status_code == 200, response.text

    (event,) = stored(world, "srrt")
    assert event.description == "Successfully revoked a refresh token"
    assert (event.client_id, event.client_name) == (client.id, client.client.name)
    assert (event.user_id, event.audience) == (world.alice.id, API)
    assert (event.ip, event.client_ip, event.user_agent) == (PEER_IP, PEER_IP, USER_AGENT)
    assert event.details["familyId"] == family
    assert_no_token_in_events(world, token)


async def test_a_revocation_that_revokes_nothing_or_is_refused_writes_no_srrt(
    logged: World, http: httpx.AsyncClient
) -> None:
    world = logged
    token = await login(world, http)
    post, basic = world.post, world.basic
    assert post.secret is not None
    assert basic.secret is not None
    attempts = [
        # (body, headers, status)
        ({"token": "never-issued", "client_id": post.id, "client_secret": post.secret}, {}, 200),
        ({"token": token, "client_id": world.public.id}, {}, 200),  # another client's
        ({"token": token, "client_id": post.id, "client_secret": "wrong"}, {}, 401),
        ({"client_id": post.id, "client_secret": post.secret}, {}, 400),
        ({"token": "", "client_id": post.id, "client_secret": post.secret}, {}, 400),
        ({"token": token}, {"authorization": basic_auth(basic.id, "wrong")}, 401),
    ]
    for body, headers, status in attempts:
        response = await http.post(REVOKE, data=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    assert stored(world, "srrt") == []
    # The token is still good: nothing was revoked.
    assert (await refresh(world, http, token)).status_code == 200
    assert_no_token_in_events(world, token, "never-issued")


async def test_revoking_twice_writes_srrt_each_time_and_the_family_stays_revoked(
    logged: World, http: httpx.AsyncClient
) -> None:
    world = logged
    token = await login(world, http)
    rotated = (await refresh(world, http, token)).json()["refresh_token"]
    body = {"token": token, "client_id": world.post.id, "client_secret": world.post.secret}
    for _ in range(2):
        assert (await http.post(REVOKE, data=body)).status_code == 200
    first, second = stored(world, "srrt")
    assert first.details["already_revoked"] is False
    assert second.details["already_revoked"] is True
    answer = await refresh(world, http, rotated)
    assert answer.status_code == 403
    (failure,) = stored(world, "fertft")
    assert failure.details["reason"] == "refresh token revoked"
    assert_no_token_in_events(world, token, rotated)


# -- ferrt and fertft ------------------------------------------------------------------


async def test_reusing_a_rotated_refresh_token_writes_ferrt_with_its_reason(
    logged: World, http: httpx.AsyncClient
) -> None:
    world = logged
    first = await login(world, http)
    family = family_of(world, first)
    second = (await refresh(world, http, first)).json()["refresh_token"]

    reused = await refresh(world, http, first)
    assert reused.status_code == 403
    assert reused.json() == {
        "error": "invalid_grant",
        "error_description": "Unknown or invalid refresh token.",
    }  # the client learns nothing more than for any other bad token
    after = await refresh(world, http, second)
    assert after.status_code == 403

    assert [event.type for event in stored(world, "sertft", "fertft", "ferrt")] == [
        "sertft",
        "ferrt",
        "fertft",
    ]
    (reuse,) = stored(world, "ferrt")
    assert reuse.description == (
        "Failed exchange of rotating refresh token: reuse detected, its family was revoked"
    )
    assert reuse.details["reason"] == REUSE_REASON
    assert reuse.details["familyId"] == family
    assert reuse.details["error"] == {
        "error": "invalid_grant",
        "message": "Unknown or invalid refresh token.",
    }
    assert (reuse.user_id, reuse.client_id, reuse.audience) == (world.alice.id, world.post.id, API)
    (revoked,) = stored(world, "fertft")
    assert revoked.details["reason"] == "refresh token revoked"
    assert revoked.details["familyId"] == family
    assert_no_token_in_events(world, first, second)


async def test_every_failed_refresh_says_why(logged: World, http: httpx.AsyncClient) -> None:
    world = logged
    token = await login(world, http)
    foreign = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": world.public.id,
    }
    assert (await http.post(TOKEN, data=foreign)).status_code == 403
    assert (await refresh(world, http, "never-issued")).status_code == 403
    world.clock.advance(31 * 24 * 3600)
    assert (await refresh(world, http, token)).status_code == 403
    reasons = [event.details.get("reason") for event in stored(world, "fertft")]
    assert reasons == [
        "refresh token issued to another client",
        "refresh token unknown",
        "refresh token expired",
    ]
    assert stored(world, "ferrt") == []
    assert_no_token_in_events(world, token, "never-issued")


async def test_reuse_is_found_by_its_type_and_later_uses_as_revoked(
    logged: World, http: httpx.AsyncClient
) -> None:
    """A thief and the rightful client racing with the same token: the first reuse is
    the ``ferrt`` (the type alone finds it); later uses meet a revoked family."""
    world = logged
    first = await login(world, http)
    assert (await refresh(world, http, first)).status_code == 200
    for _ in range(3):
        assert (await refresh(world, http, first)).status_code == 403
    (reuse,) = stored(world, "ferrt")
    assert reuse.details["reason"] == REUSE_REASON
    later = [event.details["reason"] for event in stored(world, "fertft")]
    assert later == ["refresh token revoked", "refresh token revoked"]
