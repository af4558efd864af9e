"""Paths the app does not serve: no redirect to a host the client chose.

Starlette's router answers a path that differs from a route by a trailing slash with a
307 redirect built from the request's ``Host`` header; passgate answers 404 instead.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from tests.oauth.conftest import World

pytestmark = pytest.mark.anyio

EVIL = {"host": "evil.example"}


def served(world: World) -> list[tuple[str, str]]:
    """(method, path) of every route of the app, path parameters filled in."""
    found = []
    for route in world.app.routes:
        assert isinstance(route, Route), route  # a Mount would need its own look
        path = route.path.replace("{prefix}", "ABCDE")
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


async def test_every_route_has_a_trailing_slash_twin_that_is_404_not_a_redirect(
    world: World, http: httpx.AsyncClient
) -> None:
    routes = served(world)
    assert ("POST", "/oauth/token") in routes
    assert ("GET", "/userinfo") in routes
    for method, path in routes:
        for variant in (path + "/", path + "//", path + "/?next=x"):
            answer = await http.request(method, variant, headers=EVIL)
            if ":identifier}" not in path:  # else the twin names another API (slashes and all)
                assert answer.status_code == 404, (method, variant, answer.status_code)
            assert "location" not in answer.headers, (method, variant)
            assert "evil.example" not in answer.text


async def test_the_token_endpoint_and_userinfo_with_a_trailing_slash(
    world: World, http: httpx.AsyncClient
) -> None:
    token = await http.post("/oauth/token/", data=world.password_form(), headers=EVIL)
    userinfo = await http.get("/userinfo/", headers={**EVIL, "authorization": "Bearer x"})
    for answer in (token, userinfo):
        assert answer.status_code == 404
        assert "location" not in answer.headers
    # The paths themselves still work.
    assert (await http.post("/oauth/token", data=world.password_form())).status_code == 200
