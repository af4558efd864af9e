"""The example shop (examples/shop) in a real browser: Debian's chromium driven by
Playwright, through the example's reverse proxy, against a real ``passgate serve``.

Every browser runs on this machine, so the proxy is told which client address to report
for each browser context (the ``X-Test-Client-Ip`` header it maps and removes): users
"arrive from different IPs" and the app forwards each one's IP to passgate. One
passgate, app and proxy for the module; each test its own users and IPs.
"""

from __future__ import annotations

import email
import email.policy
import html
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.processes import cli, free_port, server_env

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHOTS = Path("/tmp/example-shots")
API = "https://shop.example/api"
PASSWORD = "a long and careful passphrase 42"
BREACHED = "correct horse battery staple 1"
MAX_ATTEMPTS = 10
SIMULATED_IP_HEADER = "X-Test-Client-Ip"
WRONG = "Wrong email or password."
BLOCKED = "Too many failed sign-in attempts."


@dataclass
class Shop:
    url: str  # the proxy, where browsers go
    passgate: str
    env: dict[str, str]
    data: Path
    shots: Path
    browser: Any

    def context(self, ip: str) -> Any:
        """A browser context whose requests the proxy reports as coming from ``ip``."""
        return self.browser.new_context(
            extra_http_headers={SIMULATED_IP_HEADER: ip}, viewport={"width": 900, "height": 640}
        )

    def shot(self, page: Any, name: str, *, keep: bool = False) -> None:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if keep:
            SHOTS.mkdir(exist_ok=True)
            shutil.copy(path, SHOTS / path.name)

    def events(self, *args: str) -> list[dict[str, Any]]:
        found = cli(self.env, "logs", *args)
        events: list[dict[str, Any]] = found["events"] if isinstance(found, dict) else found
        return events

    def mail_to(self, address: str, pattern: str) -> str:
        """The first link matching ``pattern`` in the newest outbox message to ``address``."""
        deadline = time.monotonic() + 15
        while True:
            outbox = self.data / "outbox"
            files = sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
            for file in files if outbox.is_dir() else []:
                message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
                if address.lower() not in str(message["To"]).lower():
                    continue
                for part in message.walk():
                    if part.get_content_maintype() == "text":
                        text = html.unescape(part.get_content())
                        match = re.search(pattern, text)
                        if match:
                            return match.group(0)
            if time.monotonic() > deadline:
                raise AssertionError(f"no message to {address} with {pattern!r} in the outbox")
            time.sleep(0.2)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not start within 60 seconds")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    if not Path(CHROMIUM).exists():
        message = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("PASSGATE_TEST_REQUIRE_BACKENDS") == "1":
            pytest.fail(message)  # CI installs it (.ci/run): never skipped there
        pytest.skip(message)
    root = tmp_path_factory.mktemp("example-shop")
    data = root / "data"
    shots = root / "screenshots"
    shots.mkdir()
    passgate_port, app_port, proxy_port = free_port(), free_port(), free_port()
    passgate = f"http://127.0.0.1:{passgate_port}/"
    env = server_env(data, PASSGATE_PUBLIC_URL=passgate.rstrip("/"))
    cli(
        env,
        "apis",
        "create",
        "--identifier",
        API,
        "--scope",
        "read:orders",
        "--allow-offline-access",
    )
    client = cli(
        env,
        "clients",
        "create",
        "--name",
        "Example shop",
        "--grant",
        "password",
        "--grant",
        "refresh_token",
        "--trust-ip-header",
    )
    cli(env, "protection", "set", "brute-force", "--max-attempts", str(MAX_ATTEMPTS))
    corpus = root / "breached.txt"
    corpus.write_text(BREACHED + "\n")
    cli(env, "breached", "import", "--format", "passwords", str(corpus))
    app_env = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_")}
    app_env.update(
        PYTHONPATH=str(EXAMPLES),
        SHOP_PASSGATE_URL=passgate,
        SHOP_CLIENT_ID=client["client_id"],
        SHOP_CLIENT_SECRET=client["client_secret"],
        SHOP_TRUSTED_PROXIES="127.0.0.1/32",
        SHOP_AUDIENCE=API,
    )
    commands = {
        "passgate serve": (
            [sys.executable, "-m", "passgate", "serve", "--port", str(passgate_port)],
            env,
        ),
        "the shop": ([sys.executable, "-m", "shop.app", "--port", str(app_port)], app_env),
        "the proxy": (
            [
                sys.executable,
                "-m",
                "shop.proxy",
                "--port",
                str(proxy_port),
                "--upstream",
                f"http://127.0.0.1:{app_port}",
                "--client-ip-header",
                SIMULATED_IP_HEADER,
            ],
            app_env,
        ),
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, (command, process_env) in commands.items():
            log = (root / (name.replace(" ", "-") + ".log")).open("wb")
            logs.append(log)
            processes.append(
                subprocess.Popen(command, env=process_env, stdout=log, stderr=subprocess.STDOUT)
            )
        _wait_until_up(passgate + "health", processes[0], "passgate serve")
        _wait_until_up(f"http://127.0.0.1:{app_port}/", processes[1], "the shop")
        _wait_until_up(f"http://127.0.0.1:{proxy_port}/", processes[2], "the proxy")
        with playwright_sync.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield Shop(f"http://127.0.0.1:{proxy_port}", passgate, env, data, shots, browser)
            finally:
                browser.close()
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        for log in logs:
            log.close()


def _fill(page: Any, path: str, shop: Shop, **fields: str) -> None:
    if path:
        page.goto(shop.url + path)
    for name, value in fields.items():
        page.fill(f"input[name={name}]", value)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def _signup(shop: Shop, page: Any, address: str, password: str = PASSWORD) -> None:
    _fill(page, "/signup", shop, email=address, password=password)


def _login(shop: Shop, page: Any, address: str, password: str = PASSWORD) -> None:
    _fill(page, "/login", shop, email=address, password=password)


def _error(page: Any) -> str:
    text: str = page.inner_text(".error")
    return text


def test_users_from_different_ips_sign_up_log_in_and_are_counted_at_their_ip(
    shop: Shop,
) -> None:
    users = {"alice@example.com": "203.0.113.21", "bob@example.com": "2001:db8::22"}
    for address, ip in users.items():
        context = shop.context(ip)
        page = context.new_page()
        _signup(shop, page, address)
        assert page.url.endswith("/profile")
        assert page.inner_text("[data-claim=email]") == address
        name = address.split("@")[0]
        shop.shot(page, f"profile-{name}", keep=name == "alice")
        page.click("#logout")
        page.wait_for_load_state()
        assert "You are signed out." in page.inner_text("main")
        page.goto(shop.url + "/profile")
        assert page.url.endswith("/login")
        shop.shot(page, f"login-{name}", keep=name == "alice")
        _login(shop, page, address)
        assert page.url.endswith("/profile")
        assert page.inner_text("[data-claim=email]") == address
        context.close()
    for address, ip in users.items():
        logins = shop.events("--type", "sepft", "--user", address)
        assert len(logins) == 2  # after sign-up, then the login
        assert {(event["ip"], event["client_ip"]) for event in logins} == {(ip, "127.0.0.1")}


def test_ten_wrong_passwords_block_the_user_at_that_ip_only_until_the_email_link(
    shop: Shop,
) -> None:
    address, here, elsewhere = "carol@example.com", "198.51.100.31", "198.51.100.32"
    attacked = shop.context(here)
    page = attacked.new_page()
    _signup(shop, page, address)
    page.click("#logout")
    for attempt in range(MAX_ATTEMPTS):
        _login(shop, page, address, f"wrong password {attempt}")
        assert _error(page) == WRONG
        if attempt == 0:
            shop.shot(page, "login-wrong-password", keep=True)
    _login(shop, page, address)  # the right password, from the blocked IP
    assert _error(page).startswith(BLOCKED)
    assert "if an account exists for this email" in _error(page)
    shop.shot(page, "login-blocked", keep=True)

    other = shop.context(elsewhere)
    other_page = other.new_page()
    _login(shop, other_page, address)
    assert other_page.url.endswith("/profile")

    [block] = shop.events("--type", "limit_wc", "--user", address)
    assert (block["ip"], block["client_ip"]) == (here, "127.0.0.1")
    failures = shop.events("--type", "fepft", "--user", address)
    assert len(failures) == MAX_ATTEMPTS + 1  # the ten, then the refused right password
    assert {(event["ip"], event["client_ip"]) for event in failures} == {(here, "127.0.0.1")}

    link = shop.mail_to(address, r"https?://\S+/unblock\?ticket=[^\s\"'<>]+")
    assert link.startswith(shop.passgate)
    page.goto(link)
    shop.shot(page, "unblock-form")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "Your account is unblocked" in page.inner_text("body")
    shop.shot(page, "unblocked", keep=True)
    _login(shop, page, address)
    assert page.url.endswith("/profile")
    attacked.close()
    other.close()


def test_a_breached_password_is_refused_at_sign_up_with_its_message(shop: Shop) -> None:
    context = shop.context("203.0.113.41")
    page = context.new_page()
    _signup(shop, page, "dave@example.com", BREACHED)
    assert page.url.endswith("/signup")
    assert _error(page) == (
        "This password appeared in a data breach on another site. "
        "Please choose a different password."
    )
    assert page.input_value("input[name=email]") == "dave@example.com"
    shop.shot(page, "signup-breached", keep=True)
    _signup(shop, page, "dave@example.com")
    assert page.url.endswith("/profile")
    context.close()


def test_forgot_password_emails_a_link_and_says_the_same_for_unknown_addresses(
    shop: Shop,
) -> None:
    context = shop.context("203.0.113.51")
    page = context.new_page()
    _signup(shop, page, "erin@example.com")
    page.click("#logout")
    answers = []
    for address in ("erin@example.com", "nobody@example.com"):
        page.goto(shop.url + "/login")
        page.click("text=Forgot your password?")
        _fill(page, "", shop, email=address)
        answers.append(page.inner_text("main"))
    assert answers[0] == answers[1]
    assert "If an account exists for this email" in answers[0]
    shop.shot(page, "forgot-sent", keep=True)
    link = shop.mail_to("erin@example.com", r"https?://\S+\?ticket=[^\s\"'<>]+")
    assert link.startswith(shop.passgate)
    context.close()


def test_the_sign_up_form_shows_the_password_policy_message(shop: Shop) -> None:
    context = shop.context("203.0.113.61")
    page = context.new_page()
    _signup(shop, page, "frank@example.com", "short")
    assert page.url.endswith("/signup")
    assert _error(page)
    assert "frank@example.com" not in _error(page)
    context.close()


def test_a_private_address_is_not_forwarded(shop: Shop) -> None:
    """A user the proxy reports at a private address: the app will not vouch for it (the
    sign of a proxy it forgot to trust) and says so without calling passgate."""
    context = shop.context("10.1.2.3")
    page = context.new_page()
    _login(shop, page, "alice@example.com")
    assert _error(page) == "We cannot sign you in right now. Please try again later."
    assert shop.events("--ip", "10.1.2.3") == []
    context.close()


def test_posts_without_the_csrf_token_are_refused(shop: Shop) -> None:
    with httpx.Client(base_url=shop.url, headers={SIMULATED_IP_HEADER: "203.0.113.71"}) as http:
        assert http.get("/login").status_code == 200  # a session with a token
        for path in ("/login", "/signup", "/forgot", "/logout"):
            answer = http.post(path, data={"email": "alice@example.com", "password": PASSWORD})
            assert answer.status_code == 400, path
            assert "The form expired" in answer.text
            answer = http.post(
                path, data={"email": "alice@example.com", "password": PASSWORD, "csrf_token": "x"}
            )
            assert answer.status_code == 400, path
    assert shop.events("--ip", "203.0.113.71") == []


def test_a_client_written_x_forwarded_for_is_not_believed(shop: Shop) -> None:
    """The browser writes its own X-Forwarded-For; the proxy appends what it saw, and the
    app forwards that, never the address the browser chose."""
    context = shop.browser.new_context(
        extra_http_headers={SIMULATED_IP_HEADER: "203.0.113.81", "X-Forwarded-For": "192.0.2.1"}
    )
    page = context.new_page()
    _signup(shop, page, "grace@example.com")
    assert page.url.endswith("/profile")
    [login] = shop.events("--type", "sepft", "--user", "grace@example.com")
    assert (login["ip"], login["client_ip"]) == ("203.0.113.81", "127.0.0.1")
    context.close()
