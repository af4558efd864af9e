"""A protection policy changed while servers run takes effect in each within a second.

Real ``passgate serve`` processes (two instances on one SQLite file) read the policies
from memory on every request and again from the database twice a second in the
background. The change is written as ``passgate protection set`` writes it (the CLI's
store), in this process, so that the time it lands is known to the millisecond.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from passgate.domain.policy import BruteForcePolicy
from passgate.storage.db import make_engine
from passgate.storage.settings_store import SettingsStore
from passgate.support.urls import sqlite_url
from tests.protection_e2e.servers import Server, cli, running, server_env

pytestmark = pytest.mark.slow

#: The promise: a change made elsewhere is seen within a second.
SEEN_WITHIN_S = 1.0
PASSWORD = "a long and private passphrase"


def wrong_login(server: Server, form: dict[str, str]) -> int:
    return httpx.post(server.url + "oauth/token", data=form, timeout=10.0).status_code


def test_raising_max_attempts_lifts_a_block_in_every_running_server_within_a_second(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = server_env(data)
    cli(env, "protection", "set", "brute-force", "--max-attempts", "1")
    client = cli(env, "clients", "create", "--name", "Shop", "--grant", "password")
    cli(env, "users", "create", "--email", "ann@example.com", "--password-stdin", input=PASSWORD)
    form = {
        "grant_type": "password",
        "username": "ann@example.com",
        "password": "not the password",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    engine = make_engine(sqlite_url(data))
    try:
        with running(env, tmp_path, count=2) as servers:
            assert wrong_login(servers[0], form) == 403  # the one failure max_attempts allows
            for server in servers:
                assert wrong_login(server, form) == 429  # blocked, in both

            SettingsStore(engine).set_brute_force(BruteForcePolicy(max_attempts=5))
            changed = time.monotonic()
            waiting = list(servers)
            while waiting:
                for server in list(waiting):
                    status = wrong_login(server, form)
                    if status == 403:  # the block is lifted: a password was verified
                        waiting.remove(server)
                    else:
                        assert status == 429
                elapsed = time.monotonic() - changed
                assert elapsed < SEEN_WITHIN_S, f"not seen within {SEEN_WITHIN_S} s"
                time.sleep(0.02)
    finally:
        engine.dispose()
