"""The console's login, sessions and the protections every page carries: security
headers, cookie flags, idle and absolute expiry (a manual clock), logout, CSRF, where a
login may send the browser, and attack protection on the login itself."""

from __future__ import annotations

import html

import httpx
import pytest

from passgate.domain.admins import ADMIN_CONNECTION
from passgate.errors import WRONG_CREDENTIALS_MESSAGE
from passgate.web.console.auth import ADMIN_BLOCKED
from tests.protection_e2e.helpers import Stack
from tests.web.console.conftest import StackFactory
from tests.web.console.helpers import (
    ADMIN_EMAIL,
    ADMIN_IP,
    ADMIN_PASSWORD,
    VIEWER_EMAIL,
    VIEWER_PASSWORD,
    browser,
)

pytestmark = pytest.mark.anyio

CSP_PARTS = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)


def _assert_page_headers(headers: httpx.Headers) -> None:
    get = headers.get
    assert get("cache-control") == "no-store"
    assert get("x-frame-options") == "DENY"
    assert get("x-content-type-options") == "nosniff"
    assert get("referrer-policy") == "no-referrer"
    policy = get("content-security-policy")
    for part in CSP_PARTS:
        assert part in policy
    assert "unsafe-inline" not in policy


async def test_a_page_without_a_session_redirects_to_the_login_with_the_page_to_return_to(
    console: Stack,
) -> None:
    async with browser(console).http as http:
        answer = await http.get("/admin")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/login?next=/admin"
        _assert_page_headers(answer.headers)


async def test_every_page_has_the_security_headers_and_no_inline_script(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        login = await client.http.get("/admin/login")
        _assert_page_headers(login.headers)
        assert "<script>" not in login.text
        assert "style=" not in login.text
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        page = await client.http.get("/admin")
        assert page.status_code == 200
        _assert_page_headers(page.headers)
        assert "<script>" not in page.text
        assert "style=" not in page.text
        asset = await client.http.get("/admin/static/console.js")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith("text/javascript")
        assert (await client.http.get("/admin/static/..%2Fconsole.py")).status_code == 404
        assert (await client.http.get("/admin/static/other.js")).status_code == 404


async def test_a_login_sets_an_httponly_strict_cookie_scoped_to_the_console(
    make_console: StackFactory,
) -> None:
    stack = make_console(public_url="http://passgate.test")
    client = browser(stack, https=False)
    async with client.http:
        answer = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin"
        cookie = next(
            value
            for value in answer.headers.get_list("set-cookie")
            if value.startswith("passgate_console=")
        )
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags
        assert "samesite=strict" in flags
        assert "path=/admin" in flags
        assert "secure" not in flags  # served over http here
        assert "max-age=43200" in flags
        assert ADMIN_PASSWORD not in cookie


async def test_over_https_the_cookies_are_secure(make_console: StackFactory) -> None:
    stack = make_console(public_url="http://passgate.test")
    client = browser(stack, https=True)
    async with client.http:
        login = await client.http.get("/admin/login")
        assert "secure" in login.headers["set-cookie"].lower()
        answer = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        session = next(
            value
            for value in answer.headers.get_list("set-cookie")
            if value.startswith("passgate_console=")
        )
        assert "secure" in [part.strip().lower() for part in session.split(";")]


async def test_unknown_email_and_wrong_password_get_the_same_answer_and_their_events(
    console: Stack,
) -> None:
    client = browser(console)
    async with client.http:
        wrong = await client.login(ADMIN_EMAIL, "not the password at all")
        unknown = await client.login("nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 403
    assert WRONG_CREDENTIALS_MESSAGE in wrong.text
    assert WRONG_CREDENTIALS_MESSAGE in unknown.text
    assert "passgate_console=" not in str(wrong.headers.get_list("set-cookie"))
    fp, fu = console.events.of_type("fp"), console.events.of_type("fu")
    assert [event.user_name for event in fp] == [ADMIN_EMAIL]
    assert [event.user_name for event in fu] == ["nobody@example.com"]
    for event in (*fp, *fu):
        assert event.ip == ADMIN_IP
        assert event.client_ip == ADMIN_IP
        assert event.connection == ADMIN_CONNECTION
        assert "not the password" not in str(event.to_json())


async def test_a_successful_login_writes_s_and_the_email_matches_in_any_spelling(
    console: Stack,
) -> None:
    client = browser(console)
    async with client.http:
        answer = await client.login("  ROOT@Example.COM ", ADMIN_PASSWORD)
        assert answer.status_code == 303
        page = await client.http.get("/admin")
        assert ADMIN_EMAIL in page.text
    (event,) = console.events.of_type("s")
    assert event.user_id is not None
    assert event.user_id.startswith("admin|")
    assert event.details["role"] == "admin"


async def test_ten_wrong_passwords_block_the_admin_at_that_ip_like_any_login(
    console: Stack,
) -> None:
    client = browser(console)
    async with client.http:
        for _ in range(10):
            answer = await client.login(ADMIN_EMAIL, "a wrong guess, again")
            assert answer.status_code == 403
        blocked = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert blocked.status_code == 429
        assert ADMIN_BLOCKED in html.unescape(blocked.text)
        assert "passgate_console=" not in str(blocked.headers.get_list("set-cookie"))
    (block,) = console.events.of_type("limit_wc")
    assert block.ip == ADMIN_IP
    assert block.connection == ADMIN_CONNECTION
    # Another IP is not blocked (the default counts per identifier and IP).
    other = browser(console, peer="192.0.2.99")
    async with other.http:
        assert (await other.login(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303


async def test_the_login_counts_the_ip_the_trusted_proxy_forwards(
    make_console: StackFactory,
) -> None:
    stack = make_console(trusted_proxies=["10.0.0.0/8"])
    client = browser(stack, peer="10.1.2.3")
    async with client.http:
        await client.login(
            ADMIN_EMAIL, "wrong", **{}
        )  # without the header: the proxy's own address
        client.http.headers["x-forwarded-for"] = "198.51.100.77"
        await client.login(ADMIN_EMAIL, "wrong")
    ips = [event.ip for event in stack.events.of_type("fp")]
    assert ips == ["10.1.2.3", "198.51.100.77"]


async def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(console: Stack) -> None:
    client = browser(console)
    client.http.headers["x-forwarded-for"] = "198.51.100.77"
    async with client.http:
        await client.login(ADMIN_EMAIL, "wrong")
    assert [event.ip for event in console.events.of_type("fp")] == [ADMIN_IP]


async def test_a_session_ends_after_30_idle_minutes(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        console.clock.advance(29 * 60)
        assert (await client.http.get("/admin")).status_code == 200
        console.clock.advance(29 * 60)  # idle time restarted by the last page
        assert (await client.http.get("/admin")).status_code == 200
        console.clock.advance(30 * 60)
        answer = await client.http.get("/admin")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/login")


async def test_a_session_ends_12_hours_after_the_login_even_when_busy(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        for _ in range(12 * 3):  # a page every 20 minutes
            assert (await client.http.get("/admin")).status_code == 200
            console.clock.advance(20 * 60)
        assert (await client.http.get("/admin")).status_code == 303


async def test_the_expiry_times_are_settings(make_console: StackFactory) -> None:
    stack = make_console(admin_session_idle_minutes=5, admin_session_max_hours=1)
    client = browser(stack)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        stack.clock.advance(5 * 60 + 1)
        assert (await client.http.get("/admin")).status_code == 303


async def test_logout_ends_the_session_and_needs_the_csrf_token(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        token = client.http.cookies["passgate_console"]
        refused = await client.http.post("/admin/logout", data={})
        assert refused.status_code == 403
        assert (await client.http.get("/admin")).status_code == 200
        answer = await client.post("/admin/logout", {})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/login"
        assert (await client.http.get("/admin")).status_code == 303
        # The old cookie no longer opens a session, even sent again.
        client.http.cookies.set("passgate_console", token, domain="passgate.test")
        assert (await client.http.get("/admin")).status_code == 303
    (event,) = console.events.of_type("slo")
    assert event.user_name == ADMIN_EMAIL


async def test_a_login_post_without_its_form_token_is_refused(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        await client.login_page()
        answer = await client.http.post(
            "/admin/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert answer.status_code == 403
        forged = await client.http.post(
            "/admin/login",
            data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "login_token": "x" * 32},
        )
        assert forged.status_code == 403
    assert console.events.of_type("s") == []


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/admin",
        "/\\evil.example",
        "/admin/../../x",
        "/elsewhere",
        "/admin/login",
        "/admin\r\nSet-Cookie: x=1",
    ],
)
async def test_a_login_only_ever_goes_on_to_a_console_page(console: Stack, target: str) -> None:
    client = browser(console)
    async with client.http:
        answer = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD, next=target)
    location = answer.headers["location"]
    assert location.startswith("/admin")
    assert (not location.startswith("//") and "evil" not in location) or location == target
    assert "\n" not in location
    assert "\r" not in location


async def test_a_login_goes_on_to_the_page_asked_for(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        first = await client.http.get("/admin")
        _, token = await client.login_page(first.headers["location"])
        answer = await client.http.post(
            "/admin/login",
            data={
                "email": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD,
                "login_token": token,
                "next": "/admin",
            },
        )
    assert answer.headers["location"] == "/admin"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"email=a&email=b&password=x&login_token=t", "application/x-www-form-urlencoded"),
        (b'{"email": "root@example.com"}', "application/json"),
        (b"email=%ff%fe&password=x", "application/x-www-form-urlencoded"),
        (b"email=a%00b&password=x", "application/x-www-form-urlencoded"),
        (b"password=" + b"p" * 70_000, "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
        (b"&".join(b"f%d=1" % n for n in range(1200)), "application/x-www-form-urlencoded"),
    ],
)
async def test_bad_login_posts_get_a_clear_4xx(
    console: Stack, content: bytes, content_type: str
) -> None:
    client = browser(console)
    async with client.http:
        await client.login_page()
        answer = await client.http.post(
            "/admin/login", content=content, headers={"content-type": content_type}
        )
    assert 400 <= answer.status_code < 500
    assert "Traceback" not in answer.text
    assert console.events.of_type("s") == []


async def test_long_and_unicode_credentials_are_refused_without_a_server_error(
    console: Stack,
) -> None:
    client = browser(console)
    async with client.http:
        for email, password in [
            ("x" * 5000 + "@example.com", "pw"),
            (ADMIN_EMAIL, "p" * 5000),
            ("ROOT@EXAMPLE.COM\u200b", ADMIN_PASSWORD),
            ("", ""),
        ]:
            answer = await client.login(email, password)
            assert answer.status_code in (400, 403), answer.text
            assert "passgate_console=" not in str(answer.headers.get_list("set-cookie"))


async def test_a_viewer_logs_in_and_sees_no_change_buttons(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        assert (await client.login(VIEWER_EMAIL, VIEWER_PASSWORD)).status_code == 303
        page = await client.http.get("/admin")
        assert "viewer" in page.text
