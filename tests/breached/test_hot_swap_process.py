"""A corpus imported while ``passgate serve --workers 2`` runs, as real processes.

No index exists when the server starts; ``passgate breached import`` then writes one, and
later replaces it. Every worker must refuse the newly breached password within a few
seconds, with no restart, while a steady stream of other logins keeps getting 200s. When
the file is then deleted, the workers keep the index they have and warn once each.

Which worker answered is read from the event log: a ``log_id`` carries a tag drawn once
per process (see :func:`passgate.domain.events.new_log_id`).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from passgate.breached.live import RELOAD_INTERVAL_S
from passgate.cli.support import open_stores
from passgate.settings import Settings
from passgate.storage.directory import DEFAULT_CONNECTION
from tests.breached.helpers import hash_lines, write_lines
from tests.processes import cli, free_port, server_env
from tests.test_serve import Server

pytestmark = pytest.mark.slow

SAFE = "a steady and private passphrase"
FIRST_LEAK = "first-leaked-passphrase"
SECOND_LEAK = "second-leaked-passphrase"
#: Enough that, on a loaded machine, both workers answer some after the pick-up time.
USERS_PER_LEAK = 400
#: A worker checks the index file once a second; allow for a loaded machine.
PICKUP_SECONDS = 5.0
_ips = itertools.count(1)


def next_ip() -> str:
    """A fresh end-user IP per login, so no per-IP limit comes into play."""
    n = next(_ips)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


@dataclass
class Service:
    base_url: str
    client: dict[str, Any]
    env: dict[str, str]
    data_dir: Path

    def login(self, username: str, password: str) -> httpx.Response:
        """A password login on a new connection (so that any worker may take it)."""
        form = {
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": self.client["client_id"],
            "client_secret": self.client["client_secret"],
        }
        with httpx.Client(base_url=self.base_url, timeout=20.0) as http:
            return http.post(
                "oauth/token",
                data=form,
                headers={"auth0-forwarded-for": next_ip(), "connection": "close"},
            )

    def process_tags(self, event_type: str, user_prefix: str) -> set[str]:
        """The server processes that wrote ``event_type`` events for these users."""
        import sqlite3

        with sqlite3.connect(self.data_dir / "passgate.db") as db:
            rows = db.execute(
                "SELECT log_id FROM events WHERE type = ? AND user_name LIKE ?",
                (event_type, user_prefix + "%"),
            ).fetchall()
        return {log_id[17:27] for (log_id,) in rows}

    def import_corpus(self, corpus: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "passgate", "breached", "import", str(corpus)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@dataclass
class SteadyTraffic:
    """Logins with a safe password and readiness checks, in a loop, until stopped."""

    service: Service
    answers: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.service.login("steady@example.com", SAFE)
                self.answers.append(str(answer.status_code))
                if answer.status_code != 200:
                    self.failures.append(f"{answer.status_code} {answer.text}")
                ready = httpx.get(self.service.base_url + "ready", timeout=20.0)
                if ready.status_code != 200:
                    self.failures.append(f"/ready {ready.status_code} {ready.text}")
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))

    @classmethod
    @contextmanager
    def running(cls, service: Service) -> Iterator[SteadyTraffic]:
        traffic = cls(service)
        thread = threading.Thread(target=traffic.run, daemon=True)
        thread.start()
        try:
            yield traffic
        finally:
            traffic._stop.set()
            thread.join(30)


def create_users(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, argon2_memory_kib=1024, argon2_time_cost=1)
    with open_stores(settings) as stores:
        hasher = stores.hasher()
        users = [("steady@example.com", SAFE)]
        for prefix, password in (("first", FIRST_LEAK), ("second", SECOND_LEAK)):
            users += [(f"{prefix}-{i:03d}@example.com", password) for i in range(USERS_PER_LEAK)]
        users += [(f"kept-{i}@example.com", SECOND_LEAK) for i in range(4)]
        hashes = {password: hasher.hash(password) for password in {p for _, p in users}}
        for email, password in users:
            stores.directory.create_user(
                connection=DEFAULT_CONNECTION, email=email, password_hash=hashes[password]
            )


def both_workers_answer(service: Service) -> set[str]:
    """Log in until the event log shows two server processes answering."""
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() < deadline:
            answers = list(pool.map(lambda _: service.login("steady@example.com", SAFE), range(8)))
            assert all(answer.status_code == 200 for answer in answers), answers[0].text
            time.sleep(0.2)
            tags = service.process_tags("sepft", "steady@")
            if len(tags) >= 2:
                return tags
    pytest.fail("only one worker ever answered")


def swap_in(service: Service, corpus: Path, password: str, prefix: str) -> None:
    """Import ``corpus`` while logging in with ``password`` (fresh users); return once
    every worker refuses it, checking that none accepts it ``PICKUP_SECONDS`` after the
    import finished."""
    users = (f"{prefix}-{i:03d}@example.com" for i in range(USERS_PER_LEAK))
    importer = service.import_corpus(corpus)
    imported_at: float | None = None
    late_acceptances: list[str] = []
    with ThreadPoolExecutor(4) as pool:
        for batch in iter(lambda: list(itertools.islice(users, 4)), []):
            sent = time.monotonic()
            answers = list(pool.map(lambda user: (user, service.login(user, password)), batch))
            for user, answer in answers:
                if answer.status_code == 200:
                    if imported_at is not None and sent > imported_at + PICKUP_SECONDS:
                        late_acceptances.append(user)
                    continue
                assert answer.status_code == 401, answer.text
                assert answer.json()["error"] == "password_leaked", answer.text
            if imported_at is None and importer.poll() is not None:
                assert importer.returncode == 0, importer.stderr.read() if importer.stderr else ""
                imported_at = time.monotonic()
            if imported_at is not None and time.monotonic() > imported_at + PICKUP_SECONDS:
                time.sleep(0.2)  # let the workers write their events
                if len(service.process_tags("pwd_leak", prefix + "-")) >= 2:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"{password}: not refused by every worker: {late_acceptances}")
    assert late_acceptances == []


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def test_every_worker_picks_up_an_index_imported_while_serving(
    tmp_path: Path, servers: list[Server]
) -> None:
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    client = cli(
        env, "clients", "create", "--name", "Shop", "--grant", "password", "--trust-ip-header"
    )
    create_users(data_dir)
    assert not (data_dir / "breached.idx").exists()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    server = Server(env, tmp_path, "serve", "--port", str(port), "--workers", "2")
    servers.append(server)
    server.wait_until_healthy(base_url)
    service = Service(base_url, client, env, data_dir)
    workers = both_workers_answer(service)

    first = write_lines(tmp_path / "first.txt", hash_lines({FIRST_LEAK: 5, "hunter2": 9}))
    second = write_lines(
        tmp_path / "second.txt", hash_lines({FIRST_LEAK: 5, SECOND_LEAK: 2, "letmein": 3})
    )
    with SteadyTraffic.running(service) as traffic:
        # No index at start: the first import creates it.
        swap_in(service, first, FIRST_LEAK, "first")
        # A second import replaces it.
        swap_in(service, second, SECOND_LEAK, "second")
        assert service.process_tags("pwd_leak", "second-") == workers
        # Deleted: every worker keeps the index it has, and says so once.
        (data_dir / "breached.idx").unlink()
        time.sleep(3 * RELOAD_INTERVAL_S)
        for i in range(4):
            answer = service.login(f"kept-{i}@example.com", SECOND_LEAK)
            assert answer.status_code == 401, answer.text
        assert traffic.failures == []
        assert len(traffic.answers) > 10

    assert server.stop() == 0
    assert "Traceback" not in server.stderr()
    assert server.stderr().count("was deleted; still using the one loaded") == 2
