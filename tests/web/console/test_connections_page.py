"""The console's Connections page (the Users area): connections listed with their policy,
one connection's options saved through the connections service (the API's checks: a
refused value is named and nothing is stored; options the form does not show are kept),
a new connection created, and what a sign-up then meets."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest

from passgate.domain.models import Connection
from passgate.management.connections import ConnectionChange
from passgate.storage.directory import DEFAULT_CONNECTION
from tests.protection_e2e.helpers import Stack
from tests.web.console.helpers import (
    ADMIN_EMAIL,
    VIEWER_EMAIL,
    VIEWER_PASSWORD,
    Browser,
    browser,
    logged_in_admin,
)

pytestmark = pytest.mark.anyio

#: Today's rules as the form shows them for the default connection.
DEFAULT_FORM: dict[str, Any] = {
    "password_policy": "low",
    "min_length": "8",
    "history_size": "5",
    "dictionary_words": "",
    "signup": "on",
    "brute_force": "on",
    "username_min": "",
    "username_max": "",
}


def _default(stack: Stack) -> Connection:
    return stack.passgate.management.connections.by_name(DEFAULT_CONNECTION)


def _every_client(stack: Stack) -> list[str]:
    return [client.client_id for client in stack.passgate.applications.list_clients()]


async def _save(admin: Browser, stack: Stack, **fields: Any) -> httpx.Response:
    form = {**DEFAULT_FORM, "enabled_clients": _every_client(stack), **fields}
    form = {name: value for name, value in form.items() if value is not None}  # unchecked
    return await admin.post(f"/admin/connections/{_default(stack).id}", form)


async def _signup(stack: Stack, password: str, email: str = "dora@example.com") -> httpx.Response:
    async with stack.http() as http:
        return await http.post(
            "/dbconnections/signup",
            json={
                "client_id": stack.public.id,
                "email": email,
                "password": password,
                "connection": DEFAULT_CONNECTION,
            },
        )


async def test_the_list_shows_each_connection_and_its_policy(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        page = await admin.http.get("/admin/connections")
        assert page.status_code == 200
        assert DEFAULT_CONNECTION in page.text
        row = page.text.split(DEFAULT_CONNECTION, 1)[1].split("</tr>")[0]
        assert "<td>low</td>" in row
        assert "<td>8</td>" in row
        users = await admin.http.get("/admin/users")
        assert 'href="/admin/connections"' in users.text


async def test_saving_the_form_stores_the_options_and_writes_sapi(console: Stack) -> None:
    before = _default(console)
    console.passgate.management.connections.update(  # a key the form does not show
        before.id,
        ConnectionChange.from_body({"options": {**before.options, "custom_note": "kept"}}),
    )
    async with logged_in_admin(console) as admin:
        saved = await _save(
            admin,
            console,
            password_policy="excellent",
            min_length="12",
            history="on",
            history_size="3",
            dictionary="on",
            dictionary_words="Acme\nwidgets\n\n",
            personal_info="on",
            signup=None,
            requires_username="on",
            username_min="3",
            username_max="20",
            brute_force=None,
            enabled_clients=[console.trusted.id, console.public.id],
        )
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"].endswith("?done=saved")
        page = await admin.http.get(saved.headers["location"])
        assert "Saved." in page.text
        assert "Brute-force protection is off for this connection" in page.text
    options = dict(_default(console).options)
    assert options == {
        "passwordPolicy": "excellent",
        "password_complexity_options": {"min_length": 12},
        "password_history": {"enable": True, "size": 3},
        "password_dictionary": {"enable": True, "dictionary": ["Acme", "widgets"]},
        "password_no_personal_info": {"enable": True},
        "disable_signup": True,
        "requires_username": True,
        "validation": {"username": {"min": 3, "max": 20}},
        "brute_force_protection": False,
        "custom_note": "kept",
    }
    assert set(_default(console).enabled_clients) == {console.trusted.id, console.public.id}
    [event] = [e for e in console.events.of_type("sapi") if e.description == "Update a connection"]
    assert event.user_name == ADMIN_EMAIL
    assert event.details["changes"]["options"]["passwordPolicy"] == "excellent"


async def test_the_strength_chosen_in_the_form_refuses_the_next_weak_sign_up(
    console: Stack,
) -> None:
    assert (await _signup(console, "weakpass", "first@example.com")).status_code == 200
    async with logged_in_admin(console) as admin:
        assert (await _save(admin, console, password_policy="excellent")).status_code == 303
    refused = await _signup(console, "weakpass")
    assert refused.status_code == 400
    assert refused.json()["name"] == "PasswordStrengthError"
    assert (await _signup(console, "Str0ng!Passw0rd")).status_code == 200


async def test_sign_up_switched_off_in_the_form_is_refused(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        assert (await _save(admin, console, signup=None)).status_code == 303
    refused = await _signup(console, "a fine password 1")
    assert refused.status_code == 400
    assert refused.json()["description"] == "public signup is disabled"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"min_length": "129"}, "min_length"),
        ({"min_length": "0"}, "min_length"),
        ({"min_length": "²"}, "Minimum length"),
        ({"min_length": "--5"}, "Minimum length"),
        ({"min_length": "12345678901234"}, "min_length"),
        ({"password_policy": "strong"}, "unknown level"),
        ({"password_policy": ""}, "unknown level"),
        ({"history": "on", "history_size": "25"}, "password_history"),
        ({"history": "on", "history_size": "0"}, "password_history"),
        ({"history": "on", "history_size": ""}, "password_history"),
        ({"history": "on", "history_size": "-3"}, "password_history"),
        ({"username_min": "0"}, "validation"),
        ({"username_min": "20", "username_max": "3"}, "validation"),
        ({"username_max": "129"}, "validation"),
        ({"dictionary": "on", "dictionary_words": "x" * 51}, "dictionary"),
        (
            {"dictionary": "on", "dictionary_words": "\n".join(f"w{n}" for n in range(201))},
            "dictionary",
        ),
        ({"dictionary_words": "\n".join(f"w{n}" for n in range(1001))}, "dictionary_words"),
        ({"enabled_clients": ["no-such-client"]}, "enabled_clients"),
        ({"password_policy": ["low", "good"]}, "password_policy"),
    ],
)
async def test_a_refused_value_is_named_and_nothing_is_stored(
    console: Stack, fields: dict[str, Any], named: str
) -> None:
    before = _default(console)
    async with logged_in_admin(console) as admin:
        refused = await _save(admin, console, **fields)
    assert refused.status_code == 400, refused.text
    assert named in html.unescape(refused.text)
    assert _default(console) == before
    assert [
        e for e in console.events.of_type("sapi") if "connection" in (e.description or "")
    ] == []
    [event] = console.events.of_type("fapi")
    assert event.description == "Update a connection"


async def test_an_unknown_connection_is_a_404_page(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        for path in ("/admin/connections/con_nothing", "/admin/connections/" + "x" * 500):
            page = await admin.http.get(path)
            assert page.status_code == 404, path
        refused = await admin.post("/admin/connections/con_nothing", DEFAULT_FORM)
        assert refused.status_code == 404


async def test_creating_a_connection_enables_every_application_when_asked(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        made = await admin.post(
            "/admin/connections/create",
            {"name": "Staff-DB", "password_policy": "fair", "all_clients": "on"},
        )
        assert made.status_code == 303, made.text
        page = await admin.http.get(made.headers["location"])
        assert "The connection is created." in page.text
        lonely = await admin.post(
            "/admin/connections/create", {"name": "Lonely", "password_policy": "good"}
        )
        assert lonely.status_code == 303
        again = await admin.post(
            "/admin/connections/create", {"name": "Staff-DB", "password_policy": "good"}
        )
        assert again.status_code == 409, again.text
        for name in ("bad name", "-x", "a--b", "x" * 129, ""):
            bad = await admin.post(
                "/admin/connections/create", {"name": name, "password_policy": "good"}
            )
            assert bad.status_code == 400, name
    service = console.passgate.management.connections
    staff = service.by_name("Staff-DB")
    assert staff.options == {"passwordPolicy": "fair"}
    assert set(staff.enabled_clients) == set(_every_client(console))
    assert service.by_name("Lonely").enabled_clients == ()


async def test_own_words_and_names_are_shown_escaped(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        saved = await _save(
            admin, console, dictionary="on", dictionary_words="<script>alert(1)</script>"
        )
        assert saved.status_code == 303, saved.text
        page = await admin.http.get(saved.headers["location"])
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_a_viewer_reads_the_connection_without_a_form(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        await client.login(VIEWER_EMAIL, VIEWER_PASSWORD)
        page = await client.http.get(f"/admin/connections/{_default(console).id}")
    assert page.status_code == 200
    assert "Save connection" not in page.text
    assert 'action="/admin/connections' not in page.text
    assert "Password policy now" in page.text
