"""``passgate serve`` and ``passgate quickstart`` as real processes, over real HTTP.

Set up with the CLI, log in with httpx, check the access token against the published JWKS,
stop with SIGTERM. Every process started here is stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import jwt
import pytest

from passgate.domain.management_api import MANAGEMENT_SCOPES
from passgate.support import hash_slots
from tests.processes import cli, free_port, server_env

pytestmark = pytest.mark.slow

API = "https://api.orders.example/"
PASSWORD = "a long and private passphrase"
END_USER_IP = "198.51.100.23"
STARTUP_SECONDS = 60.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return server_env(tmp_path / "data")


class Server:
    """A ``passgate`` server process, its output kept in files (a full pipe would block it)."""

    def __init__(self, env: dict[str, str], tmp_path: Path, *args: str) -> None:
        self.stdout_path = tmp_path / "server.out"
        self.stderr_path = tmp_path / "server.err"
        self._stdout: IO[bytes] = self.stdout_path.open("wb")
        self._stderr: IO[bytes] = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "passgate", *args],
            env=env,
            stdout=self._stdout,
            stderr=self._stderr,
            start_new_session=True,  # its own process group: workers can be reaped with it
        )

    def wait_until_healthy(self, base_url: str, verify: ssl.SSLContext | bool = True) -> None:
        """Wait for ``GET /health``; ``verify`` checks an https server's certificate."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}: {self.stderr()}")
            try:
                health = httpx.get(base_url + "health", timeout=1.0, verify=verify)
                if health.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"the server did not become healthy: {self.stderr()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a service manager would; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def kill(self) -> None:
        """Whatever happened, leave no process behind."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stray workers of this server only
        self._stdout.close()
        self._stderr.close()


@pytest.fixture
def servers(env: dict[str, str], tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def live_semaphores() -> dict[int, int]:
    """This user's System V semaphores: id -> slots free now."""
    if not hash_slots.supported():
        return {}
    found = {}
    for line in Path("/proc/sysvipc/sem").read_text().splitlines()[1:]:
        _key, semaphore_id, _perms, _count, uid, *_ = line.split()
        if int(uid) == os.getuid():
            with contextlib.suppress(OSError):  # removed meanwhile
                found[int(semaphore_id)] = hash_slots.HashSlots(int(semaphore_id)).available()
    return found


def verify_access_token(base_url: str, token: str, audience: str) -> dict[str, Any]:
    jwks = httpx.get(base_url + ".well-known/jwks.json", timeout=5.0).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims: dict[str, Any] = jwt.decode(
        token, key=key, algorithms=["RS256", "ES256"], audience=audience, issuer=base_url
    )
    return claims


def password_login(client: dict[str, Any], username: str, **extra: str) -> dict[str, str]:
    """A password-grant form for ``client`` (as ``clients create --json`` printed it)."""
    return {
        "grant_type": "password",
        "username": username,
        "password": PASSWORD,
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        **extra,
    }


def test_serve_with_two_workers_logs_users_in_and_stops_on_sigterm(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    cli(env, "apis", "create", "--identifier", API, "--scope", "read:orders")
    client = cli(
        env, "clients", "create", "--name", "Shop", "--grant", "password", "--trust-ip-header"
    )
    user = cli(
        env, "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    semaphores_before = live_semaphores()
    server = Server(env, tmp_path, "serve", "--port", str(port), "--workers", "2")
    servers.append(server)
    server.wait_until_healthy(base_url)
    # The workers share one bound on hashing: a semaphore with PASSGATE_HASH_WORKERS slots.
    created = {
        key: value for key, value in live_semaphores().items() if key not in semaphores_before
    }
    assert list(created.values()) == [int(env["PASSGATE_HASH_WORKERS"])]

    login = password_login(client, "alice@example.com", audience=API)
    # Several logins, so that both workers are likely to answer some.
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        answers = [
            http.post("oauth/token", data=login, headers={"auth0-forwarded-for": END_USER_IP})
            for _ in range(6)
        ]
        # What the server hands on of a header's bytes: \xa0 (NO-BREAK SPACE in latin-1)
        # arrives, and makes the address malformed.
        stray = http.post(
            "oauth/token",
            data=login,
            headers=[(b"auth0-forwarded-for", END_USER_IP.encode() + b"\xa0")],
        )
        wrong = http.post("oauth/token", data={**login, "password": "wrong"})

    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 86400
        claims = verify_access_token(base_url, body["access_token"], API)
        assert claims["sub"] == user["user_id"]
        assert claims["scope"] == "read:orders"
        assert claims["azp"] == client["client_id"]
    assert stray.status_code == 400, stray.text
    assert stray.json()["error"] == "invalid_request"
    assert "auth0-forwarded-for" in stray.json()["error_description"]
    assert wrong.status_code == 403
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "Wrong email or password.",
    }

    assert server.stop() == 0
    assert "Traceback" not in server.stderr()
    assert created.keys().isdisjoint(live_semaphores())  # removed on the way out
    # Shutting down wrote every event: the logins are in the log, with the end user's IP.
    successes = cli(env, "logs", "--type", "sepft")
    assert len(successes) == 6
    assert {(e["ip"], e["client_ip"]) for e in successes} == {(END_USER_IP, "127.0.0.1")}
    assert [e["type"] for e in cli(env, "logs", "--limit", "1")] == ["fepft"]


def replay_curl(command: str) -> httpx.Response:
    """Do what a printed ``curl … -H … --data-urlencode name=value`` command does."""
    words = shlex.split(command.replace("\\\n", " "))
    assert words[0] == "curl"
    url, headers, form = "", {}, {}
    position = 1
    while position < len(words):
        word = words[position]
        if word == "-H":
            name, _, value = words[position + 1].partition(":")
            headers[name.strip()] = value.strip()
            position += 2
        elif word == "--data-urlencode":
            name, _, value = words[position + 1].partition("=")
            form[name] = value
            position += 2
        elif word.startswith("-"):
            position += 1
        else:
            url = word
            position += 1
    return httpx.post(url, data=form, headers=headers, timeout=10.0)


def test_quickstart_prints_a_login_that_works(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    server = Server(env, tmp_path, "quickstart", "--port", str(port))
    servers.append(server)
    server.wait_until_healthy(base_url)

    printed = server.stdout()
    login, management = printed.split("\nManagement API (audience):")
    curl = re.search(r"^curl .*?(?=\n\n)", login, re.MULTILINE | re.DOTALL)
    assert curl is not None, printed
    shown = dict(re.findall(r"^\s*(client_id|client_secret|password):\s+(\S+)", login, re.M))
    assert shown["client_secret"] in curl.group(0)
    assert shown["password"] in curl.group(0)

    answer = replay_curl(curl.group(0))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {"access_token", "id_token", "refresh_token"} <= set(body)
    claims = verify_access_token(base_url, body["access_token"], "https://api.passgate.local/")
    assert claims["azp"] == shown["client_id"]

    # The Management API client's curl gets a token for the Management API, every scope.
    machine = re.search(r"^curl .*?(?=\n\n)", management, re.MULTILINE | re.DOTALL)
    assert machine is not None, printed
    answer = replay_curl(machine.group(0))
    assert answer.status_code == 200, answer.text
    claims = verify_access_token(base_url, answer.json()["access_token"], base_url + "api/v2/")
    assert claims["gty"] == "client-credentials"
    assert set(claims["scope"].split()) == set(MANAGEMENT_SCOPES)
    assert server.stop() == 0
    # The credentials are printed once, on stdout: never in the server's log.
    (machine_secret,) = re.findall(r"^\s*client_secret:\s+(\S+)", management, re.M)
    for secret in (shown["client_secret"], shown["password"], machine_secret):
        assert secret not in server.stderr()
    # The forwarded IP of the example is the one attack protection and the log saw.
    (event,) = cli(env, "logs", "--type", "sepft")
    assert event["ip"] == "203.0.113.7"
    assert event["client_ip"] == "127.0.0.1"


def _rows(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    database = sqlite3.connect(Path(env["PASSGATE_DATA_DIR"]) / "passgate.db", timeout=10.0)
    try:
        return database.execute(sql).fetchall()
    finally:
        database.close()


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.1)


def test_a_running_server_purges_protection_records_that_hold_no_state(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    env["PASSGATE_PURGE_INTERVAL_S"] = "0.5"
    client = cli(
        env, "clients", "create", "--name", "Shop", "--grant", "password", "--trust-ip-header"
    )
    for email in ("alice@example.com", "bob@example.com"):
        cli(env, "users", "create", "--email", email, "--password-stdin", input=PASSWORD + "\n")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    server = Server(env, tmp_path, "serve", "--port", str(port))
    servers.append(server)
    server.wait_until_healthy(base_url)
    login = password_login(client, "alice@example.com")
    forwarded = {"auth0-forwarded-for": END_USER_IP}
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        assert http.post("oauth/token", data=login, headers=forwarded).status_code == 200
        wrong = {**login, "username": "bob@example.com", "password": "wrong"}
        assert http.post("oauth/token", data=wrong, headers=forwarded).status_code == 403

    def login_rate_rows() -> list[tuple[Any, ...]]:
        return _rows(env, "SELECT ip FROM ip_buckets WHERE stage LIKE 'sul:%'")

    # The success took a token from alice's login-rate bucket at the end user's IP: its row
    # holds state for 3 s (one token refills), then it is a full bucket and is purged.
    _wait_for(lambda: login_rate_rows() == [(END_USER_IP,)], "the login-rate record")
    _wait_for(lambda: login_rate_rows() == [], "the purge of the full bucket")
    # Bob's failure (30 days) and the IP's failed-login bucket (a day) still hold state.
    assert _rows(env, "SELECT identifier, ip, failures FROM login_attempts") == [
        ("bob@example.com", END_USER_IP, 1)
    ]
    assert _rows(env, "SELECT ip, stage FROM ip_buckets") == [(END_USER_IP, "pre-login")]
    assert server.stop() == 0
    assert "Traceback" not in server.stderr()


def test_quickstart_run_from_the_checkout_prints_venv_commands_that_work(
    env: dict[str, str], tmp_path: Path
) -> None:
    """As ./scripts/run does: .venv/bin/passgate, from the checkout, venv not activated."""
    root = Path(__file__).resolve().parent.parent
    script = Path(sys.executable).parent / "passgate"
    if script.parent.parent.resolve() != (root / ".venv").resolve():
        pytest.skip("the tests do not run from the checkout's .venv")
    env = {**env, "PATH": "/usr/bin:/bin"}
    out = (tmp_path / "quickstart.out").open("w+")
    process = subprocess.Popen(
        [".venv/bin/passgate", "quickstart", "--port", str(free_port())],
        cwd=root,
        env=env,
        stdout=out,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(lambda: "Events:" in (tmp_path / "quickstart.out").read_text(), "quickstart")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        out.close()
    printed = (tmp_path / "quickstart.out").read_text()
    assert "source .venv/bin/activate" in printed
    (events,) = [line for line in printed.splitlines() if line.startswith("Events: ")]
    command = shlex.split(events.removeprefix("Events: "))
    assert command[:2] == [".venv/bin/passgate", "logs"]
    done = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_server_process_keeps_what_it_built_out_of_the_collector(tmp_path: Path) -> None:
    """``app_from_env`` (what every server process builds) freezes the objects built at
    start, so full collections no longer walk them while requests wait (they paused the
    loop 70-150 ms under a flood); a process that only calls ``create_app`` does not."""
    script = (
        "import gc, passgate.app as a\n"
        "before = gc.get_freeze_count()\n"
        "a.app_from_env()\n"
        "print(before, gc.get_freeze_count())\n"
    )
    env = server_env(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before == 0
    assert after > 10_000
