"""Log streams: delivery throughput to a local receiver, and what an active stream costs
password logins (issue #18 targets: >= 5k events/s; < 3 % fewer logins).

    python bench/bench_log_stream.py [--events 50000] [--rounds 8] [--round-seconds 5]

Prints, all measured in this one run:
- delivery throughput: a backlog of ``--events`` events in the event log (SQLite in a
  temporary data directory; PostgreSQL too when ``PASSGATE_BENCH_DATABASE_URL`` is set),
  delivered by a real ``passgate serve`` to a receiver process on this machine, for each
  format (``JSONOBJECT``, one request per event, with a tenth of the events); events per
  second between the first request and the last;
- the login cost of an active stream: two ``passgate serve`` processes on two data
  directories with the same tenant, one with a stream to the receiver (each login's
  ``sepft`` event is delivered), one with none; wrk runs of successful password logins
  alternate between them (who goes first alternates too), and the ratio of their login
  rates and their CPU time per login are printed, per round and as medians.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from _harness import Server, free_port, lua_post, serve, server_cpu_seconds, wrk
from passgate.domain.events import Event
from passgate.management.log_streams import LogStreamsService, NewLogStream
from passgate.settings import Settings
from passgate.storage.event_log import EventLog
from passgate.storage.log_streams import LogStreams
from passgate.storage.setup import open_database
from passgate.support.key_encryption import KeyEncryptionKey, KeyEncryptionKeys
from setup_tenant import build

# -- the receiver ---------------------------------------------------------------------


def _receive(port: int, counters: Any) -> None:
    """Count events (JSON lines, array items or single objects) and note the times of the
    first and the last request."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if body.startswith(b"["):
                count = len(json.loads(body))
            elif body.endswith(b"\n"):
                count = body.count(b"\n")
            else:
                count = 1
            now = time.time()
            with counters.get_lock():
                if counters[0] == 0:
                    counters[1] = now
                counters[0] += count
                counters[2] = now
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/ingest"
        self.counters: Any = multiprocessing.Array("d", 3)
        self.process = multiprocessing.Process(
            target=_receive, args=(self.port, self.counters), daemon=True
        )
        self.process.start()
        time.sleep(0.5)

    def reset(self) -> None:
        with self.counters.get_lock():
            self.counters[0] = self.counters[1] = self.counters[2] = 0

    def received(self) -> tuple[int, float, float]:
        with self.counters.get_lock():
            return int(self.counters[0]), self.counters[1], self.counters[2]


# -- delivery throughput --------------------------------------------------------------

KEYS = KeyEncryptionKeys([KeyEncryptionKey.generate()], source="bench")


def _backlog(engine: sa.Engine, count: int) -> None:
    log = EventLog(engine)
    now = time.time()
    batch = []
    for n in range(count):
        batch.append(
            Event(
                type="sepft" if n % 3 else "fepft",
                date=now,
                ip=f"198.18.{n % 250}.{n % 199 + 1}",
                client_ip="10.0.0.7",
                client_id="bench-client-0123456789",
                client_name="bench",
                connection="Username-Password-Authentication",
                user_id=f"auth0|{n:024x}",
                user_name=f"user{n}@bench.local",
                user_agent="bench/1.0",
                audience="https://api.bench.local/",
                scope="openid read:bench",
                details={"prompts": [], "grant": "password"},
            )
        )
        if len(batch) == 1000:
            log.append(batch)
            batch = []
    if batch:
        log.append(batch)


def delivery_rate(
    receiver: Receiver, settings: Settings, env: dict[str, str], content_format: str, count: int
) -> tuple[float, int]:
    """Events per second delivered by ``passgate serve`` from a backlog of ``count``."""
    engine = open_database(settings)
    try:
        with engine.begin() as db:  # a clean slate for this format
            db.execute(sa.text("DELETE FROM log_streams"))
            db.execute(sa.text("DELETE FROM events"))
        service = LogStreamsService(LogStreams(engine), sealer=lambda: KEYS)
        body = {
            "type": "http",
            "name": content_format,
            "status": "paused",
            "sink": {"httpEndpoint": receiver.url, "httpContentFormat": content_format},
        }
        stream = service.create(NewLogStream.from_body(body))
        _backlog(engine, count)
        receiver.reset()
        service.set_status(stream["id"], "active")
    finally:
        engine.dispose()
    with serve(env, workers=1):
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            got, first, last = receiver.received()
            if got >= count:
                break
            time.sleep(0.05)
    got, first, last = receiver.received()
    return got / max(last - first, 1e-9), got


# -- login cost -------------------------------------------------------------------------


def login_round(server: Server, bodies: list[str], seconds: float) -> tuple[float, float, float]:
    """Successful logins per second, CPU ms per login, server CPU share of the cores."""
    cores = os.cpu_count() or 1
    used = server_cpu_seconds(server.process.pid)
    started = time.perf_counter()
    result = wrk(
        server.url,
        lua_post("/oauth/token", bodies, forwarded_random=True),
        connections=8,
        duration=seconds,
    )
    elapsed = time.perf_counter() - started
    cpu = server_cpu_seconds(server.process.pid) - used
    ok = max(result.requests - result.non_2xx, 1)
    rate = result.requests_per_s * ok / max(result.requests, 1)
    return rate, 1000 * cpu / ok, cpu / (elapsed * cores)


@contextmanager
def tenants(users: int) -> Iterator[tuple[Path, Path, list[str]]]:
    """Two data directories holding the same tenant (client, API, users)."""
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        tenant = build(Path(one), users=users)
        for name in ("passgate.db", "passgate.db-wal"):
            source = Path(one) / name
            if source.exists():
                (Path(two) / name).write_bytes(source.read_bytes())
        yield Path(one), Path(two), tenant.login_bodies()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--round-seconds", type=float, default=5.0)
    parser.add_argument("--skip-delivery", action="store_true")
    parser.add_argument("--skip-logins", action="store_true")
    args = parser.parse_args()
    receiver = Receiver()

    if not args.skip_delivery:
        print(f"delivery of a backlog of {args.events:,} events, batches of 500:")
        with tempfile.TemporaryDirectory() as tmp:
            targets = [("SQLite", Settings(data_dir=Path(tmp)), {"PASSGATE_DATA_DIR": tmp})]
            pg = os.environ.get("PASSGATE_BENCH_DATABASE_URL")
            if pg:
                key = KeyEncryptionKey.of(b"passgate bench key, not a secret").text()
                env = {
                    "PASSGATE_DATABASE_URL": pg,
                    "PASSGATE_KEY_ENCRYPTION_KEY": key,
                    "PASSGATE_DATA_DIR": tmp,
                }
                settings = Settings(database_url=SecretStr(pg), data_dir=Path(tmp))
                targets.append(("PostgreSQL", settings, env))
            for name, settings, env in targets:
                for content_format in ("JSONLINES", "JSONARRAY", "JSONOBJECT"):
                    count = args.events if content_format != "JSONOBJECT" else args.events // 10
                    rate, got = delivery_rate(receiver, settings, env, content_format, count)
                    print(
                        f"  {name:10} {content_format:10} {got:>7,} events  {rate:>9,.0f} "
                        f"events/s (target >= 5,000)"
                    )

    if not args.skip_logins:
        print(
            f"\nlogin cost of an active stream ({args.rounds} rounds of "
            f"{args.round_seconds:.0f} s each, wrk 8 connections, 1 worker each):"
        )
        with tenants(args.users) as (with_dir, without_dir, bodies):
            engine = open_database(Settings(data_dir=with_dir))
            LogStreamsService(LogStreams(engine), sealer=lambda: KEYS).create(
                NewLogStream.from_body(
                    {"type": "http", "name": "bench", "sink": {"httpEndpoint": receiver.url}}
                )
            )
            engine.dispose()
            with (
                serve({"PASSGATE_DATA_DIR": str(with_dir)}, workers=1) as streaming,
                serve({"PASSGATE_DATA_DIR": str(without_dir)}, workers=1) as plain,
            ):
                for server in (streaming, plain):  # warm-up, not counted
                    login_round(server, bodies, 3)
                receiver.reset()
                ratios, cpu_with, cpu_without = [], [], []
                contenders = [("stream", streaming), ("none", plain)]
                for number in range(args.rounds):
                    results: dict[str, tuple[float, float, float]] = {}
                    for name, server in contenders[:: 1 if number % 2 == 0 else -1]:
                        results[name] = login_round(server, bodies, args.round_seconds)
                    (rate_s, ms_s, share_s), (rate_n, ms_n, share_n) = (
                        results["stream"],
                        results["none"],
                    )
                    ratios.append(rate_s / rate_n)
                    cpu_with.append(ms_s)
                    cpu_without.append(ms_n)
                    print(
                        f"  round {number + 1}: with stream {rate_s:6.1f} logins/s "
                        f"({ms_s:5.2f} CPU ms/login, {share_s:4.0%} of cores); none "
                        f"{rate_n:6.1f} logins/s ({ms_n:5.2f} CPU ms/login, {share_n:4.0%}); "
                        f"ratio {rate_s / rate_n:.3f}"
                    )
                delivered, _, _ = receiver.received()
            median = statistics.median(ratios)
            print(
                f"  median ratio {median:.3f}: an active stream costs "
                f"{(1 - median) * 100:+.1f} % of login throughput (target < 3 %); "
                f"CPU per login {statistics.median(cpu_with):.2f} ms with, "
                f"{statistics.median(cpu_without):.2f} ms without; {delivered:,} events "
                f"delivered meanwhile"
            )


if __name__ == "__main__":
    main()
