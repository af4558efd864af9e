"""A real ``passgate serve`` for the kit's tests, set up with passgate's CLI.

The server package is not a dependency of the kit: these tests need it installed beside
the kit (as the repo's ``./scripts/bootstrap`` does) and are skipped by name otherwise.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

API = "https://api.kit.test/"
PASSWORD = "a long and careful passphrase 42"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass
class Server:
    base: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    client_id: str
    client_secret: str
    untrusted_id: str
    untrusted_secret: str

    def cli(self, *args: str, input: str | None = None) -> Any:
        """One ``passgate … --json`` command, run to completion; its JSON output."""
        done = subprocess.run(
            [sys.executable, "-m", "passgate", *args, "--json"],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def create_user(self, email: str, password: str = PASSWORD) -> str:
        """A user, made through the sign-up endpoint (faster than a CLI process)."""
        answer = httpx.post(
            self.base + "dbconnections/signup",
            json={
                "client_id": self.client_id,
                "email": email,
                "password": password,
                "connection": "Username-Password-Authentication",
            },
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return "auth0|" + str(answer.json()["_id"])

    def events(self, *args: str) -> list[dict[str, Any]]:
        found = self.cli("logs", *args)
        events: list[dict[str, Any]] = found["events"] if isinstance(found, dict) else found
        return events


def passgate_missing() -> str | None:
    if importlib.util.find_spec("passgate") is None:
        return "passgate (the server) is not installed beside the kit"
    return None


def start_server(data_dir: Path, **settings: str) -> Iterator[Server]:
    """Set up a tenant in ``data_dir`` (an API, a trusted confidential client, an
    untrusted one) and serve it on a free loopback port until the generator is closed."""
    reason = passgate_missing()
    if reason is not None:
        pytest.skip(f"kit tests against a real server not run: {reason}")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PASSGATE_")}
    env.update(
        PASSGATE_DATA_DIR=str(data_dir),
        PASSGATE_ARGON2_MEMORY_KIB="1024",
        PASSGATE_ARGON2_TIME_COST="1",
        PASSGATE_HASH_WORKERS="2",
        PASSGATE_LOG_LEVEL="warning",
        **settings,
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}/"
    setup = Server(base, env, None, "", "", "", "")  # type: ignore[arg-type]
    setup.cli(
        "apis", "create", "--identifier", API, "--scope", "read:things", "--allow-offline-access"
    )
    grants = ["--grant", "password", "--grant", "password-realm", "--grant", "refresh_token"]
    trusted = setup.cli("clients", "create", "--name", "Kit app", *grants, "--trust-ip-header")
    untrusted = setup.cli("clients", "create", "--name", "Untrusted app", *grants)
    log = (data_dir.parent / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "passgate", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"passgate serve exited with {process.returncode}")
            try:
                if httpx.get(base + "health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("passgate serve did not start within 60 seconds")
            time.sleep(0.1)
        yield Server(
            base,
            env,
            process,
            trusted["client_id"],
            trusted["client_secret"],
            untrusted["client_id"],
            untrusted["client_secret"],
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()
