"""A real receiver process (``tests.streams.receiver``) and reading what it got."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.processes import free_port

__all__ = ["Receiver", "receiving"]


class Receiver:
    """The receiver on ``port``, recording to ``record``; stop and start it again on the
    same port (a receiver that is down, then back)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/logs"
        self.record = directory / f"received-{self.port}.jsonl"
        self.record.touch()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.streams.receiver", str(self.port), str(self.record)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def refuse(self, status: int | None) -> None:
        """Answer every request with ``status`` from now on (None: 200 again)."""
        flag = self.record.with_name(self.record.name + ".fail")
        if status is None:
            flag.unlink(missing_ok=True)
        else:
            flag.write_text(str(status))

    def slow(self, seconds: float | None) -> None:
        flag = self.record.with_name(self.record.name + ".slow")
        if seconds is None:
            flag.unlink(missing_ok=True)
        else:
            flag.write_text(str(seconds))

    def requests(self) -> list[dict[str, Any]]:
        """Every request received, in order (including refused ones)."""
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["refused"] is None]

    def items(self) -> list[dict[str, Any]]:
        """The events of every accepted request, in the order received (any format)."""
        found: list[dict[str, Any]] = []
        for request in self.accepted():
            found += decode(request["body"])
        return found

    def log_ids(self) -> list[str]:
        return [item["log_id"] for item in self.items()]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[str]:
        """The log ids received once ``count`` distinct ones have come (or the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.log_ids()
            if len(set(ids)) >= count:
                return ids
            time.sleep(0.05)
        return self.log_ids()


def decode(body: str) -> list[dict[str, Any]]:
    """The events of one request body: a JSON array, one object, or JSON lines."""
    text = body.strip()
    if text.startswith("["):
        items: list[dict[str, Any]] = json.loads(text)
        return items
    if "\n" not in text:
        return [json.loads(text)]
    return [json.loads(line) for line in text.splitlines()]


@contextlib.contextmanager
def receiving(directory: Path) -> Iterator[Receiver]:
    receiver = Receiver(directory)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
