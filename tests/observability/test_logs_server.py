"""A real server's log, JSON, through every endpoint with real secrets: one access line per
request, and not one password, secret, token or ticket anywhere in it."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.protection_e2e.servers import cli, running, server_env

pytestmark = pytest.mark.slow

ISSUER = "http://passgate.test/"
PASSWORD = "alice's private passphrase 41"
SIGNUP_PASSWORD = "carol's private passphrase 42"
NEW_PASSWORD = "alice's brand new passphrase 43"
WRONG = "a wrong but private guess 44"
METRICS_TOKEN = "metrics-token-kept-out-of-logs-45"
END_USER_IP = "198.51.100.61"


def link(outbox: Path, address: str, pattern: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        for file in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
            if address not in str(message["To"]):
                continue
            for part in message.walk():
                if part.get_content_maintype() == "text":
                    found = re.search(pattern, html.unescape(part.get_content()))
                    if found:
                        return found.group(1)
        assert time.monotonic() < deadline, f"no mail to {address} matching {pattern}"
        time.sleep(0.2)


class Recorder:
    """Sends requests and keeps every secret they carried or received."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30.0)
        self.sent = 0
        self.ids: list[str] = []
        self.secrets: set[str] = set()

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.http.request(method, path, **kwargs)
        self.sent += 1
        self.ids.append(answer.headers["x-request-id"])
        if answer.headers.get("content-type", "").startswith("application/json"):
            body = answer.json()
            if isinstance(body, dict):
                for key in ("access_token", "id_token", "refresh_token", "client_secret"):
                    if isinstance(body.get(key), str):
                        self.secrets.add(body[key])
        return answer


def test_every_endpoint_logs_one_line_and_no_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = server_env(
        data,
        PASSGATE_LOG_LEVEL="info",
        PASSGATE_LOG_FORMAT="json",
        PASSGATE_METRICS="on",
        PASSGATE_METRICS_TOKEN=METRICS_TOKEN,
        PASSGATE_ISSUER=ISSUER,
        PASSGATE_PUBLIC_URL="http://passgate.test",
    )
    web = cli(
        env,
        "clients",
        "create",
        "--name",
        "Shop",
        "--grant",
        "password",
        "--grant",
        "refresh_token",
        "--trust-ip-header",
    )
    basic = cli(
        env,
        "clients",
        "create",
        "--name",
        "Basic",
        "--grant",
        "password",
        "--auth-method",
        "client_secret_basic",
    )
    m2m = cli(
        env,
        "clients",
        "create",
        "--name",
        "Admin",
        "--app-type",
        "non_interactive",
        "--grant",
        "client_credentials",
    )
    cli(
        env,
        "users",
        "create",
        "--email",
        "alice@example.com",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    secrets = {PASSWORD, SIGNUP_PASSWORD, NEW_PASSWORD, WRONG, METRICS_TOKEN}
    secrets |= {web["client_secret"], basic["client_secret"], m2m["client_secret"]}

    with running(env, tmp_path) as (server,):
        cli(
            env,
            "client-grants",
            "create",
            "--client-id",
            m2m["client_id"],
            "--audience",
            ISSUER + "api/v2/",
            "--scope",
            "read:logs",
            "--scope",
            "update:attack_protection",
            "--scope",
            "create:clients",
        )
        call = Recorder(server.url)
        login = {
            "grant_type": "password",
            "username": "alice@example.com",
            "password": PASSWORD,
            "client_id": web["client_id"],
            "client_secret": web["client_secret"],
            "scope": "openid offline_access",
        }
        tokens = call(
            "POST", "/oauth/token", data=login, headers={"auth0-forwarded-for": END_USER_IP}
        ).json()
        assert "refresh_token" in tokens, tokens
        call("POST", "/oauth/token", json={**login, "password": WRONG})
        call("POST", "/oauth/token", data={**login, "client_secret": WRONG})
        call("POST", "/oauth/token", data={"client_secret": WRONG, "password": PASSWORD})
        call(
            "POST",
            "/oauth/token",
            data={"grant_type": "password", "username": "alice@example.com", "password": PASSWORD},
            auth=(basic["client_id"], basic["client_secret"]),
        )
        refreshed = call(
            "POST",
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": web["client_id"],
                "client_secret": web["client_secret"],
            },
        ).json()
        call("GET", "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        call(
            "POST",
            "/oauth/revoke",
            data={
                "token": refreshed["refresh_token"],
                "client_id": web["client_id"],
                "client_secret": web["client_secret"],
            },
        )
        m2m_form = {
            "grant_type": "client_credentials",
            "client_id": m2m["client_id"],
            "client_secret": m2m["client_secret"],
            "audience": ISSUER + "api/v2/",
        }
        deadline = time.monotonic() + 10
        while (granted := call("POST", "/oauth/token", data=m2m_form)).status_code != 200:
            assert time.monotonic() < deadline, granted.text
            time.sleep(0.3)
        bearer = {"Authorization": f"Bearer {granted.json()['access_token']}"}
        call("GET", "/api/v2/logs", params={"q": f'ip:"{END_USER_IP}"'}, headers=bearer)
        call(
            "PATCH",
            "/api/v2/attack-protection/brute-force-protection",
            json={"max_attempts": 2},
            headers=bearer,
        )
        made = call("POST", "/api/v2/clients", json={"name": "Made"}, headers=bearer)
        assert made.status_code == 201, made.text
        call(
            "POST",
            "/dbconnections/signup",
            json={
                "client_id": web["client_id"],
                "email": "carol@example.com",
                "password": SIGNUP_PASSWORD,
                "connection": "Username-Password-Authentication",
            },
        )
        call(
            "POST",
            "/dbconnections/change_password",
            json={
                "client_id": web["client_id"],
                "email": "alice@example.com",
                "connection": "Username-Password-Authentication",
            },
        )
        reset = link(data / "outbox", "alice@example.com", r"reset-password\?ticket=([^\s\"<]+)")
        secrets.add(reset)
        call("GET", "/reset-password", params={"ticket": reset})
        call(
            "POST",
            "/reset-password",
            data={"ticket": reset, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        )
        time.sleep(1.2)  # the server reads the lowered max_attempts within a second
        for _ in range(3):
            call(
                "POST",
                "/oauth/token",
                data={**login, "password": WRONG},
                headers={"auth0-forwarded-for": END_USER_IP},
            )
        unblock = link(data / "outbox", "alice@example.com", r"unblock\?ticket=([^\s\"<]+)")
        secrets.add(unblock)
        call("GET", "/unblock", params={"ticket": unblock})
        call("POST", "/unblock", data={"ticket": unblock})
        call("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        call("GET", "/metrics", headers={"Authorization": f"Bearer {WRONG}"})
        for path in (
            "/health",
            "/ready",
            "/.well-known/jwks.json",
            "/.well-known/openid-configuration",
            "/range/ABCDE",
            "/nowhere",
        ):
            call("GET", path)
        secrets |= call.secrets
        time.sleep(0.5)
        server.stop()
        log = server.stderr()

    lines = [line for line in log.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    access = [record for record in records if record.get("event") == "request"]
    ours = [record for record in access if record["request_id"] in call.ids]
    assert [record["request_id"] for record in ours] == call.ids  # one line each, in order
    assert len(set(call.ids)) == call.sent
    assert {record["client_ip"] for record in access} == {"127.0.0.1"}
    assert END_USER_IP in {record["ip"] for record in ours}
    assert {record["status"] for record in ours} >= {200, 201, 400, 401, 403, 404, 429}
    assert len(secrets) >= 14
    for secret in sorted(secrets):
        assert secret not in log, f"a secret ({len(secret)} characters) is in the server's log"
    for quoted in {s.replace("'", "\\'") for s in secrets} | {json.dumps(s)[1:-1] for s in secrets}:
        assert quoted not in log
