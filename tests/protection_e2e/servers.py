"""Real ``passgate`` processes for the tests about workers, instances and restarts.

Every server runs in its own process group so that it and its workers can be killed
together; :func:`running` kills whatever is left in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from tests.processes import cli, free_port, server_env

__all__ = ["Server", "cli", "running", "server_env"]

STARTUP_SECONDS = 30.0


class Server:
    """``passgate serve`` on a free port, its output kept in files."""

    def __init__(self, env: dict[str, str], logs: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        logs.mkdir(parents=True, exist_ok=True)
        self._stderr_path = logs / f"server-{self.port}.err"
        self._stderr: IO[bytes] = self._stderr_path.open("wb")
        command = ["serve", "--port", str(self.port), "--workers", str(workers)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "passgate", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )

    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early: {self.stderr()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the server did not become healthy: {self.stderr()}")

    def stop(self) -> None:
        """SIGTERM, as a service manager does: the server drains its event buffer."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)

    def kill_hard(self) -> None:
        """SIGKILL to the whole process group: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stray workers of this server
        self._stderr.close()


@contextlib.contextmanager
def running(
    env: dict[str, str], logs: Path, *, count: int = 1, workers: int = 1
) -> Iterator[list[Server]]:
    """``count`` servers, healthy; all killed on the way out, whatever happened."""
    servers: list[Server] = []
    try:
        for _ in range(count):
            servers.append(Server(env, logs, workers=workers))
        for server in servers:
            server.wait_until_healthy()
        yield servers
    finally:
        for server in servers:
            server.close()
