"""Security alerts and the dashboard with two real ``passgate serve`` instances on one
database (a SQLite file, or a PostgreSQL schema): a credential-stuffing attack spread over
both gives one alert (one email per administrator, one event), and both instances' dashboards
show it; each event is counted once."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email.policy import default
from pathlib import Path

import httpx
import pytest

from tests.processes import cli, server_env
from tests.test_serve import PASSWORD, Server
from tests.test_serve_instances import new_key, start

pytestmark = pytest.mark.slow

ADMINS = ["secops@example.com", "oncall@example.com"]
ATTACKERS = ["203.0.113.66", "203.0.113.67"]
ACCOUNTS = 30


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def alert_mails(outbox: Path) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        if "credential stuffing detected" in str(message["Subject"]):
            found.append(message)
    return found


def test_an_attack_over_two_instances_gives_one_alert(
    tmp_path: Path, sql_url: str, servers: list[Server]
) -> None:
    data = tmp_path / "data"
    env = server_env(data, PASSGATE_DATABASE_URL=sql_url, PASSGATE_KEY_ENCRYPTION_KEY=new_key())
    client = cli(env, "clients", "create", "--name", "Shop", "--grant", "password",
                 "--trust-ip-header")  # fmt: skip
    cli(env, "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n")  # fmt: skip
    cli(env, "protection", "admins", "set", *ADMINS)
    cli(env, "protection", "set", "suspicious-ip", "--pre-login-max-attempts", "2500")
    cli(env, "alerts", "set", "--credential-stuffing-failures", "20",
        "--credential-stuffing-accounts", "10")  # fmt: skip
    bases = [start(env, tmp_path, servers, name) for name in ("first", "second")]

    form = {"grant_type": "password", "client_id": client["client_id"],
            "client_secret": client["client_secret"]}  # fmt: skip
    for n in range(ACCOUNTS):
        base = bases[n % 2]
        answer = httpx.post(
            base + "oauth/token",
            data={**form, "username": f"user{n}@example.com", "password": "guess"},
            headers={"auth0-forwarded-for": ATTACKERS[n % 2]},
        )
        assert answer.status_code == 403, answer.text
    good = httpx.post(
        bases[0] + "oauth/token",
        data={**form, "username": "alice@example.com", "password": PASSWORD},
        headers={"auth0-forwarded-for": "198.51.100.23"},
    )
    assert good.status_code == 200, good.text

    outbox = data / "outbox"
    deadline = time.monotonic() + 30
    while len(alert_mails(outbox)) < len(ADMINS) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # a few more rollups on each instance: no second alert
    mails = alert_mails(outbox)
    assert sorted(str(m["To"]) for m in mails) == sorted(ADMINS)
    assert "failed logins against" in mails[0].get_content()
    sent = cli(env, "alerts", "list")
    assert [alert["kind"] for alert in sent] == ["credential_stuffing"]
    events = cli(env, "logs", "--type", "security_alert")
    assert len(events) == 1
    assert events[0]["details"]["emails_sent"] == 2

    for base in bases:
        token = _management_token(env, base)
        response = httpx.get(
            base + "api/v2/passgate/dashboard",
            params={"window": "24h"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["totals"]["failed_logins"] == ACCOUNTS
        assert body["totals"]["logins"] == 1
        assert {row["ip"] for row in body["top_ips"]} == set(ATTACKERS)
        threats = {t["kind"]: t for t in body["threats"]}
        assert threats["credential_stuffing"]["detected"] is True
    for server in servers:
        assert server.stop() == 0
        assert "Traceback" not in server.stderr()


def _management_token(env: dict[str, str], base: str) -> str:
    """A client-credentials token for the Management API with the dashboard's scope."""
    m2m = cli(env, "clients", "create", "--name", f"Ops {time.monotonic_ns()}", "--grant",
              "client_credentials")  # fmt: skip
    issuer = cli(env, "issuer", "show")["issuer"]
    audience = issuer.rstrip("/") + "/api/v2/"
    cli(env, "client-grants", "create", "--client-id", m2m["client_id"], "--audience",
        audience, "--scope", "read:dashboard")  # fmt: skip
    answer = httpx.post(
        base + "oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": m2m["client_id"],
            "client_secret": m2m["client_secret"],
            "audience": audience,
        },
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token
