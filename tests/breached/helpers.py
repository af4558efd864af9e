"""Small corpora written by the tests themselves."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


def sha1_digest(password: str) -> bytes:
    return hashlib.sha1(password.encode(), usedforsecurity=False).digest()


def write_lines(
    path: Path,
    lines: Iterable[str],
    *,
    crlf: bool = False,
    compress: bool = False,
    final_newline: bool = True,
) -> Path:
    end = "\r\n" if crlf else "\n"
    text = end.join(lines) + (end if final_newline else "")
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def hash_lines(counts: dict[str, int], *, lower: bool = False) -> list[str]:
    lines = [f"{sha1_hex(password)}:{count}" for password, count in counts.items()]
    return [line.lower() for line in lines] if lower else lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def range_server(index_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A second process serving ``GET /range/{prefix}`` from ``index_path`` with uvicorn."""
    port = free_port()
    env = {**os.environ, "PASSGATE_TEST_RANGE_INDEX": str(index_path)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.breached.range_server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the range server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/range/", process
    finally:
        process.kill()
        process.wait()
