"""One passgate serving its corpus as a range API to another, as real processes.

The upstream is ``python -m passgate serve`` with ``PASSGATE_BREACHED_RANGE_ENABLED=true``
and an index imported with ``python -m passgate breached import --with-range``; the
downstream passgate (in process, on each SQL backend) has no local index and asks it
through ``PASSGATE_BREACHED_RANGE_URL``. Then the upstream is stopped, and
``breached_upstream_unavailable`` decides: ``refuse`` answers 503, ``allow`` logs in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.breached.helpers import REPO, free_port, hash_lines, sha1_hex, write_lines
from tests.breached.test_login_stage import (
    LEAKED,
    SAFE,
    World,
    assert_leaked,
    login,
    make_world,
)

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def upstream_env(data_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PASSGATE_")}
    env.update(
        PASSGATE_DATA_DIR=str(data_dir),
        PASSGATE_BREACHED_RANGE_ENABLED="true",
        PASSGATE_LOG_LEVEL="warning",
        PASSGATE_ARGON2_MEMORY_KIB="1024",
        PASSGATE_ARGON2_TIME_COST="1",
    )
    return env


def import_with_range(data_dir: Path, corpus: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "passgate", "breached", "import", str(corpus), "--with-range"],
        cwd=REPO,
        env=upstream_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (data_dir / "breached.idx").exists()


@contextmanager
def upstream_server(data_dir: Path, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "passgate", "serve", "--port", str(port)],
            cwd=REPO,
            env=upstream_env(data_dir),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the upstream passgate did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield base, process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def downstream(tmp_path: Path, sql_url: str, range_url: str, on_unavailable: str) -> World:
    return make_world(
        tmp_path / "downstream",
        sql_url,
        breached_index=tmp_path / "no-such-index.idx",
        breached_range_url=range_url,
        breached_upstream_unavailable=on_unavailable,
        breached_range_timeout=2.0,
    )


async def test_a_second_passgate_serves_its_corpus_to_the_first(
    tmp_path: Path, sql_url: str
) -> None:
    upstream_dir = tmp_path / "upstream"
    upstream_dir.mkdir()
    corpus = write_lines(tmp_path / "corpus.txt", hash_lines({LEAKED: 7, "hunter2": 3}))
    import_with_range(upstream_dir, corpus)

    with upstream_server(upstream_dir, tmp_path / "upstream.log") as (base, process):
        digest = sha1_hex(LEAKED)
        async with httpx.AsyncClient(base_url=base) as http:
            answer = await http.get(f"/range/{digest[:5]}", headers={"Add-Padding": "true"})
        assert answer.status_code == 200
        assert f"{digest[5:]}:7" in answer.text.splitlines()
        assert len(answer.text.splitlines()) >= 800

        world = downstream(tmp_path, sql_url, f"{base}/range/", "refuse")
        try:
            assert world.passgate.breached.checker.index is None
            lee = world.user("lee@example.com", LEAKED)
            world.user("sam@example.com", SAFE)
            assert_leaked(await login(world, "lee@example.com", LEAKED))
            assert world.fresh(lee).password_leaked
            [leak] = world.events.of_type("pwd_leak")
            assert leak.details["source"] == "upstream"
            ok = await login(world, "sam@example.com", SAFE)
            assert ok.status_code == 200, ok.text
        finally:
            world.passgate.close()
        stop(process)

    # The upstream is gone (and nothing is cached in a new process).
    refusing = downstream(tmp_path, sql_url, f"{base}/range/", "refuse")
    try:
        sam = refusing.user("sam@example.com", SAFE)
        response = await login(refusing, "sam@example.com", SAFE)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "temporarily_unavailable"
        assert not refusing.fresh(sam).password_leaked
        assert not refusing.events.of_type("pwd_leak", "sepft")
        refusing.drain()
        assert refusing.mailer.sent == []
        # The mark from before needs no upstream: still refused.
        assert_leaked(await login(refusing, "lee@example.com", LEAKED))
    finally:
        refusing.passgate.close()

    allowing = downstream(tmp_path, sql_url, f"{base}/range/", "allow")
    try:
        response = await login(allowing, "sam@example.com", SAFE)
        assert response.status_code == 200, response.text
    finally:
        allowing.passgate.close()
