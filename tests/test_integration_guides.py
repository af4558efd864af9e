"""The integration guides for Node.js and plain HTTP (docs/integration/): their snippets run
against a real ``passgate serve``, and the guides show those files verbatim.

Each code block of a guide that follows a ``<!-- snippet: NAME -->`` line must equal
``docs/integration/snippets/NAME``, and every snippet file is shown once, so the guides and
the code the tests run cannot drift apart. The Node.js snippets run with the packages of
tests/node (the ``auth0`` SDK and Express) against passgate over https, as the SDK needs;
the curl snippets run with bash against passgate over plain http.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.certificates import ServerCertificate
from tests.node_sdk import NODE_DIR, HttpsPassgate, NodeSdk
from tests.processes import cli, free_port, server_env
from tests.test_serve import Server

GUIDES = Path(__file__).resolve().parent.parent / "docs" / "integration"
SNIPPETS = GUIDES / "snippets"
SNIPPET_BLOCK = re.compile(r"<!-- snippet: (\S+) -->\n```[a-z]*\n(.*?)^```$", re.S | re.M)

API = "https://api.orders.example/"
PASSWORD = "a long and private passphrase"
END_USER_IP = "198.51.100.23"
OTHER_USER_IP = "198.51.100.77"
SPOOFED_IP = "203.0.113.9"
THROTTLED_IP = "198.51.100.99"
BRUTE_FORCE = (
    "Your account has been blocked after multiple consecutive login attempts. "
    "We've sent you a notification via your preferred contact method with instructions "
    "on how to unblock it."
)
SUSPICIOUS_IP = (
    "We have detected suspicious login behavior and further attempts will be blocked. "
    "Please contact the administrator."
)
RUN_SECONDS = 60
#: Running servers read the protection policies again twice a second.
POLICY_SECONDS = 1.5


def shown_snippets() -> list[tuple[str, str, str]]:
    """``(guide, snippet name, code block)`` for every snippet block of the guides."""
    return [
        (guide.name, name, block)
        for guide in sorted(GUIDES.glob("*.md"))
        for name, block in SNIPPET_BLOCK.findall(guide.read_text(encoding="utf-8"))
    ]


def test_the_guides_show_every_snippet_once_exactly_as_the_tests_run_it() -> None:
    shown = shown_snippets()
    assert {guide for guide, _, _ in shown} == {"node.md", "http.md"}
    names = [name for _, name, _ in shown]
    assert sorted(names) == sorted(path.name for path in SNIPPETS.iterdir())
    for guide, name, block in shown:
        assert block == (SNIPPETS / name).read_text(encoding="utf-8"), (guide, name)


# -- plain HTTP: the curl snippets ----------------------------------------------------------
@pytest.fixture
def http_passgate(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A ``passgate serve`` over http: its base URL (no trailing slash) and environment."""
    env = server_env(tmp_path / "data")
    port = free_port()
    server = Server(env, tmp_path, "serve", "--port", str(port))
    try:
        server.wait_until_healthy(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}", env
        assert server.stop() == 0
        assert "Traceback" not in server.stderr()
    finally:
        server.kill()


def curl(snippet: str, **variables: str) -> tuple[int, dict[str, str], Any]:
    """``bash docs/integration/snippets/<snippet>`` with ``variables`` in its environment
    (nothing else of this process's but PATH): the status, headers and JSON body it
    printed."""
    done = subprocess.run(
        ["bash", str(SNIPPETS / snippet)],
        env={"PATH": os.environ["PATH"], **variables},
        capture_output=True,
        timeout=RUN_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    head, _, body = done.stdout.decode().partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


@pytest.mark.slow
def test_the_curl_snippets_log_in_refresh_and_revoke_with_the_end_users_ip(
    http_passgate: tuple[str, dict[str, str]],
) -> None:
    base_url, env = http_passgate
    cli(env, "apis", "create", "--identifier", API, "--scope", "read:orders",
        "--allow-offline-access")  # fmt: skip
    grants = ("--grant", "password", "--grant", "refresh_token")
    post = cli(env, "clients", "create", "--name", "Shop", *grants, "--trust-ip-header")
    basic = cli(
        env, "clients", "create", "--name", "Shop (Basic)", *grants, "--trust-ip-header",
        "--auth-method", "client_secret_basic",
    )  # fmt: skip
    cli(env, "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n")  # fmt: skip
    login = {
        "PASSGATE_URL": base_url,
        "CLIENT_ID": post["client_id"],
        "CLIENT_SECRET": post["client_secret"],
        "LOGIN_USERNAME": "alice@example.com",
        "LOGIN_PASSWORD": PASSWORD,
        "API_AUDIENCE": API,
        "END_USER_IP": END_USER_IP,
    }

    status, _, tokens = curl("curl-login.sh", **login)
    assert status == 200, tokens
    assert {"access_token", "id_token", "refresh_token"} <= tokens.keys()
    assert tokens["token_type"] == "Bearer"

    status, _, basic_tokens = curl(
        "curl-login-basic.sh",
        **{**login, "CLIENT_ID": basic["client_id"], "CLIENT_SECRET": basic["client_secret"]},
    )
    assert status == 200, basic_tokens
    # A secret in the body is refused for a client_secret_basic client (and vice versa).
    status, _, refused = curl(
        "curl-login.sh",
        **{**login, "CLIENT_ID": basic["client_id"], "CLIENT_SECRET": basic["client_secret"]},
    )
    assert (status, refused["error"]) == (401, "invalid_client")

    refresh = {**login, "REFRESH_TOKEN": tokens["refresh_token"]}
    status, _, renewed = curl("curl-refresh.sh", **refresh)
    assert status == 200, renewed
    assert renewed["refresh_token"] != tokens["refresh_token"]
    status, _, reused = curl("curl-refresh.sh", **refresh)
    assert (status, reused["error"]) == (403, "invalid_grant")

    # Sign-out: the revoked token (and the family it was rotated in) no longer refreshes.
    revoke = {**login, "REFRESH_TOKEN": renewed["refresh_token"]}
    assert curl("curl-revoke.sh", **revoke)[0] == 200
    status, _, revoked = curl("curl-refresh.sh", **revoke)
    assert (status, revoked["error"]) == (403, "invalid_grant")

    # The error answers the guide lists.
    assert curl("curl-login.sh", **{**login, "LOGIN_PASSWORD": "wrong"})[::2] == (
        403, {"error": "invalid_grant", "error_description": "Wrong email or password."},
    )  # fmt: skip
    status, _, body = curl("curl-login.sh", **{**login, "CLIENT_SECRET": "wrong"})
    assert (status, body["error"]) == (401, "invalid_client")
    status, _, body = curl("curl-login.sh", **{**login, "END_USER_IP": "198.51.100.23, 10.0.0.1"})
    assert (status, body["error"]) == (400, "invalid_request")
    assert "auth0-forwarded-for" in body["error_description"]
    for _ in range(9):  # the tenth consecutive failure from this IP (one above) blocks
        status, _, body = curl("curl-login.sh", **{**login, "LOGIN_PASSWORD": "wrong"})
        assert status == 403
    status, headers, body = curl("curl-login.sh", **login)
    assert (status, body) == (
        429, {"error": "too_many_attempts", "error_description": BRUTE_FORCE},
    )  # fmt: skip
    assert "retry-after" not in headers  # a block lasts until unblocked, not a known time
    # Blocked for that IP only: the same user from another IP still gets in.
    assert curl("curl-login.sh", **{**login, "END_USER_IP": OTHER_USER_IP})[0] == 200

    # Suspicious-IP throttling: failures from one IP, whatever the account; Retry-After.
    cli(env, "protection", "set", "suspicious-ip", "--pre-login-max-attempts", "1")
    time.sleep(POLICY_SECONDS)
    throttled = {**login, "END_USER_IP": THROTTLED_IP, "LOGIN_USERNAME": "bob@example.com"}
    assert curl("curl-login.sh", **{**throttled, "LOGIN_PASSWORD": "wrong"})[0] == 403
    status, headers, body = curl("curl-login.sh", **throttled)
    assert (status, body) == (
        429, {"error": "too_many_attempts", "error_description": SUSPICIOUS_IP},
    )  # fmt: skip
    assert int(headers["retry-after"]) > 0

    events = cli(env, "logs", "--type", "sepft", "--type", "fepft", "--limit", "100")
    # The header counts only in a request whose client authenticated and that is well formed.
    refused = {"invalid_client", "invalid_request"}
    app_errors = [e for e in events if e["details"].get("error", {}).get("error") in refused]
    assert len(app_errors) == 3
    assert {(event["ip"], event["client_ip"]) for event in app_errors} == {
        ("127.0.0.1", "127.0.0.1")
    }
    users = [event for event in events if event not in app_errors]
    assert {(event["ip"], event["client_ip"]) for event in users} == {
        (END_USER_IP, "127.0.0.1"),
        (OTHER_USER_IP, "127.0.0.1"),
        (THROTTLED_IP, "127.0.0.1"),
    }
    refreshes = cli(env, "logs", "--type", "sertft")
    assert [(event["ip"], event["client_ip"]) for event in refreshes] == [
        (END_USER_IP, "127.0.0.1")
    ]


# -- Node.js: node-auth0 and Express -------------------------------------------------------
@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """The Node.js snippets copied into a folder of their own, which finds the packages of
    tests/node (``auth0``, ``express``) as an app finds its own ``node_modules``."""
    folder = tmp_path / "app"
    folder.mkdir()
    for snippet in SNIPPETS.glob("*.mjs"):
        shutil.copy(snippet, folder / snippet.name)
    (folder / "node_modules").symlink_to(NODE_DIR / "node_modules", target_is_directory=True)
    return folder


def node_env(
    passgate: HttpsPassgate, client: dict[str, Any], ca: ServerCertificate, **extra: str
) -> dict[str, str]:
    """What the app's process gets: the SDK's settings and the test CA, nothing of passgate's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PASSGATE_", "NODE_", "AUTH0_"))
    }
    env.update(
        NODE_EXTRA_CA_CERTS=str(ca.ca_cert),
        AUTH0_DOMAIN=passgate.domain,
        AUTH0_CLIENT_ID=client["client_id"],
        AUTH0_CLIENT_SECRET=client["client_secret"],
        **extra,
    )
    return env


@pytest.fixture
def shop(
    node_sdk: NodeSdk,  # first: without node and tests/node's packages, skipped (or failed)
    https_passgate: Callable[..., HttpsPassgate],
) -> tuple[HttpsPassgate, dict[str, Any]]:
    """passgate over https with a trusted confidential client (the app's) and a user."""
    passgate = https_passgate()
    client = passgate.cli(
        "clients", "create", "--name", "Shop", "--grant", "password", "--trust-ip-header"
    )
    passgate.cli(
        "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    return passgate, client


@pytest.mark.slow
def test_the_node_login_snippet_forwards_the_ip_and_answers_each_refusal(
    shop: tuple[HttpsPassgate, dict[str, Any]],
    app_dir: Path,
    server_certificate: ServerCertificate,
) -> None:
    passgate, client = shop

    def login(password: str, ip: str = END_USER_IP, username: str = "alice@example.com") -> Any:
        script = (
            'import { login } from "./node-login.mjs";\n'
            "const [username, password, ip] = JSON.parse(process.env.LOGIN);\n"
            "console.log(JSON.stringify(await login(username, password, ip)));\n"
        )
        done = subprocess.run(
            ["node", "--input-type=module", "--eval", script],
            cwd=app_dir,
            env=node_env(passgate, client, server_certificate,
                         LOGIN=json.dumps([username, password, ip])),
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    signed_in = login(PASSWORD)
    assert signed_in["ok"], signed_in
    assert {"access_token", "id_token"} <= signed_in["tokens"].keys()
    assert login("wrong") == {"ok": False, "status": 401, "message": "Wrong email or password."}

    passgate.cli("protection", "set", "brute-force", "--max-attempts", "2")
    passgate.cli("protection", "set", "suspicious-ip", "--pre-login-max-attempts", "3")
    time.sleep(POLICY_SECONDS)
    assert login("wrong")["status"] == 401
    blocked = login(PASSWORD)
    assert blocked == {
        "ok": False,
        "status": 429,
        "retryAfter": None,
        "message": "Too many failed sign-in attempts. If an account exists for this email, "
        "we have sent it instructions to unblock it.",
    }
    assert login(PASSWORD, OTHER_USER_IP)["ok"]

    for attempt in range(3):  # unknown accounts count for the IP like real ones
        assert login("wrong", THROTTLED_IP, f"nobody{attempt}@example.com")["status"] == 401
    throttled = login(PASSWORD, THROTTLED_IP)
    assert (throttled["status"], throttled["message"]) == (
        429, "Too many attempts. Please try again later.",
    )  # fmt: skip
    assert throttled["retryAfter"] > 0

    events = passgate.cli("logs", "--type", "sepft", "--type", "fepft")
    assert {(event["ip"], event["client_ip"]) for event in events} == {
        (END_USER_IP, "127.0.0.1"),
        (OTHER_USER_IP, "127.0.0.1"),
        (THROTTLED_IP, "127.0.0.1"),
    }


@pytest.fixture
def express_app(
    shop: tuple[HttpsPassgate, dict[str, Any]],
    app_dir: Path,
    server_certificate: ServerCertificate,
    tmp_path: Path,
) -> Iterator[str]:
    """node-express.mjs listening on 127.0.0.1, trusting 127.0.0.1 as its reverse proxy
    (the test plays the proxy); its base URL."""
    passgate, client = shop
    port = free_port()
    log = (tmp_path / "express.log").open("wb")
    app = subprocess.Popen(
        ["node", "node-express.mjs"],
        cwd=app_dir,
        env=node_env(passgate, client, server_certificate,
                     TRUSTED_PROXY="127.0.0.1", HOST="127.0.0.1", PORT=str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + RUN_SECONDS
        while True:
            assert app.poll() is None, (tmp_path / "express.log").read_text()
            try:
                httpx.get(base_url + "/", timeout=1.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the Express app did not start"
                time.sleep(0.1)
        yield base_url
    finally:
        app.terminate()
        app.wait(timeout=15)
        log.close()


@pytest.mark.slow
def test_the_express_snippet_forwards_the_right_most_untrusted_hop(
    shop: tuple[HttpsPassgate, dict[str, Any]], express_app: str
) -> None:
    passgate, _ = shop

    def sign_in(password: str, forwarded_for: str | None) -> httpx.Response:
        headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
        return httpx.post(
            express_app + "/login",
            data={"username": "alice@example.com", "password": password},
            headers=headers,
            timeout=RUN_SECONDS,
        )

    # The proxy appended the user's address to one the user wrote: the user's counts.
    answer = sign_in(PASSWORD, f"{SPOOFED_IP}, {END_USER_IP}")
    assert (answer.status_code, answer.json()) == (200, {"message": "Signed in."})
    for _ in range(10):
        answer = sign_in("wrong", f"{SPOOFED_IP}, {END_USER_IP}")
        assert (answer.status_code, answer.json()) == (401, {"message": "Wrong email or password."})
    answer = sign_in(PASSWORD, END_USER_IP)
    assert answer.status_code == 429
    assert "retry-after" not in answer.headers  # a block has no known end
    assert "instructions to unblock" in answer.json()["message"]
    # Another user's IP is not blocked; a spoofed left-most hop changes nothing.
    assert sign_in(PASSWORD, f"{END_USER_IP}, {OTHER_USER_IP}").status_code == 200

    # No proxy in front (the app sees 127.0.0.1): refused before passgate is asked.
    assert sign_in(PASSWORD, None).status_code == 500
    assert sign_in(PASSWORD, "10.1.2.3").status_code == 500
    # A form without a password: the app's 400, not the SDK's exception.
    missing = httpx.post(
        express_app + "/login",
        data={"username": "alice@example.com"},
        headers={"X-Forwarded-For": OTHER_USER_IP},
    )
    assert missing.status_code == 400

    events = passgate.cli("logs", "--type", "sepft", "--type", "fepft", "--limit", "100")
    assert {(event["ip"], event["client_ip"]) for event in events} == {
        (END_USER_IP, "127.0.0.1"),
        (OTHER_USER_IP, "127.0.0.1"),
    }
    assert SPOOFED_IP not in json.dumps(passgate.cli("logs", "--limit", "1000"))
