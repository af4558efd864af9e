"""Shared pieces of the benchmarks: a passgate server process, wrk runs, set-up via stores.

Benchmarks print figures; they are not tests. Run them on a quiet machine and compare
ratios measured in the same run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    return wrk


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def serve(env: Mapping[str, str], *, workers: int = 2, app: str | None = None) -> Iterator[Server]:
    """``passgate serve`` on a free port, or ``app``: a script serving on ``--port``."""
    port = free_port()
    full_env = {**os.environ, **env, "PASSGATE_LOG_LEVEL": "warning"}
    if app is None:
        command = [sys.executable, "-m", "passgate", "serve", "--port", str(port)]
        command += ["--workers", str(workers)]
    else:
        command = [sys.executable, app, "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=full_env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield Server(url=url, process=process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def server_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a server process and its worker processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [str(pid)]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += children.read_text().split()
    for each in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass
class WrkResult:
    requests_per_s: float
    requests: int
    non_2xx: int
    latency_p50_ms: float | None


def _ms(text: str) -> float:
    number = float(re.sub(r"[a-z]+$", "", text))
    if text.endswith("us"):
        return number / 1000
    if text.endswith("ms"):
        return number
    if text.endswith("s"):
        return number * 1000
    return number


def wrk(url: str, script: str, *, connections: int, duration: float, threads: int = 2) -> WrkResult:
    """Run wrk with a Lua ``script`` (its text) against ``url``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        output = subprocess.run(
            [
                require_wrk(),
                f"-t{min(threads, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--latency",
                "-s",
                path,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(path)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p50 = re.search(r"50%\s+([\d.]+\w+)", output)
    return WrkResult(
        requests_per_s=rate,
        requests=total,
        non_2xx=int(non_2xx_match.group(1)) if non_2xx_match else 0,
        latency_p50_ms=_ms(p50.group(1)) if p50 else None,
    )


def lua_post(
    path: str,
    bodies: list[str],
    headers: Mapping[str, str] | None = None,
    forwarded_random: bool = False,
    delay_ms: float | None = None,
) -> str:
    """A wrk script POSTing form bodies chosen round-robin, optionally from random IPs.

    With ``delay_ms`` each connection waits that long before each request: a paced load
    of about ``connections * 1000 / (delay_ms + latency)`` requests per second, from a
    client that costs the machine far less CPU than a Python one."""
    quoted = ",\n".join("[==[" + body + "]==]" for body in bodies)
    header_lines = "".join(f'h["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
    forwarded = (
        'h["auth0-forwarded-for"] = "198." .. math.random(18,19) .. "." .. '
        'math.random(0,255) .. "." .. math.random(1,254)\n'
        if forwarded_random
        else ""
    )
    return f"""
local bodies = {{
{quoted}
}}
local n = 0
math.randomseed(os.time())
request = function()
  n = n + 1
  local h = {{}}
  h["Content-Type"] = "application/x-www-form-urlencoded"
  {header_lines}
  {forwarded}
  return wrk.format("POST", "{path}", h, bodies[(n % #bodies) + 1])
end
""" + (f"delay = function()\n  return {delay_ms}\nend\n" if delay_ms is not None else "")
