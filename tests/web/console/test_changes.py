"""Every change the console can make: a viewer is refused (403, ``fapi``) on each, a
post without the session's CSRF token is refused on each, and nothing changes; an
administrator's change writes ``sapi`` naming the administrator."""

from __future__ import annotations

import pytest
from starlette.routing import Route

from passgate.domain.admins import ADMIN_CONNECTION
from tests.protection_e2e.helpers import IP_A, PASSWORD, WRONG, Stack
from tests.web.console.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    VIEWER_EMAIL,
    VIEWER_PASSWORD,
    browser,
)

pytestmark = pytest.mark.anyio

#: Posts that need no session or role: logging in, and logging out.
OPEN_POSTS = {"/admin/login", "/admin/logout"}


def _change_routes(stack: Stack) -> list[str]:
    paths = [
        route.path
        for route in stack.app.routes
        if isinstance(route, Route)
        and route.path.startswith("/admin")
        and "POST" in (route.methods or ())
        and route.path not in OPEN_POSTS
    ]
    assert paths, "the console has no change routes"
    return paths


def _concrete(path: str) -> str:
    """A path with its ``{parameters}`` filled in."""
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "x" + path[end + 1 :]
    return path


async def test_a_viewer_gets_403_on_every_change_route_and_fapi_is_written(
    console: Stack,
) -> None:
    client = browser(console)
    async with client.http:
        await client.login(VIEWER_EMAIL, VIEWER_PASSWORD)
        csrf = await client.csrf()
        for path in _change_routes(console):
            answer = await client.http.post(_concrete(path), data={"csrf": csrf})
            assert answer.status_code == 403, path
            assert "viewer" in answer.text
    refused = console.events.of_type("fapi")
    assert len(refused) == len(_change_routes(console))
    assert {event.user_name for event in refused} == {VIEWER_EMAIL}
    assert console.events.of_type("sapi") == []


async def test_every_change_route_refuses_a_post_without_or_with_a_wrong_csrf_token(
    console: Stack,
) -> None:
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        for path in _change_routes(console):
            for data in ({"ip": IP_A}, {"csrf": "0" * 64}, {"csrf": ""}):
                answer = await client.http.post(_concrete(path), data=data)
                assert answer.status_code == 403, (path, data)
    assert console.events.of_type("sapi") == []


async def test_a_change_route_without_a_session_goes_to_the_login(console: Stack) -> None:
    async with browser(console).http as http:
        for path in _change_routes(console):
            answer = await http.post(_concrete(path), data={"csrf": "x"})
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/admin/login")


async def test_the_csrf_token_of_another_session_is_refused(console: Stack) -> None:
    other = browser(console)
    client = browser(console)
    async with other.http, client.http:
        await other.login(VIEWER_EMAIL, VIEWER_PASSWORD)
        foreign = await other.csrf()
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        answer = await client.http.post(
            "/admin/blocks/unthrottle", data={"csrf": foreign, "ip": IP_A}
        )
    assert answer.status_code == 403


async def test_the_blocks_page_lists_a_blocked_account_and_unblock_lifts_it(
    console: Stack,
) -> None:
    async with console.http() as app:
        for _ in range(10):
            await console.login(app, "alice@example.com", WRONG, forwarded=IP_A)
        assert (await console.login(app, "alice", PASSWORD, forwarded=IP_A)).status_code == 429
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        page = await client.http.get("/admin/blocks")
        assert "alice@example.com" in page.text
        assert IP_A in page.text
        assert ">Unblock</button>" in page.text
        found = await client.http.get("/admin/blocks", params={"q": "ALICE"})
        assert IP_A in found.text
        other = await client.http.get("/admin/blocks", params={"q": "198.51.100.250"})
        assert "No account is blocked" in other.text
        subject = page.text.split('name="subject" value="')[1].split('"')[0]
        answer = await client.post(
            "/admin/blocks/release",
            {"subject": subject, "ip": IP_A, "connection": "Username-Password-Authentication"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/blocks?done=account"
        again = await client.post(
            "/admin/blocks/release",
            {"subject": subject, "ip": IP_A, "connection": "Username-Password-Authentication"},
        )
        assert again.status_code == 404
    async with console.http() as app:
        assert (await console.login(app, "alice", PASSWORD, forwarded=IP_A)).status_code == 200
    (sapi,) = console.events.of_type("sapi")
    assert sapi.user_name == ADMIN_EMAIL
    assert sapi.details["changes"]["identifier"] == "alice@example.com"
    assert sapi.details["actor"]["role"] == "admin"
    (released,) = console.events.of_type("ublkdu")
    assert released.details["released_by"] == "administrator (console)"


async def test_a_blocked_administrator_is_listed_and_can_be_unblocked_by_another(
    console: Stack,
) -> None:
    attacker = browser(console, peer="192.0.2.66")
    async with attacker.http:
        for _ in range(10):
            await attacker.login(ADMIN_EMAIL, "a wrong guess")
        assert (await attacker.login(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 429
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        page = await client.http.get("/admin/blocks")
        assert ADMIN_CONNECTION in page.text
        assert "192.0.2.66" in page.text
        subject = page.text.split('name="subject" value="')[1].split('"')[0]
        answer = await client.post(
            "/admin/blocks/release",
            {"subject": subject, "ip": "192.0.2.66", "connection": ADMIN_CONNECTION},
        )
        assert answer.status_code == 303
    again = browser(console, peer="192.0.2.66")
    async with again.http:
        assert (await again.login(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "", "connection": "x"},
        {"subject": "a" * 65, "connection": "x"},
        {"subject": "abc", "connection": "x", "ip": "not an ip"},
        {"subject": "abc", "connection": "x", "ip": "1.2.3.4\u200b"},
    ],
)
async def test_bad_release_forms_get_a_clear_400(console: Stack, fields: dict[str, str]) -> None:
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        answer = await client.post("/admin/blocks/release", fields)
    assert answer.status_code == 400
    assert console.events.of_type("fapi")
