"""The event loop's latency under a flood of random ``client_id`` values (issue #14).

    python bench/bench_loop_lag.py [--kind client_id|realm|audience] [--rate 1000]
        [--duration 10] [--rounds 2] [--postgres postgresql://postgres@127.0.0.1/test]

A probe asks ``GET /health`` every 5 ms on one kept-alive connection, alone and beside a
paced flood (wrk, a per-request delay) of token requests naming a random ``client_id``
(or, with a valid client, a random ``realm`` or ``audience``): every request names a
record nobody cached. ``/health`` does no work, so its answer time is the time the event
loop took to get to it. Prints the probe's median, p99 and maximum alone and under the
flood (runs alternate; the machine is shared), and the flood's rate. One worker process,
on SQLite in a temporary data directory, or on a fresh schema of ``--postgres``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import sqlalchemy as sa

import passgate
from _harness import WrkResult, serve, wrk
from passgate.app import open_database
from passgate.settings import Settings
from passgate.storage.applications import Applications
from passgate.storage.db import make_engine
from passgate.storage.tenant import TenantStore
from setup_tenant import AUDIENCE, build

REALM_GRANT = "http://auth0.com/oauth/grant-type/password-realm"
FLOOD_CONNECTIONS = 32
PROBE_INTERVAL_S = 0.005


def flood_script(kind: str, client_id: str, secret: str, delay_ms: float) -> str:
    """wrk Lua: each request names a fresh random ``kind`` value (32 letters and digits)."""
    fixed = {
        "client_id": f"grant_type=client_credentials&client_secret=x&audience={quote(AUDIENCE)}",
        "realm": f"grant_type={quote(REALM_GRANT)}&client_id={client_id}&client_secret={secret}"
        "&username=someone&password=x",
        "audience": f"grant_type=password&client_id={client_id}&client_secret={secret}"
        "&username=someone&password=x",
    }[kind]
    prefix = "https://" if kind == "audience" else ""
    return f"""
local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  local value = {{}}
  for i = 1, 32 do
    local k = math.random(1, #chars)
    value[i] = chars:sub(k, k)
  end
  local body = "{fixed}&{kind}={prefix}" .. table.concat(value)
  return wrk.format("POST", "/oauth/token",
    {{["Content-Type"] = "application/x-www-form-urlencoded"}}, body)
end
delay = function()
  return {delay_ms}
end
"""


def probe(url: str, seconds: float) -> list[float]:
    """``GET /health`` answer times in milliseconds, one request every 5 ms."""
    times: list[float] = []
    with httpx.Client(base_url=url, timeout=10) as client:
        client.get("/health")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(PROBE_INTERVAL_S)
    return times


def describe(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms, "
        f"max {ordered[-1]:.1f} ms ({len(ordered)} probes)"
    )


@contextlib.contextmanager
def database(args: argparse.Namespace, data_dir: Path) -> Iterator[dict[str, str]]:
    """The server's environment: SQLite in ``data_dir``, or a fresh PostgreSQL schema."""
    env = {"PASSGATE_DATA_DIR": str(data_dir)}
    if args.postgres is None:
        yield env
        return
    schema = f"bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(args.postgres)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in args.postgres else "?"
    env["PASSGATE_DATABASE_URL"] = f"{args.postgres}{separator}options=-csearch_path%3D{schema}"
    env["PASSGATE_KEY_ENCRYPTION_KEY"] = secrets.token_urlsafe(32)
    try:
        yield env
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def realm_client(data_dir: Path) -> tuple[str, str]:
    """A confidential client that may use the password and password-realm grants."""
    engine = open_database(Settings(data_dir=data_dir))
    apps = Applications(engine, TenantStore(engine).digest_key())
    client, secret = apps.create_client(
        name="flood",
        app_type="regular_web",
        auth_method="client_secret_post",
        grant_types=["password", REALM_GRANT],
    )
    engine.dispose()
    assert secret is not None
    return client.client_id, secret


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["client_id", "realm", "audience"], default="client_id")
    parser.add_argument("--rate", type=float, default=1000.0, help="flood requests per second")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a schema is made and dropped)")
    args = parser.parse_args()
    print(f"passgate from {Path(passgate.__file__).parent}", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp, database(args, Path(tmp)) as env:
        os.environ.update(env)  # the set-up below writes where the server reads
        build(Path(tmp), users=1)
        client_id, secret = realm_client(Path(tmp))
        delay_ms = FLOOD_CONNECTIONS * 1000 / args.rate
        alone: list[float] = []
        flooded: list[float] = []
        floods: list[WrkResult] = []
        with serve(env, workers=1) as server:
            probe(server.url, 2)  # warm-up, not counted
            # Each request takes its delay plus its answer time: a rehearsal (not counted)
            # measures the second, and the delay is cut by it to come near the rate asked.
            rehearsal = wrk(
                server.url,
                flood_script(args.kind, client_id, secret, delay_ms),
                connections=FLOOD_CONNECTIONS,
                duration=3,
            )
            slack_ms = FLOOD_CONNECTIONS * 1000 / rehearsal.requests_per_s - delay_ms
            script = flood_script(args.kind, client_id, secret, max(0.0, delay_ms - slack_ms))
            for _ in range(args.rounds):
                alone += probe(server.url, args.duration)
                with ThreadPoolExecutor(1) as background:
                    flood = background.submit(
                        wrk,
                        server.url,
                        script,
                        connections=FLOOD_CONNECTIONS,
                        duration=args.duration + 2,
                    )
                    time.sleep(1)
                    flooded += probe(server.url, args.duration)
                    floods.append(flood.result())
        lost = threading.active_count() - 1
        assert lost == 0, f"{lost} threads left"

    database_name = "PostgreSQL" if args.postgres else "SQLite"
    rate = statistics.mean(result.requests_per_s for result in floods)
    refused = sum(result.non_2xx for result in floods)
    total = sum(result.requests for result in floods)
    print(f"{database_name}, 1 worker, random {args.kind}, {args.rounds} x {args.duration}s")
    print(f"/health alone:        {describe(alone)}")
    print(f"/health during flood: {describe(flooded)}")
    print(f"flood: {rate:.0f} req/s (asked {args.rate:.0f}), {refused} of {total} refused")


if __name__ == "__main__":
    main()
