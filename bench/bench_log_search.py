"""Benchmark of the log search behind ``GET /api/v2/logs`` on a million events.

Builds N events (default 1,000,000) over 30 days in a migrated database: a realistic mix
of event types, ~20,000 users (a few very active), ~40,000 IPs (a few attackers with many
failures), 25 clients. Then, through the service the HTTP routes call
(:class:`passgate.management.logs.LogService`), times searches by type, IP, user id,
client id and date range (newest first, 50 a page; also with ``include_totals``, as
Auth0's Python SDK always asks) and prints p50/p95. Last, it pages by checkpoint (``from``
+ ``take=100``) through every match of a search while other processes write new events,
and checks that it read every match once, in the order they were written.

    python bench/bench_log_search.py                    # SQLite, in a temporary directory
    python bench/bench_log_search.py --database-url postgresql://postgres@127.0.0.1:5432/test
    python bench/bench_log_search.py --events 100000 --runs 50

On PostgreSQL it works in a schema of its own (dropped at the end) and runs VACUUM ANALYZE
after the build, as autovacuum would; SQLite gets no ANALYZE (passgate never runs one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sqlalchemy as sa

from passgate.domain.events import DESCRIPTIONS, new_log_id
from passgate.management.logs import LogService
from passgate.storage.db import make_engine, migrate
from passgate.storage.event_search import EventSearch
from passgate.storage.schema import events

DAYS = 30
COLUMNS = (
    "log_id", "date", "type", "description", "ip", "client_ip", "client_id", "client_name",
    "connection", "user_id", "user_name", "user_agent", "audience", "scope", "details",
)  # fmt: skip
TYPES = {  # share of all events
    "sepft": 0.52, "fepft": 0.22, "seccft": 0.08, "sertft": 0.07, "fertft": 0.01,
    "ss": 0.03, "fs": 0.005, "scp": 0.01, "fcp": 0.002, "scpr": 0.01, "limit_wc": 0.01,
    "limit_mu": 0.004, "limit_sul": 0.002, "pwd_leak": 0.003, "ublkdu": 0.002, "feccft": 0.005,
    "srrt": 0.02, "ferrt": 0.001, "signup_pwd_leak": 0.001, "reset_pwd_leak": 0.001,
}  # fmt: skip
AGENTS = [
    f"Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0 Safari/537.36"
    for os in ("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 14_4", "X11; Linux")
    for v in range(118, 126)
] + ["okhttp/4.12.0", "python-requests/2.32.3", "node-fetch/3.3", "curl/8.7.1"]
CHECKPOINT_QUERY = "type:fepft"
#: A safety stop: readers that never pause keep SQLite from restarting its WAL.
MAX_WAL_BYTES = 4 * 2**30
WRITERS = 2

#: Each writer adds this many events, in batches of 1 to 100 every 50 to 150 ms (about
#: what a busy instance's event sink writes), unless told to stop first.
WRITER_EVENTS = 10_000
WRITER = """
import os, random, sys, time
from passgate.domain.events import Event
from passgate.storage.db import make_engine
from passgate.storage.event_log import EventLog

url, stop, tag, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(tag)
log = EventLog(make_engine(url))
written = 0
while written < budget and not os.path.exists(stop):
    batch = [
        Event(rng.choice(["fepft", "sepft", "sepft", "seccft"]),
              ip=f"198.18.0.{rng.randint(1, 254)}", user_id=f"auth0|new{rng.randint(0, 99)}",
              details={"writer": tag})
        for _ in range(min(rng.randint(1, 100), budget - written))
    ]
    log.append(batch)
    written += len(batch)
    time.sleep(0.05 + rng.random() * 0.1)
print(written, flush=True)
"""


class World:
    """The values the events draw from, and the ones the searches pick."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.users = [
            (f"auth0|{secrets.token_hex(12)}", f"user{n}@example.com") for n in range(20_000)
        ]
        self.ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                    f"{rng.randint(1, 254)}" for _ in range(36_000)]  # fmt: skip
        self.ips += [f"2001:db8:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
                     for _ in range(4_000)]  # fmt: skip
        self.attackers = [f"203.0.113.{n}" for n in range(1, 11)]
        self.clients = [(secrets.token_urlsafe(24), f"App {n}") for n in range(25)]
        self.types = list(TYPES)
        self.weights = list(TYPES.values())

    def user(self) -> tuple[str, str]:
        # A few users log in very often, most rarely (a Pareto-like spread).
        index = min(int(self.rng.paretovariate(1.2)) - 1, len(self.users) - 1)
        return self.users[index if self.rng.random() < 0.3 else self.rng.randrange(len(self.users))]

    def row(self, date: float) -> tuple[Any, ...]:
        rng = self.rng
        kind = rng.choices(self.types, self.weights)[0]
        attack = kind in ("fepft", "limit_wc", "limit_mu") and rng.random() < 0.3
        ip = rng.choice(self.attackers) if attack else rng.choice(self.ips)
        client_id, client_name = rng.choice(self.clients)
        user_id, user_name = self.user()
        machine = kind in ("seccft", "feccft")
        details = '{"error":"Wrong email or password."}' if kind.startswith("f") else "{}"
        return (
            new_log_id(date), date, kind, DESCRIPTIONS.get(kind, kind), ip,
            "10.0.0.2" if rng.random() < 0.5 else ip, client_id, client_name,
            None if machine else "Username-Password-Authentication",
            None if machine else user_id, None if machine else user_name,
            rng.choice(AGENTS), "https://api.example.com/", "openid profile", details,
        )  # fmt: skip


def rows(world: World, count: int, start: float) -> Iterator[tuple[Any, ...]]:
    """``count`` events over :data:`DAYS` days from ``start``, in time order (with jitter)."""
    step = DAYS * 86_400 / count
    for n in range(count):
        yield world.row(start + n * step + world.rng.random() * step)


def build_sqlite(path: str, source: Iterator[tuple[Any, ...]]) -> None:
    insert = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB: the indexes take random inserts
    chunk: list[tuple[Any, ...]] = []
    for row in source:
        chunk.append(row)
        if len(chunk) == 100_000:
            db.execute("BEGIN")
            db.executemany(insert, chunk)
            db.execute("COMMIT")
            chunk.clear()
    db.execute("BEGIN")
    db.executemany(insert, chunk)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def wal_bytes(engine: sa.Engine) -> int:
    """The size of a SQLite database's write-ahead log (0 elsewhere)."""
    if engine.dialect.name != "sqlite":
        return 0
    wal = Path(f"{engine.url.database}-wal")
    return wal.stat().st_size if wal.exists() else 0


def build_postgresql(url: str, source: Iterator[tuple[Any, ...]]) -> None:
    with psycopg.connect(url, autocommit=False) as db:
        with (
            db.cursor() as cursor,
            cursor.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in source:
                copy.write_row(row)
        db.commit()
        db.autocommit = True
        db.execute("VACUUM ANALYZE events")


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a schema of its own on ``url``."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="passgate-bench-") as folder:
            yield f"sqlite:///{folder}/events.db"
        return
    schema = f"bench_logs_{os.getpid()}"
    admin = make_engine(url)
    with admin.begin() as db:
        db.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as db:
            db.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    """p50 and p95 of ``call``, in milliseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=20)
    return statistics.median(samples), cuts[18]


def searches(world: World, start: float) -> dict[str, Callable[[], list[tuple[str, str]]]]:
    """Each kind of search, with a value drawn afresh on every run."""
    rng = world.rng

    def window(hours: float) -> str:
        begin = start + rng.random() * (DAYS * 86_400 - hours * 3600)
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(begin))
        end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(begin + hours * 3600))
        return f"date:[{iso} TO {end}}}"

    return {
        "type (common)": lambda: [("q", f"type:{rng.choice(['sepft', 'fepft', 'seccft'])}")],
        "type (rare)": lambda: [("q", f"type:{rng.choice(['limit_wc', 'pwd_leak', 'fcp'])}")],
        "ip": lambda: [("q", f'ip:"{rng.choice(world.ips)}"')],
        "ip (attacker)": lambda: [("q", f"ip:{rng.choice(world.attackers)}")],
        "user_id": lambda: [("q", f'user_id:"{world.user()[0]}"')],
        "client_id": lambda: [("q", f'client_id:"{rng.choice(world.clients)[0]}"')],
        "date range (1 h)": lambda: [("q", window(1))],
        "date range (1 day)": lambda: [("q", window(24))],
        "type AND date (1 day)": lambda: [("q", f"type:fepft AND {window(24)}")],
        "no query": list,
    }


def measure(logs: LogService, world: World, start: float, runs: int) -> None:
    print(f"{'search (through LogService)':<24} {'p50 ms':>8} {'p95 ms':>8}"
          f" {'+totals p50':>12} {'+totals p95':>12}")  # fmt: skip
    for name, params in searches(world, start).items():
        for _ in range(3):  # warm up
            logs.list_logs(params())
        plain = timed(lambda params=params: logs.list_logs(params()), runs)
        totals = timed(
            lambda params=params: logs.list_logs([*params(), ("include_totals", "true")]),
            runs,
        )
        print(f"{name:<24} {plain[0]:8.2f} {plain[1]:8.2f} {totals[0]:12.2f} {totals[1]:12.2f}")
    user = timed(lambda: logs.list_user_logs(world.user()[0], []), runs)
    print(f"{'users/{id}/logs':<24} {user[0]:8.2f} {user[1]:8.2f}")
    window = searches(world, start)["date range (1 day)"]
    sample = [item["log_id"] for _ in range(20) for item in logs.list_logs(window())]
    one = timed(lambda: logs.get_log(world.rng.choice(sample)), runs)
    print(f"{'logs/{id}':<24} {one[0]:8.2f} {one[1]:8.2f}")
    rng = world.rng
    for name, query in (
        ("from + take=100", lambda: []),
        ("  + q=type (common)", lambda: [("q", "type:sepft")]),
        ("  + q=type (rare)", lambda: [("q", "type:limit_wc")]),
        ("  + q=user_id", lambda: [("q", f'user_id:"{world.user()[0]}"')]),
    ):
        pages = timed(
            lambda query=query: logs.list_logs(
                [("from", rng.choice(sample)), ("take", "100"), *query()]
            ),
            runs,
        )
        print(f"{name:<24} {pages[0]:8.2f} {pages[1]:8.2f}")


def checkpoint_pass(url: str, logs: LogService, engine: sa.Engine) -> None:
    """Page through every match of :data:`CHECKPOINT_QUERY` while writers add events,
    until the writers are done and the pages have caught up with them."""
    stop = Path(tempfile.gettempdir()) / f"passgate-bench-stop-{os.getpid()}"
    stop.unlink(missing_ok=True)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(stop), f"w{n}", str(WRITER_EVENTS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    seen: list[str] = []
    checkpoint, pages, during, started = "", 0, 0, time.perf_counter()
    largest_wal, reading = 0, 0.0
    try:
        while True:
            writing = any(writer.poll() is None for writer in writers)
            asked = time.perf_counter()
            page = logs.list_logs([("from", checkpoint), ("take", "100"), ("q", CHECKPOINT_QUERY)])
            reading += time.perf_counter() - asked
            pages += 1
            during += writing
            seen += [item["log_id"] for item in page]
            checkpoint = seen[-1] if seen else checkpoint
            if not writing and len(page) < 100:
                break
            largest_wal = max(largest_wal, wal_bytes(engine))
            if largest_wal > MAX_WAL_BYTES:
                sys.exit(f"the SQLite WAL passed {MAX_WAL_BYTES:,} bytes: stopped")
            if len(page) < 100:
                time.sleep(0.05)  # caught up: wait for the writers' next batches
    finally:
        stop.touch()  # stops the writers early if the pass failed
        written = sum(int(writer.communicate(timeout=120)[0] or 0) for writer in writers)
        stop.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    with engine.connect() as db:
        expected = list(
            db.execute(
                sa.select(events.c.log_id).where(events.c.type == "fepft").order_by(events.c.seq)
            ).scalars()
        )
    repeats = len(seen) - len(set(seen))
    missing = len(set(expected) - set(seen))
    verdict = "OK" if seen == expected else "FAILED"
    print(
        f"checkpoint paging through {CHECKPOINT_QUERY!r}: {len(seen):,} events in {pages:,} "
        f"pages in {elapsed:.1f} s ({reading / pages * 1000:.2f} ms a page); {during:,} pages "
        f"read while {WRITERS} processes wrote {written:,} events"
        f"{f' (WAL at most {largest_wal / 2**20:,.0f} MiB)' if largest_wal else ''}; "
        f"missing {missing}, repeated {repeats}, order {'kept' if seen == expected else 'WRONG'}"
        f": {verdict}"
    )
    if seen != expected:
        sys.exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200, help="timed searches of each kind")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    world = World(random.Random(args.seed))
    start = time.time() - DAYS * 86_400
    with database(args.database_url) as url:
        engine = make_engine(url)
        migrate(engine)
        backend = engine.dialect.name
        print(f"{backend}: building {args.events:,} events over {DAYS} days …", flush=True)
        began = time.perf_counter()
        source = rows(world, args.events, start)
        if backend == "sqlite":
            build_sqlite(str(engine.url.database), source)
        else:
            build_postgresql(url.replace("postgresql+psycopg://", "postgresql://"), source)
        took = time.perf_counter() - began
        print(f"built in {took:.0f} s ({args.events / took:,.0f} events/s, indexes included)")
        logs = LogService(search=EventSearch(engine))
        measure(logs, world, start, args.runs)
        checkpoint_pass(url, logs, engine)
        engine.dispose()


if __name__ == "__main__":
    main()
