"""The console's pages in process: every page renders for an administrator and for a
viewer (who gets no form that changes anything), logs search with the API's language,
an event's page shows every field escaped, settings forms validate as the API does, and
applications show their secret once."""

from __future__ import annotations

import html
import re

import pytest

from passgate.domain.events import Event
from passgate.web.console.nav import NAV
from tests.protection_e2e.helpers import IP_A, Stack
from tests.web.console.helpers import (
    ADMIN_EMAIL,
    VIEWER_EMAIL,
    VIEWER_PASSWORD,
    browser,
    logged_in_admin,
)

pytestmark = pytest.mark.anyio

_POST_FORM = re.compile(r'<form method="post" action="([^"]+)"')


def _log(stack: Stack, **fields: object) -> Event:
    event = Event(date=stack.clock(), **fields)  # type: ignore[arg-type]
    stack.passgate.event_log.emit(event)
    return event


async def test_every_page_renders_and_a_viewer_gets_no_change_form(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        await client.login(VIEWER_EMAIL, VIEWER_PASSWORD)
        for item in NAV:
            page = await client.http.get(item.href)
            assert page.status_code == 200, item.href
            assert 'aria-current="page"' in page.text
            assert _POST_FORM.findall(page.text) == ["/admin/logout"], item.href
    async with logged_in_admin(console) as admin:
        for item in NAV:
            assert (await admin.http.get(item.href)).status_code == 200, item.href


async def test_logs_search_filters_pages_and_tail(console: Stack) -> None:
    for n in range(3):
        _log(console, type="fepft", ip=IP_A, client_ip="203.0.113.9", user_name=f"u{n}@x.com")
    _log(console, type="sepft", ip="198.51.100.200", user_name="other@x.com")
    async with logged_in_admin(console) as admin:
        found = await admin.http.get("/admin/logs", params={"type": "fepft", "ip": IP_A})
        assert found.text.count('data-log-id="') == 3
        assert "via 203.0.113.9" in found.text
        query = await admin.http.get("/admin/logs", params={"q": 'user_name:"other@x.com"'})
        assert query.text.count('data-log-id="') == 1
        bad = await admin.http.get("/admin/logs", params={"q": 'type:"unclosed'})
        assert bad.status_code == 400
        assert 'role="alert"' in bad.text
        dates = await admin.http.get("/admin/logs", params={"from": "not a date"})
        assert dates.status_code == 400
        future = await admin.http.get("/admin/logs", params={"from": "2100-01-01"})
        assert future.text.count('data-log-id="') == 0
        # What the console's script sends: the browser's local moment, in UTC or an offset.
        for sent in ("2000-01-01T00:00:00Z", "2000-01-01T09:00+09:00", "0001-01-01T00:00-01:00"):
            zoned = await admin.http.get("/admin/logs", params={"from": sent, "type": "fepft"})
            assert zoned.status_code == 200, sent
            assert zoned.text.count('data-log-id="') == 3, sent
        for wrong in ("2026-02-31", "2026-12-05T25:00", "-000001-12-31T15:00:00Z"):
            refused = await admin.http.get("/admin/logs", params={"from": wrong})
            assert refused.status_code == 400, wrong
            assert "not a date" in refused.text
        first = found.text.split('data-log-id="')[1].split('"')[0]
        tail = await admin.http.get("/admin/logs/tail", params={"after": first, "q": ""})
        assert tail.status_code == 200
        assert tail.headers["cache-control"] == "no-store"
        assert isinstance(tail.json()["logs"], list)
        page = await admin.http.get("/admin/logs", params={"page": "abc"})
        assert page.status_code == 200


async def test_an_event_page_shows_every_field_escaped_and_why_a_header_was_ignored(
    console: Stack,
) -> None:
    event = _log(
        console,
        type="sepft",
        ip="203.0.113.9",
        client_ip="203.0.113.9",
        user_name="<script>alert(1)</script>",
        details={"ip_header": "ignored: the client is not trusted <b>x</b>", "x": "<img src=x>"},
    )
    async with logged_in_admin(console) as admin:
        page = await admin.http.get(f"/admin/logs/{event.log_id}")
        missing = await admin.http.get("/admin/logs/nonexistent")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x>" not in page.text
    assert "Forwarded header ignored" in page.text
    assert "ignored: the client is not trusted &lt;b&gt;x&lt;/b&gt;" in page.text
    assert missing.status_code == 404


async def test_the_brute_force_form_saves_with_the_apis_validation(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        form = {
            "enabled": "on",
            "shields": ["block", "user_notification"],
            "max_attempts": "3",
            "mode": "count_per_identifier_and_ip",
            "allowlist": "10.0.0.0/8\n\n 192.0.2.7 \n",
        }
        saved = await admin.post("/admin/attack-protection/brute-force-protection", form)
        assert saved.status_code == 303
        policy = console.passgate.policies.store.get_brute_force()
        assert policy.max_attempts == 3
        assert policy.allowlist == ("10.0.0.0/8", "192.0.2.7")
        page = await admin.http.get("/admin/attack-protection")
        assert "After 3 failed logins in a row" in html.unescape(page.text)
        for bad, expected in (
            ({"max_attempts": "101"}, "max_attempts"),
            ({"max_attempts": "three"}, "whole number"),
            ({"max_attempts": "²"}, "whole number"),  # isdigit() says yes, int() says no
            ({"max_attempts": "--3"}, "whole number"),
            ({"max_attempts": ""}, "whole number"),
            ({"allowlist": "not-an-ip"}, "allowlist"),
            ({"mode": "sometimes"}, "mode"),
            ({"shields": ["explode"]}, "explode"),
        ):
            refused = await admin.post(
                "/admin/attack-protection/brute-force-protection", {**form, **bad}
            )
            assert refused.status_code == 400, bad
            assert expected in html.unescape(refused.text)
    assert console.passgate.policies.store.get_brute_force().max_attempts == 3
    (sapi,) = console.events.of_type("sapi")
    assert sapi.details["changes"]["max_attempts"] == 3
    assert sapi.user_name == ADMIN_EMAIL
    assert len(console.events.of_type("fapi")) == 8


async def test_the_throttling_and_breached_forms_save(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        throttle = {
            "enabled": "on",
            "shields": "block",
            "login_max": "7",
            "login_rate": "864000",
            "signup_max": "50",
            "signup_rate": "1200",
            "allowlist": "",
        }
        answer = await admin.post("/admin/attack-protection/suspicious-ip-throttling", throttle)
        assert answer.status_code == 303
        breached = {"shields": ["block"], "frequency": "daily", "signup_shields": "block"}
        answer = await admin.post("/admin/attack-protection/breached-password-detection", breached)
        assert answer.status_code == 303
    store = console.passgate.policies.store
    assert store.get_suspicious_ip().pre_login.max_attempts == 7
    assert store.get_suspicious_ip().shields == ("block",)
    assert store.get_breached_password().enabled is False
    assert store.get_breached_password().pre_change_password_shields == ()


async def test_an_application_shows_its_secret_once_and_its_trust_toggles(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        made = await admin.post(
            "/admin/applications/create",
            {"name": "<b>Shop</b>", "app_type": "regular_web", "grant_types": ["password"]},
        )
        assert made.status_code == 200
        secret = made.text.split('id="client-secret">')[1].split("<")[0]
        assert len(secret) > 20
        assert "<b>Shop</b>" not in made.text
        client_id = made.text.split("/admin/applications/")[1].split('"')[0]
        page = await admin.http.get(f"/admin/applications/{client_id}")
        assert secret not in page.text
        assert "not trusted" in page.text
        trusted = await admin.post(f"/admin/applications/{client_id}/trust", {"trusted": "on"})
        assert trusted.status_code == 303
        page = await admin.http.get(f"/admin/applications/{client_id}")
        assert "Stop trusting the IP header" in page.text
        rotated = await admin.post(f"/admin/applications/{client_id}/rotate", {})
        assert secret not in rotated.text
        bad = await admin.post(
            f"/admin/applications/{client_id}/settings", {"name": "x", "grant_types": "magic"}
        )
        assert bad.status_code == 400
        public = await admin.post(
            "/admin/applications/create",
            {"name": "App", "auth_method": "none", "trusted": "on"},
        )
        assert public.status_code == 400
    changes = [event.details["changes"] for event in console.events.of_type("sapi")]
    assert all(secret not in str(change) for change in changes)


async def test_users_are_searched_created_blocked_sent_a_reset_and_deleted(
    console: Stack,
) -> None:
    async with logged_in_admin(console) as admin:
        made = await admin.post(
            "/admin/users/create",
            {"email": "dora@example.com", "password": "dora's long passphrase 1"},
        )
        assert made.status_code == 303
        weak = await admin.post(
            "/admin/users/create", {"email": "eve@example.com", "password": "short"}
        )
        assert weak.status_code == 400
        taken = await admin.post(
            "/admin/users/create",
            {"email": "DORA@example.com", "password": "dora's long passphrase 1"},
        )
        assert taken.status_code == 409
        found = await admin.http.get("/admin/users", params={"q": "dora*"})
        assert "dora@example.com" in found.text
        assert "alice@example.com" not in found.text
        bad = await admin.http.get("/admin/users", params={"q": "nope:x"})
        assert bad.status_code == 400
        user_id = console.passgate.directory.users_by_email("dora@example.com")[0].id
        base = "/admin/users/" + user_id.replace("|", "%7C")
        assert (await admin.post(base + "/block", {})).status_code == 303
        assert console.passgate.directory.get_user(user_id).blocked  # type: ignore[union-attr]
        assert (await admin.post(base + "/unblock", {})).status_code == 303
        assert (await admin.post(base + "/reset", {})).status_code == 303
        assert any("dora@example.com" in mail.to for mail in console.mailer.sent)
        assert (await admin.post(base + "/delete", {})).status_code == 303
        assert (await admin.post(base + "/delete", {})).status_code == 404
    assert console.passgate.directory.get_user(user_id) is None
    summaries = [event.description for event in console.events.of_type("sapi")]
    assert "Send a password reset email" in summaries


async def test_apis_keys_and_the_settings_check(console: Stack) -> None:
    async with logged_in_admin(console) as admin:
        made = await admin.post(
            "/admin/apis/create",
            {"identifier": "https://orders.example/", "scopes": "read:orders write:orders"},
        )
        assert made.status_code == 303
        page = await admin.http.get("/admin/apis")
        assert "https://orders.example/" in page.text
        assert "read:orders write:orders" in page.text
        twice = await admin.post("/admin/apis/create", {"identifier": "https://orders.example/"})
        assert twice.status_code == 409
        lifetime = await admin.post(
            "/admin/apis/create", {"identifier": "https://x.example/", "token_lifetime": "-5"}
        )
        assert lifetime.status_code == 400
        keys = await admin.http.get("/admin/keys")
        assert keys.text.count('<span class="badge ok">current</span>') == 2
        assert (await admin.post("/admin/keys/rotate", {})).status_code == 303
        keys = await admin.http.get("/admin/keys")
        assert keys.text.count(">Revoke</button>") == 2
        kid = keys.text.split('action="/admin/keys/')[1].split("/revoke")[0]
        assert (await admin.post(f"/admin/keys/{kid}/revoke", {})).status_code == 303
        keys = await admin.http.get("/admin/keys")
        assert keys.text.count(">Revoke</button>") == 1
        check = await admin.http.get("/admin/settings-check")
        assert check.status_code == 200
        assert "Settings check" in check.text
