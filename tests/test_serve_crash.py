"""``passgate serve --workers N`` killed with ``kill -9``: the next start reclaims its semaphore.

Real servers, really killed (the whole process group, as a crash or the OOM killer of a
service manager's cgroup would), and a second server running beside them all along.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from passgate.support import hash_slots
from tests.processes import cli, free_port, server_env
from tests.test_serve import PASSWORD, Server, password_login

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hash_slots.supported(), reason="System V semaphores: Linux only"),
]

API = "https://api.orders.example/"


def semaphore_ids() -> set[int]:
    """Every System V semaphore set of this IPC namespace, as the kernel lists them."""
    lines = Path("/proc/sysvipc/sem").read_text().splitlines()[1:]
    return {int(line.split()[1]) for line in lines}


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                # The command may hold spaces and parentheses: the fields follow the last ')'.
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def slots_id(server: Server) -> int:
    """The semaphore the server's workers were handed (their environment names it)."""
    ids: set[int] = set()
    for child in children(server.process.pid):
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            ids.update(
                int(item.partition(b"=")[2])
                for item in environ
                if item.startswith(b"PASSGATE_HASH_SLOTS_ID=")
            )
    assert len(ids) == 1, ids
    return ids.pop()


def start(tmp_path: Path, env: dict[str, str], name: str) -> tuple[Server, str]:
    logs = tmp_path / name
    logs.mkdir(exist_ok=True)
    port = free_port()
    server = Server(env, logs, "serve", "--port", str(port), "--workers", "2")
    return server, f"http://127.0.0.1:{port}/"


def crash(server: Server) -> None:
    """``kill -9`` of the server and its workers; returns once none of them is left."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=15)
    deadline = time.monotonic() + 20
    while True:
        try:
            os.killpg(server.process.pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, "the killed workers are still there"
        time.sleep(0.05)


def test_the_next_start_reclaims_the_semaphore_of_a_killed_server_and_no_other(
    tmp_path: Path,
) -> None:
    env_crashing = server_env(tmp_path / "crashing")
    env_beside = server_env(tmp_path / "beside")
    cli(env_beside, "apis", "create", "--identifier", API, "--scope", "read:orders")
    client = cli(env_beside, "clients", "create", "--name", "Shop", "--grant", "password")
    cli(
        env_beside, "users", "create", "--email", "bob@example.com", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    started: list[Server] = []
    try:
        crashing, crashing_url = start(tmp_path, env_crashing, "crashing")
        started.append(crashing)
        beside, beside_url = start(tmp_path, env_beside, "beside")
        started.append(beside)
        crashing.wait_until_healthy(crashing_url)
        beside.wait_until_healthy(beside_url)
        stale, kept = slots_id(crashing), slots_id(beside)
        assert stale != kept

        crash(crashing)
        assert stale in semaphore_ids()  # the kernel keeps it: nobody removed it

        restarted, restarted_url = start(tmp_path, env_crashing, "restarted")
        started.append(restarted)
        restarted.wait_until_healthy(restarted_url)
        fresh = slots_id(restarted)
        assert stale not in semaphore_ids()
        assert {kept, fresh} <= semaphore_ids()
        assert "semaphore" in restarted.stderr()  # says what it removed

        # The server running beside was never disturbed: it still hashes under its bound.
        login = password_login(client, "bob@example.com", audience=API)
        with httpx.Client(base_url=beside_url, timeout=10.0) as http:
            answers = [http.post("oauth/token", data=login) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200] * 4

        assert restarted.stop() == 0
        assert beside.stop() == 0
        assert not {kept, fresh} & semaphore_ids()
        assert "Traceback" not in restarted.stderr() + beside.stderr()
    finally:
        for server in started:
            server.kill()
