"""The admin console in a real browser: Debian's chromium driven by Playwright against a
real ``passgate serve``, on SQLite and on PostgreSQL + Redis.

The browser reaches the server through a trusted proxy as far as passgate knows
(``PASSGATE_TRUSTED_PROXIES=127.0.0.1/32``): each browser context sends its own
``X-Forwarded-For``, so each test's administrator comes from an IP of its own and tests
do not share attack-protection counters (Redis is shared with other test runs: every
IP, email and identifier here is unique to the run). Screenshots of each page go to
``tmp/artifacts/console`` (see ``tests/browser.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis

from tests.browser import Shots, launch_chromium, require_chromium
from tests.processes import cli, server_env
from tests.protection_e2e.servers import running
from tests.support import migrated_schema

pytestmark = pytest.mark.slow

PASSWORD = "a console admin's passphrase 3"
VIEWER_PASSWORD = "a console viewer's passphrase 4"
USER_PASSWORD = "an end user's long passphrase 5"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


def _run_tag() -> str:
    return secrets.token_hex(3)


def _ip(tag: str, n: int) -> str:
    """An IP unique to this run (198.18.0.0/15, benchmarking addresses)."""
    value = int(tag, 16) % 250
    return f"198.18.{value}.{n}"


@contextlib.contextmanager
def _own_ip_buckets(redis_url: str, tag: str) -> Iterator[None]:
    """Forget the IP buckets of this run's addresses before and after it.

    The Redis server is shared by every run on the machine and a bucket lives for hours:
    a run on the same addresses earlier (1 in 250) would otherwise start half throttled.
    """

    def forget() -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            stale = list(client.scan_iter(match=f"passgate:bucket:{_ip(tag, 0)[:-1]}*"))
            if stale:
                client.delete(*stale)
        finally:
            client.close()

    forget()
    try:
        yield
    finally:
        forget()


@dataclasses.dataclass
class Served:
    backend: str
    url: str
    env: dict[str, str]
    browser: Any
    shots: Shots
    tag: str
    admin: str
    viewer: str
    client_id: str
    client_secret: str
    ips: Iterator[int]

    def next_ip(self) -> str:
        return _ip(self.tag, next(self.ips))

    def context(self, ip: str | None = None, viewport: dict[str, int] = WIDE) -> Any:
        """A browser context that reaches the console from ``ip`` (a new one by default)."""
        return self.browser.new_context(
            viewport=viewport,
            extra_http_headers={"X-Forwarded-For": ip or self.next_ip()},
            base_url=self.url,
        )

    def login(self, page: Any, email: str, password: str) -> None:
        page.goto("/admin/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()

    def shot(self, page: Any, name: str) -> None:
        self.shots.take(page, f"{self.backend}-{name}")

    def token(self, username: str, password: str, forwarded: str) -> httpx.Response:
        return httpx.post(
            self.url + "oauth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            headers={"auth0-forwarded-for": forwarded},
            timeout=30,
        )

    def user(self, email: str) -> None:
        cli(self.env, "users", "create", "--email", email, "--password-stdin",
            input=USER_PASSWORD + "\n")  # fmt: skip


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    base = os.environ.get("PASSGATE_TEST_DATABASE_URL")
    if not base:
        message = "PostgreSQL backend not tested: PASSGATE_TEST_DATABASE_URL is not set"
        if os.environ.get("PASSGATE_TEST_REQUIRE_BACKENDS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with migrated_schema(base, "console") as url:
        yield url


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres-redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ],
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    require_chromium()
    backend: str = request.param
    root = tmp_path_factory.mktemp(f"console-{backend}")
    with contextlib.ExitStack() as stack:
        extra = {"PASSGATE_TRUSTED_PROXIES": "127.0.0.1/32"}
        if backend == "postgres-redis":
            redis_url = os.environ.get("PASSGATE_TEST_REDIS_URL")
            if not redis_url:
                message = "Redis backend not tested: PASSGATE_TEST_REDIS_URL is not set"
                if os.environ.get("PASSGATE_TEST_REQUIRE_BACKENDS") == "1":
                    pytest.fail(message)
                pytest.skip(message)
            extra["PASSGATE_DATABASE_URL"] = stack.enter_context(_postgres_schema())
            extra["PASSGATE_REDIS_URL"] = redis_url
        env = server_env(root / "data", **extra)
        cli(env, "migrate")
        tag = _run_tag()
        if backend == "postgres-redis":
            stack.enter_context(_own_ip_buckets(extra["PASSGATE_REDIS_URL"], tag))
        admin, viewer = f"admin-{tag}@example.com", f"viewer-{tag}@example.com"
        cli(env, "admins", "create", "--email", admin, "--password-stdin", input=PASSWORD + "\n")
        cli(env, "admins", "create", "--email", viewer, "--role", "viewer", "--password-stdin",
            input=VIEWER_PASSWORD + "\n")  # fmt: skip
        client = cli(env, "clients", "create", "--name", "Shop", "--grant", "password",
                     "--trust-ip-header")  # fmt: skip
        servers = stack.enter_context(running(env, root / "logs"))
        browser = stack.enter_context(launch_chromium())
        yield Served(
            backend=backend,
            url=servers[0].url,
            env=env,
            browser=browser,
            shots=Shots("console"),
            tag=tag,
            admin=admin,
            viewer=viewer,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            ips=iter(range(1, 250)),
        )


def _eventually(check: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.2)


def _follow(page: Any, target: Any) -> None:
    """Click ``target`` (a link or a form's button) and wait for the page it leads to."""
    with page.expect_navigation():
        target.click()


def _no_dialogs(page: Any) -> list[str]:
    """Collect every dialog (an ``alert`` from injected script would be one)."""
    seen: list[str] = []

    def dismiss(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


# -- tests ---------------------------------------------------------------------------------


def test_an_admin_logs_in_and_the_console_reads_well_wide_and_narrow(served: Served) -> None:
    for name, viewport in (("wide", WIDE), ("narrow", NARROW)):
        context = served.context(viewport=viewport)
        page = context.new_page()
        page.goto("/admin")
        assert "/admin/login" in page.url
        served.shot(page, f"login-{name}")
        served.login(page, served.admin, PASSWORD)
        assert page.url.rstrip("/").endswith("/admin")
        assert page.get_by_role("heading", name="Dashboard").is_visible()
        assert page.get_by_text(served.admin).first.is_visible()
        served.shot(page, f"dashboard-{name}")
        _follow(page, page.get_by_role("navigation").get_by_role("link", name="Blocks"))
        assert page.get_by_role("heading", name="Blocks").is_visible()
        served.shot(page, f"blocks-{name}")
        # The page fits the viewport: nothing scrolls sideways.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"]
        _follow(page, page.get_by_role("button", name="Log out"))
        assert "/admin/login" in page.url
        context.close()


def test_keyboard_alone_logs_in_and_reaches_the_navigation(served: Served) -> None:
    context = served.context()
    page = context.new_page()
    page.goto("/admin/login")
    assert page.evaluate("document.activeElement.id") == "email"  # autofocus
    page.keyboard.type(served.admin)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.rstrip("/").endswith("/admin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Blocks":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/admin/blocks")
    context.close()


def test_dates_are_shown_in_the_browser_time_zone(served: Served) -> None:
    context = served.browser.new_context(
        viewport=WIDE,
        extra_http_headers={"X-Forwarded-For": served.next_ip()},
        base_url=served.url,
        timezone_id="Asia/Tokyo",
        locale="en-US",
    )
    page = context.new_page()
    # A blocked identifier gives the Blocks page dates to show.
    ip = served.next_ip()
    identifier = f"tz-{served.tag}@example.com"
    for _ in range(10):
        served.token(identifier, "wrong", ip)
    served.login(page, served.admin, PASSWORD)
    page.goto("/admin/blocks?q=" + identifier)
    shown = page.locator("time").first
    assert "GMT+9" in shown.inner_text()
    assert shown.get_attribute("datetime", timeout=5000).endswith("Z")

    # The dashboard's hours: chart labels, bar titles and the table, in Tokyo's time.
    tokyo = ZoneInfo("Asia/Tokyo")
    page.goto("/admin")
    chart = page.locator("figure", has_text="Failed logins").locator("svg.chart")
    tick = chart.locator("text[data-hour]").last
    hour = datetime.fromisoformat(tick.get_attribute("data-hour") or "")
    assert tick.text_content() == hour.astimezone(tokyo).strftime("%I:%M %p")  # en-US
    title = chart.locator("title[data-hour]").last.text_content() or ""
    assert title.startswith(hour.astimezone(tokyo).strftime("%b %d, %I:%M %p GMT+9")), title
    rows = page.locator("table", has_text="Hour").locator("tbody time")
    assert rows.count() == 24
    assert "GMT+9" in (rows.first.text_content() or "")

    # The log filter's dates are typed in Tokyo's time and sent in UTC.
    page.goto("/admin/logs")
    assert page.get_by_text("From (Asia/Tokyo)").count() == 1
    now = datetime.now(tokyo)
    for start, found in ((now - timedelta(minutes=30), True), (now + timedelta(hours=1), False)):
        page.fill("#f-user", identifier)
        page.fill("#f-from", start.strftime("%Y-%m-%dT%H:%M"))
        _follow(page, page.get_by_role("button", name="Search"))
        sent = parse_qs(urlsplit(page.url).query)["from"][0]
        assert datetime.fromisoformat(sent) == start.replace(second=0, microsecond=0), sent
        assert sent.endswith("Z")
        assert page.input_value("#f-from") == start.strftime("%Y-%m-%dT%H:%M")
        assert (page.locator("#log-table tr[data-log-id]").count() > 0) is found
    context.close()


def test_a_viewer_sees_no_change_buttons_and_gets_403_posting_anyway(served: Served) -> None:
    ip = served.next_ip()
    identifier = f"victim-{served.tag}@example.com"
    for _ in range(10):
        served.token(identifier, "wrong", ip)
    context = served.context()
    page = context.new_page()
    served.login(page, served.viewer, VIEWER_PASSWORD)
    page.goto("/admin/blocks?q=" + identifier)
    assert page.get_by_text(identifier).first.is_visible()
    assert page.get_by_role("button", name="Unblock").count() == 0
    assert page.locator("form[method=post]").count() == 1  # logging out only
    served.shot(page, "blocks-viewer")
    csrf = page.locator("input[name=csrf]").first.input_value()
    answer = page.request.post(
        "/admin/blocks/unthrottle", form={"csrf": csrf, "ip": ip}, max_redirects=0
    )
    assert answer.status == 403
    assert "viewer" in answer.text()
    context.close()


def test_a_post_without_the_csrf_token_is_refused(served: Served) -> None:
    context = served.context()
    page = context.new_page()
    served.login(page, served.admin, PASSWORD)
    answer = page.request.post("/admin/blocks/unthrottle", form={"ip": "192.0.2.1"})
    assert answer.status == 403
    wrong = page.request.post(
        "/admin/blocks/unthrottle", form={"ip": "192.0.2.1", "csrf": "f" * 64}
    )
    assert wrong.status == 403
    context.close()


def test_a_scripted_attack_appears_in_blocks_and_unblock_lifts_it(served: Served) -> None:
    victim = f"alice-{served.tag}@example.com"
    served.user(victim)
    attacker_ip = served.next_ip()
    # Wrong passwords for one account, forwarded by the trusted application.
    for _ in range(10):
        assert served.token(victim, "wrong guess", attacker_ip).status_code == 403
    assert served.token(victim, USER_PASSWORD, attacker_ip).status_code == 429
    # Then failures across many accounts from one IP, past the pre-login bucket.
    cli(served.env, "protection", "set", "suspicious-ip", "--pre-login-max-attempts", "5")
    stuffer_ip = served.next_ip()
    accounts = iter(range(1000))
    _eventually(  # running servers read the new policy within half a second
        lambda: (
            served.token(
                f"user{next(accounts)}-{served.tag}@example.com", "guess", stuffer_ip
            ).status_code
            == 429
        ),
        "the stuffing IP is throttled",
    )
    context = served.context()
    page = context.new_page()
    served.login(page, served.admin, PASSWORD)

    def listed() -> bool:
        page.goto("/admin/blocks")
        text = page.inner_text("main")
        return victim in text and stuffer_ip in text

    _eventually(listed, "the blocks of the attack are listed")
    row = page.locator("tr", has_text=victim)
    assert attacker_ip in row.inner_text()
    served.shot(page, "blocks-attack")
    row.get_by_role("button", name="Unblock").click()
    page.wait_for_load_state()
    assert "The account block is lifted." in page.inner_text("main")
    assert page.locator("tr", has_text=victim).count() == 0
    # (The attacker's IP spent 10 of the 5 attempts the lowered bucket holds: restore it.)
    cli(served.env, "protection", "set", "suspicious-ip", "--pre-login-max-attempts", "100")
    _eventually(  # running servers read the policies twice a second
        lambda: served.token(victim, USER_PASSWORD, attacker_ip).status_code == 200,
        "the unblocked user logs in",
    )
    _follow(page, page.locator("tr", has_text=stuffer_ip).get_by_role("button", name="Unblock"))
    assert "no longer throttled" in page.inner_text("main")
    context.close()


def test_a_username_with_html_shows_escaped(served: Served) -> None:
    identifier = f"<script>alert('{served.tag}')</script><img src=x onerror=alert(1)>"
    ip = served.next_ip()
    for _ in range(10):
        served.token(identifier, "wrong", ip)
    context = served.context()
    page = context.new_page()
    dialogs = _no_dialogs(page)
    served.login(page, served.admin, PASSWORD)
    page.goto("/admin/blocks?q=" + quote(ip))
    assert page.get_by_text(identifier).first.is_visible()
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    served.shot(page, "blocks-escaped")
    assert dialogs == []
    context.close()


def test_ten_wrong_admin_passwords_block_the_admin_at_its_ip(served: Served) -> None:
    ip = served.next_ip()
    context = served.context(ip)
    page = context.new_page()
    for _ in range(10):
        served.login(page, served.admin, "not my password")
        assert "Wrong email or password." in page.inner_text("main")
    served.login(page, served.admin, PASSWORD)
    assert "/admin/login" in page.url
    assert "blocked" in page.inner_text("main")
    served.shot(page, "login-blocked")
    # Another administrator sees the block and lifts it.
    other = served.context()
    admin_page = other.new_page()
    served.login(admin_page, served.admin, PASSWORD)
    admin_page.goto("/admin/blocks?q=" + quote(ip))
    _follow(admin_page, admin_page.locator("tr", has_text=ip).get_by_role("button", name="Unblock"))
    served.login(page, served.admin, PASSWORD)
    assert page.url.rstrip("/").endswith("/admin")
    other.close()
    context.close()


def test_every_page_renders_with_screenshots(served: Served) -> None:
    pages = {
        "logs": "/admin/logs",
        "protection": "/admin/attack-protection",
        "applications": "/admin/applications",
        "users": "/admin/users",
        "connections": "/admin/connections",
        "apis": "/admin/apis",
        "keys": "/admin/keys",
        "check": "/admin/settings-check",
    }
    for name, viewport in (("wide", WIDE), ("narrow", NARROW)):
        context = served.context(viewport=viewport)
        page = context.new_page()
        served.login(page, served.admin, PASSWORD)
        for key, path in pages.items():
            page.goto(path)
            assert page.locator("h1").first.is_visible(), path
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"] + 1, (path, width)
            served.shot(page, f"{key}-{name}")
        context.close()


def test_the_brute_force_threshold_set_in_the_form_is_enforced_and_logged(
    served: Served,
) -> None:
    victim = f"threshold-{served.tag}@example.com"
    served.user(victim)
    context = served.context()
    page = context.new_page()
    served.login(page, served.admin, PASSWORD)
    page.goto("/admin/attack-protection")
    page.get_by_label("Failed logins before a block (1 to 100)").fill("3")
    _follow(page, page.get_by_role("button", name="Save brute-force protection"))
    assert "Saved." in page.inner_text("main")
    assert "After 3 failed logins in a row" in page.inner_text("main")
    served.shot(page, "protection-saved")
    ip = served.next_ip()

    def enforced() -> bool:
        # Each round: three failures then the right password (which resets the count
        # while the old threshold still applies).
        for _ in range(3):
            served.token(victim, "wrong", ip)
        return served.token(victim, USER_PASSWORD, ip).status_code == 429

    _eventually(enforced, "the new threshold blocks after 3 failures")
    page.goto("/admin/logs?type=sapi")
    row = page.locator("tr", has_text="Update Brute-force settings").first
    assert served.admin in row.inner_text()
    _follow(page, row.get_by_role("link"))
    assert '"max_attempts": 3' in page.inner_text("main")
    served.shot(page, "log-sapi")
    page.goto("/admin/attack-protection")
    page.get_by_label("Failed logins before a block (1 to 100)").fill("10")
    _follow(page, page.get_by_role("button", name="Save brute-force protection"))
    # Past the range the browser itself refuses to send the form (the server refuses it
    # too: tests/web/console/test_pages.py).
    page.get_by_label("Failed logins before a block (1 to 100)").fill("101")
    page.get_by_role("button", name="Save brute-force protection").click()
    assert page.locator("#bf-max:invalid").count() == 1
    context.close()


def test_a_connection_policy_set_in_the_console_refuses_the_next_weak_sign_up(
    served: Served,
) -> None:
    context = served.context()
    page = context.new_page()
    served.login(page, served.admin, PASSWORD)
    _follow(page, page.get_by_role("navigation").get_by_role("link", name="Connections"))
    name = f"Staff-{served.tag}"
    page.get_by_label("Name (letters, digits").fill(name)
    page.get_by_label("Password strength").select_option("none")
    _follow(page, page.get_by_role("button", name="Create connection"))
    assert page.get_by_text("The connection is created.").is_visible()

    def signup(password: str, n: int) -> httpx.Response:
        return httpx.post(
            served.url + "dbconnections/signup",
            json={
                "client_id": served.client_id,
                "email": f"staff{n}-{served.tag}@example.com",
                "password": password,
                "connection": name,
            },
            headers={"X-Forwarded-For": served.next_ip()},
            timeout=30,
        )

    assert signup("weak", 1).status_code == 200, "policy none accepts any password"
    page.get_by_label("Password strength").select_option("excellent")
    page.get_by_label("Refuse common passwords (dictionary)").check()
    served.shot(page, "connection")
    _follow(page, page.get_by_role("button", name="Save connection"))
    assert page.get_by_role("status").inner_text().startswith("Saved.")
    assert "At least 10 characters" in page.inner_text("main")

    def refused() -> bool:
        answer = signup("weakpassword", 2)
        return answer.status_code == 400 and answer.json()["name"] == "PasswordStrengthError"

    _eventually(refused, "the connection's new policy refuses a weak sign-up")
    assert signup("Str0ng!Passw0rd-x", 3).status_code == 200
    page.goto("/admin/logs?type=sapi")
    row = page.locator("tr", has_text="Update a connection").first
    assert served.admin in row.inner_text()
    page.goto("/admin/connections")
    served.shot(page, "connections")
    assert page.get_by_role("link", name=name).is_visible()
    context.close()


def test_flipping_the_ip_header_trust_changes_the_next_logins_ip(served: Served) -> None:
    context = served.context()
    page = context.new_page()
    served.login(page, served.admin, PASSWORD)
    page.goto("/admin/applications/create")  # not a page: the form is on the list
    page.goto("/admin/applications")
    page.get_by_label("Name").fill(f"Trust flip {served.tag}")
    _follow(page, page.get_by_role("button", name="Create application"))
    secret = page.locator("#client-secret").inner_text()
    client_id = page.locator("dd.mono").first.inner_text()
    served.shot(page, "application-secret")
    _follow(page, page.get_by_role("link", name="Continue to the application"))
    user = f"trust-{served.tag}@example.com"
    served.user(user)
    forwarded = served.next_ip()

    def login() -> None:
        answer = httpx.post(
            served.url + "oauth/token",
            data={
                "grant_type": "password",
                "username": user,
                "password": USER_PASSWORD,
                "client_id": client_id,
                "client_secret": secret,
            },
            headers={"auth0-forwarded-for": forwarded},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    login()  # not trusted: the header is ignored
    page.once("dialog", lambda dialog: dialog.accept())
    _follow(page, page.get_by_role("button", name="Trust the IP header"))
    assert page.get_by_role("button", name="Stop trusting the IP header").is_visible()
    time.sleep(2.5)  # the token endpoint caches a client's record for 2 seconds
    login()

    def both_logged() -> bool:
        page.goto("/admin/logs?type=sepft&client=" + client_id)
        return bool(page.locator("tbody tr[data-log-id]").count() >= 2)

    _eventually(both_logged, "both logins are in the log")
    rows = page.locator("tbody tr[data-log-id]")
    assert forwarded in rows.nth(0).inner_text()  # newest: trusted, the forwarded IP
    assert forwarded not in rows.nth(1).inner_text()  # before: the connecting IP
    _follow(page, rows.nth(1).get_by_role("link"))
    assert "Forwarded header ignored" in page.inner_text("main")
    served.shot(page, "log-ignored-header")
    page.goto("/admin/logs?type=sepft&client=" + client_id)
    _follow(page, page.locator("tbody tr[data-log-id]").nth(0).get_by_role("link"))
    assert "forwarded by a trusted client" in page.inner_text("main")
    page.goto("/admin/applications/" + client_id)
    assert "100.0 %" not in page.inner_text("main") or "(1)" in page.inner_text("main")
    assert "Distinct IPs seen" in page.inner_text("main")
    served.shot(page, "application-health")
    context.close()


def test_a_log_detail_with_html_shows_escaped(served: Served) -> None:
    identifier = f"<img src=x onerror=alert('{served.tag}')>"
    served.token(identifier, "<script>alert(2)</script>", served.next_ip())
    context = served.context()
    page = context.new_page()
    dialogs = _no_dialogs(page)
    served.login(page, served.admin, PASSWORD)

    def logged() -> bool:
        page.goto("/admin/logs?type=fepft&q=" + quote(f'user_name:"{identifier}"'))
        return bool(page.locator("tbody tr[data-log-id]").count() == 1)

    _eventually(logged, "the failed login is in the log")
    assert page.get_by_text(identifier).first.is_visible()
    _follow(page, page.locator("tbody tr[data-log-id]").first.get_by_role("link"))
    assert identifier in page.inner_text("main")
    assert page.locator("main img").count() == 0
    served.shot(page, "log-escaped")
    assert dialogs == []
    context.close()


def test_the_live_tail_shows_new_events(served: Served) -> None:
    context = served.context()
    page = context.new_page()
    served.login(page, served.admin, PASSWORD)
    page.goto("/admin/logs?type=fepft")
    page.get_by_label("Live tail: show new events as they come").check()
    marker = f"tail-{served.tag}@example.com"
    served.token(marker, "wrong", served.next_ip())
    page.locator("tr.fresh", has_text=marker).wait_for(timeout=20_000)
    context.close()
