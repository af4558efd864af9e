"""Helpers for tests that run real ``passgate`` processes: environment, CLI, free ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import TEST_KEY_ENCRYPTION_KEY


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI or server process: no PASSGATE_* from outside, cheap
    password hashing, and ``extra`` on top. On PostgreSQL, which needs one, a test
    key-encryption key unless ``extra`` names one."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PASSGATE_")}
    env.update(
        PASSGATE_DATA_DIR=str(data_dir),
        PASSGATE_ARGON2_MEMORY_KIB="1024",
        PASSGATE_ARGON2_TIME_COST="1",
        PASSGATE_HASH_WORKERS="2",
        PASSGATE_LOG_LEVEL="warning",
    )
    if extra.get("PASSGATE_DATABASE_URL", "").startswith("postgres"):
        env["PASSGATE_KEY_ENCRYPTION_KEY"] = TEST_KEY_ENCRYPTION_KEY
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, input: str | None = None) -> Any:
    """One ``passgate … --json`` command, run to completion; its JSON output."""
    done = subprocess.run(
        [sys.executable, "-m", "passgate", *args, "--json"],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
