"""A users-import job whose server is killed (SIGKILL) mid-import: after the restart the
job reads as still running while its heartbeat is recent, then as failed, interrupted
(an hour later: the heartbeat's age is set back in the database rather than waited for);
the users imported before the kill are kept, its spooled file is gone, and importing the
file again with ``upsert`` finishes the job with every user there once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from passgate.management.jobs import STALE_AFTER_S
from passgate.storage.db import make_engine
from tests.management.test_processes import ISSUER, management_client, token_for
from tests.protection_e2e.servers import Server, running, server_env

pytestmark = pytest.mark.slow

USERS = 60_000


def _token(env: dict[str, str], server: Server) -> str:
    form = management_client(env, ("create:users", "read:users", "read:connections"))
    return token_for(server, form)


def _users_file(path: Path) -> bytes:
    lines = [
        json.dumps({"email": f"user{n}@import.example", "password_hash": _bcrypt(n)})
        for n in range(USERS)
    ]
    content = ("\n".join(lines) + "\n").encode()
    path.write_bytes(content)
    return content


def _bcrypt(n: int) -> str:
    return "$2b$10$" + f"{n:022d}"[:22] + "A" * 31


def _user_count(engine: sa.Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(sa.text("SELECT count(*) FROM users")).scalar_one())


def test_a_job_killed_mid_import_reads_failed_and_an_upsert_finishes_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = server_env(
        data, PASSGATE_ISSUER=ISSUER, PASSGATE_USERS_IMPORT_MAX_BYTES=str(50 * 1024 * 1024)
    )
    content = _users_file(tmp_path / "users.jsonl")
    engine = make_engine(f"sqlite:///{data / 'passgate.db'}")
    with running(env, tmp_path / "logs") as [server]:
        token = _token(env, server)
        headers = {"authorization": f"Bearer {token}"}
        connections = httpx.get(server.url + "api/v2/connections", headers=headers, timeout=10)
        connection_id = connections.json()[0]["id"]

        def start(upsert: str) -> str:
            answer = httpx.post(
                server.url + "api/v2/jobs/users-imports",
                headers=headers,
                data={"connection_id": connection_id, "upsert": upsert},
                files={"users": ("users.jsonl", content, "application/json")},
                timeout=60,
            )
            assert answer.status_code == 202, answer.text
            job_id: str = answer.json()["id"]
            return job_id

        job_id = start("false")
        deadline = time.monotonic() + 60
        while _user_count(engine) < 1000:  # the import is under way
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.02)
        server.kill_hard()
    imported = _user_count(engine)
    assert 0 < imported < USERS, "the kill came too late to interrupt the import"
    assert list((data / "jobs").glob("*.json")), "the spooled file is left by the kill"

    with running(env, tmp_path / "logs") as [server]:
        headers = {"authorization": f"Bearer {_token(env, server)}"}

        def job() -> dict[str, object]:
            answer = httpx.get(server.url + f"api/v2/jobs/{job_id}", headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
            body: dict[str, object] = answer.json()
            return body

        assert job()["status"] == "processing"  # the heartbeat is recent: maybe alive
        with engine.begin() as db:  # an hour passes without a heartbeat
            db.execute(
                sa.text("UPDATE jobs SET updated_at = updated_at - :age WHERE id = :id"),
                {"age": STALE_AFTER_S + 3600, "id": job_id},
            )
        failed = job()
        assert failed["status"] == "failed"
        assert str(failed["status_details"]).startswith("interrupted")
        assert not list((data / "jobs").glob(f"{job_id}.json"))
        assert _user_count(engine) == imported  # nothing lost, nothing undone

        again = start("true")
        for _ in range(1200):
            finished = httpx.get(
                server.url + f"api/v2/jobs/{again}", headers=headers, timeout=10
            ).json()
            if finished["status"] in ("completed", "failed"):
                break
            time.sleep(0.1)
        assert finished["status"] == "completed", finished
        assert finished["summary"] == {
            "total": USERS,
            "inserted": USERS - imported,
            "updated": imported,
            "failed": 0,
        }
        assert "Traceback" not in server.stderr()
    assert _user_count(engine) == USERS
    engine.dispose()
