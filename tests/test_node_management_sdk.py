"""Auth0's official Node.js Management SDK (``ManagementClient`` from the ``auth0`` package)
against ``passgate serve`` over https, unchanged: a domain and a token, as Auth0's
documentation shows it. Each step runs ``tests/node/management.mjs``; logins in between
are made here, as an application's server makes them (forwarding the end user's IP)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from passgate.domain.management_api import MANAGEMENT_SCOPES
from tests.certificates import ServerCertificate
from tests.import_hashes import user_for
from tests.node_sdk import HttpsPassgate, NodeSdk

pytestmark = pytest.mark.slow

API = "https://api.orders.example/"
PASSWORD = "a long and private passphrase"
WRONG = "not the passphrase"
USER_IP = "198.51.100.23"
OTHER_IP = "203.0.113.50"
THROTTLED_IP = "192.0.2.77"


class World:
    """A passgate over https, a trusted web application, an M2M admin and one user."""

    def __init__(
        self, passgate: HttpsPassgate, node: NodeSdk, certificate: ServerCertificate
    ) -> None:
        self.passgate = passgate
        self.node = node
        self.http = httpx.Client(
            base_url=passgate.base_url, verify=certificate.client_context(), timeout=20.0
        )
        passgate.cli("apis", "create", "--identifier", API, "--scope", "read:orders")
        self.web = passgate.cli(
            "clients", "create", "--name", "Shop", "--grant", "password", "--trust-ip-header",
        )  # fmt: skip
        self.admin = passgate.cli(
            "clients", "create", "--name", "Admin tool", "--app-type", "non_interactive",
            "--grant", "client_credentials",
        )  # fmt: skip
        scopes = [arg for scope in MANAGEMENT_SCOPES for arg in ("--scope", scope)]
        passgate.cli(
            "client-grants", "create", "--client-id", self.admin["client_id"],
            "--audience", self.audience, *scopes,
        )  # fmt: skip
        self.user = passgate.cli(
            "users", "create", "--email", "alice@example.com", "--password-stdin",
            input=PASSWORD + "\n",
        )  # fmt: skip
        self.token = self.client_credentials(self.admin, self.audience).json()["access_token"]

    @property
    def audience(self) -> str:
        return self.passgate.base_url + "api/v2/"

    def client_credentials(self, client: dict[str, Any], audience: str) -> httpx.Response:
        return self.http.post(
            "oauth/token",
            data={"grant_type": "client_credentials", "client_id": client["client_id"],
                  "client_secret": client["client_secret"], "audience": audience},
        )  # fmt: skip

    def login(self, password: str, ip: str, username: str = "alice@example.com") -> int:
        answer = self.http.post(
            "oauth/token",
            data={"grant_type": "password", "username": username, "password": password,
                  "client_id": self.web["client_id"], "client_secret": self.web["client_secret"],
                  "audience": API},
            headers={"auth0-forwarded-for": ip},
        )  # fmt: skip
        return answer.status_code

    def step(self, step: str, **inputs: Any) -> Any:
        return self.node.run(
            "management.mjs", self.passgate.domain, token=self.token, step=step, **inputs
        )

    def logs(self, *queries: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The SDK's log search, asked again until ``until`` holds (events are written a
        moment after the answer)."""
        deadline = time.monotonic() + 15
        while True:
            found: dict[str, Any] = self.step("logs", queries=list(queries))
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.3)


@pytest.fixture
def world(
    node_sdk: NodeSdk,  # first: without node, skipped (or failed) before a server starts
    https_passgate: Callable[..., HttpsPassgate],
    server_certificate: ServerCertificate,
) -> World:
    return World(https_passgate(), node_sdk, server_certificate)


def test_the_sdk_changes_brute_force_settings_and_lifts_a_block(world: World) -> None:
    settings = world.step(
        "settings",
        brute_force={"max_attempts": 2},
        suspicious_ip={"stage": {"pre-login": {"max_attempts": 100, "rate": 864000}}},
    )
    assert settings["before"]["ok"]
    assert settings["before"]["data"]["max_attempts"] == 10
    assert settings["brute_force"]["ok"], settings["brute_force"]
    assert settings["after"]["data"]["max_attempts"] == 2
    # The new threshold holds on the very next logins.
    assert [world.login(WRONG, USER_IP) for _ in range(2)] == [403, 403]
    assert world.login(PASSWORD, USER_IP) == 429
    assert world.login(PASSWORD, OTHER_IP) == 200  # blocked for that IP only

    blocks = world.step("blocks", identifier="ALICE@example.com")
    assert blocks["listed"]["data"]["blocked_for"] == [
        {"identifier": "alice@example.com", "ip": USER_IP,
         "connection": "Username-Password-Authentication"},
    ]  # fmt: skip
    assert blocks["lifted"] == {"ok": True, "status": 204, "data": None}
    assert blocks["after"]["data"] == {"blocked_for": []}
    assert world.login(PASSWORD, USER_IP) == 200


def test_the_sdk_checks_and_unblocks_a_throttled_ip(world: World) -> None:
    world.step(
        "settings",
        brute_force={"max_attempts": 10},
        suspicious_ip={"stage": {"pre-login": {"max_attempts": 2, "rate": 864000}}},
    )
    statuses = [world.login(WRONG, THROTTLED_IP, f"nobody{n}@example.com") for n in range(4)]
    assert statuses[-1] == 429, statuses
    ip = world.step("ip", ip=THROTTLED_IP)
    assert ip["checked"] == {"ok": True, "status": 200, "data": None}
    assert ip["unblocked"]["status"] == 204
    assert ip["after"]["ok"] is False
    assert ip["after"]["statusCode"] == 404
    assert ip["after"]["body"]["errorCode"] == "ip_not_blocked"
    assert world.login(PASSWORD, THROTTLED_IP) == 200


def test_the_sdk_searches_logs_and_sees_ip_beside_client_ip(world: World) -> None:
    assert world.login(WRONG, USER_IP) == 403
    assert world.login(PASSWORD, USER_IP) == 200
    by_type, by_ip = "type:fepft", f'ip:"{USER_IP}"'
    found = world.logs(by_type, by_ip, until=lambda f: len(f[by_ip]) >= 2)
    assert len(found[by_type]) == 1, found
    [failed] = found[by_type]
    assert failed["ip"] == USER_IP
    assert failed["client_ip"] == "127.0.0.1"  # the application's server, not the user
    assert failed["client_id"] == world.web["client_id"]
    assert [log["type"] for log in found[by_ip]] == ["sepft", "fepft"]


def test_the_sdk_flips_ip_header_trust_and_the_next_login_shows_it(world: World) -> None:
    flipped = world.step("client", client_id=world.web["client_id"], trusted=False)
    assert flipped["ok"], flipped
    assert flipped["data"]["is_token_endpoint_ip_header_trusted"] is False
    assert "client_secret" not in flipped["data"]
    assert world.login(PASSWORD, USER_IP) == 200
    query = "type:sepft"
    found = world.logs(query, until=lambda f: len(f[query]) >= 1)
    [success] = found[query]
    assert success["ip"] == "127.0.0.1"  # the header is ignored now


def test_the_sdk_creates_a_client_grant_and_the_client_gets_a_token(world: World) -> None:
    job = world.passgate.cli(
        "clients", "create", "--name", "Billing job", "--app-type", "non_interactive",
        "--grant", "client_credentials",
    )  # fmt: skip
    refused = world.client_credentials(job, API)
    assert refused.status_code == 403
    assert refused.json()["error"] == "access_denied"
    made = world.step("grant", client_id=job["client_id"], audience=API, scope=["read:orders"])
    assert made["created"]["ok"], made["created"]
    assert made["created"]["data"]["scope"] == ["read:orders"]
    assert [grant["audience"] for grant in made["listed"]] == [API]
    granted = world.client_credentials(job, API)
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "read:orders"


def test_the_sdk_imports_users_and_they_log_in_with_their_old_passwords(
    world: World, tmp_path: Path
) -> None:
    rows = [
        user_for("django-pbkdf2-sha256", PASSWORD, user_metadata={"plan": "gold"}),
        user_for("laravel-bcrypt-2y", PASSWORD),
        {"email": "broken@example.com", "password_hash": "md5$x$y"},
    ]
    path = tmp_path / "users.json"
    path.write_text(json.dumps(rows))
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    target = world.passgate.cli("users", "import", str(empty), "--dry-run")  # the connection
    result = world.step("import", path=str(path), connection_id=target["connection_id"])
    assert result["created"]["ok"], result["created"]
    job = result["job"]
    assert job["status"] == "completed", job
    assert job["summary"] == {"total": 3, "inserted": 2, "updated": 0, "failed": 1}
    assert result["errors"]["ok"], result["errors"]
    [refused] = result["errors"]["data"]
    assert refused["user"] == {"email": "broken@example.com"}
    assert refused["errors"][0]["code"] == "INVALID_HASH"
    exported = result["exported"]
    assert exported["ok"], exported
    assert exported["data"]["location"].endswith("/export")
    for row in rows[:2]:
        assert world.login(PASSWORD, USER_IP, username=str(row["email"])) == 200


def test_the_sdk_changes_a_connections_policy_and_the_next_sign_up_obeys(world: World) -> None:
    signup = {
        "client_id": world.web["client_id"],
        "connection": "Username-Password-Authentication",
        "email": "dora@example.com",
    }
    weak = "abcdefgh12"  # today's rule (8 characters) takes it
    assert (
        world.http.post("dbconnections/signup", json={**signup, "password": weak}).status_code
        == 200
    )
    world.passgate.cli("connections", "create", "Partners", "--all-clients")
    options = {"passwordPolicy": "excellent", "password_dictionary": {"enable": True}}
    done = world.step("connection", name="Username-Password-Authentication", options=options)
    assert done["found"]["options"]["passwordPolicy"] == "low"
    assert done["updated"]["ok"], done["updated"]
    assert done["updated"]["data"]["options"] == options
    assert done["read"]["data"]["options"] == options
    assert sorted(done["all"]) == ["Partners", "Username-Password-Authentication"]
    refused = world.http.post(
        "dbconnections/signup", json={**signup, "email": "eve@example.com", "password": weak}
    )
    assert refused.status_code == 400
    assert refused.json()["name"] == "PasswordStrengthError"
    common = world.http.post(
        "dbconnections/signup",
        json={**signup, "email": "eve@example.com", "password": "Password123"},
    )  # excellent enough, but one of the most common passwords
    assert common.status_code == 400
    assert common.json()["name"] == "PasswordDictionaryError"
    strong = world.http.post(
        "dbconnections/signup",
        json={**signup, "email": "eve@example.com", "password": "Tr0ub4dor&3x"},
    )
    assert strong.status_code == 200, strong.text
