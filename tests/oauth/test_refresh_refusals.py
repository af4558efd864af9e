"""A refresh whose user is blocked or gone is refused before its token is used.

Auth0 answers a refresh for a blocked user with 403 ``invalid_grant`` "user is blocked".
The refusal must change nothing: the presented token stays unused (no successor, no
``used_at``), so once the user is unblocked the same token works, and a refused attempt
never looks like a reuse later (which would revoke the family). Reuse detection still
works for a blocked user. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from passgate.storage.schema import users
from tests.oauth.conftest import API, World, assert_oauth_error

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"
UNKNOWN = "Unknown or invalid refresh token."


async def login(world: World, http: httpx.AsyncClient) -> str:
    form = world.password_form(audience=API, scope="openid offline_access")
    response = await http.post(TOKEN, data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["refresh_token"]
    return token


async def refresh(world: World, http: httpx.AsyncClient, token: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": world.post.id,
        "client_secret": world.post.secret or "",
    }
    return await http.post(TOKEN, data=form)


def stored_tokens(world: World) -> list[tuple[Any, ...]]:
    return world.snapshot()["refresh_tokens"]


def event_types(world: World) -> list[str]:
    return [event.type for event in world.events.events]


async def test_a_blocked_users_refresh_is_refused_and_the_token_works_after_unblocking(
    world: World, http: httpx.AsyncClient
) -> None:
    token = await login(world, http)
    world.passgate.directory.set_blocked(world.alice.id, True)
    before = stored_tokens(world)
    for _ in range(3):  # retried while blocked: still nothing used
        response = await refresh(world, http, token)
        assert stored_tokens(world) == before, "a refused refresh used the token"
        assert_oauth_error(response, 403, "invalid_grant", "user is blocked")
    event = world.events.events[-1]
    assert event.type == "fertft"
    assert event.user_id == world.alice.id
    assert event.audience == API
    assert event.details["reason"] == "user is blocked"
    assert event.details["error"] == {"error": "invalid_grant", "message": "user is blocked"}

    world.passgate.directory.set_blocked(world.alice.id, False)
    again = await refresh(world, http, token)
    assert again.status_code == 200, again.text
    newest = again.json()["refresh_token"]
    assert (await refresh(world, http, newest)).status_code == 200  # the family is alive
    assert event_types(world) == ["sepft", "fertft", "fertft", "fertft", "sertft", "sertft"]


async def test_a_deleted_users_refresh_is_refused_and_uses_nothing(
    world: World, http: httpx.AsyncClient
) -> None:
    token = await login(world, http)
    with world.passgate.engine.begin() as db:
        db.execute(users.delete().where(users.c.id == world.alice.id))
    before = stored_tokens(world)
    response = await refresh(world, http, token)
    assert stored_tokens(world) == before, "a refused refresh used the token"
    assert_oauth_error(response, 403, "invalid_grant", UNKNOWN)
    event = world.events.events[-1]
    assert event.type == "fertft"
    assert event.user_id == world.alice.id
    assert event.details["reason"] == "the refresh token's user no longer exists"


async def test_reuse_is_still_detected_while_the_user_is_blocked(
    world: World, http: httpx.AsyncClient
) -> None:
    first = await login(world, http)
    rotated = await refresh(world, http, first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    world.passgate.directory.set_blocked(world.alice.id, True)

    reused = await refresh(world, http, first)
    assert_oauth_error(reused, 403, "invalid_grant", UNKNOWN)
    assert world.events.events[-1].type == "ferrt"
    world.passgate.directory.set_blocked(world.alice.id, False)
    after = await refresh(world, http, second)  # the family was revoked
    assert_oauth_error(after, 403, "invalid_grant", UNKNOWN)
    assert world.events.events[-1].details["reason"] == "refresh token revoked"


async def test_a_refused_refresh_is_not_taken_for_a_reuse_later(
    world: World, http: httpx.AsyncClient
) -> None:
    """Blocked, refused, unblocked: the token rotates once, and only its second use is a
    reuse (before the fix, the refused attempt had already used it)."""
    token = await login(world, http)
    world.passgate.directory.set_blocked(world.alice.id, True)
    assert (await refresh(world, http, token)).status_code != 200  # (the answer: above)
    world.passgate.directory.set_blocked(world.alice.id, False)
    unblocked = await refresh(world, http, token)
    assert unblocked.status_code == 200, unblocked.text
    assert (await refresh(world, http, token)).status_code == 403
    assert event_types(world) == ["sepft", "fertft", "sertft", "ferrt"]
    with world.passgate.engine.connect() as db:
        revoked = db.execute(
            sa.text("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")
        ).scalar_one()
    assert revoked == 2  # the token and its successor
