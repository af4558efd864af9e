"""Benchmark of the attack dashboard behind ``GET /api/v2/passgate/dashboard`` (and the admin
console's Dashboard page) on a million events.

Builds N events (default 1,000,000) over the 30 days up to now in a migrated database:
about 85 % ordinary traffic (logins of ~50,000 users from ~40,000 IPs, their mistakes,
sign-ups, refreshes, machine tokens) and about 15 % attacks from many IPs: credential
stuffing waves (wrong passwords for many mostly unknown accounts from ~3,000 IPs, with the
IP throttles and blocks they set off), sign-up bursts from ~500 IPs, breached passwords.
Then it rolls the log up into the hourly aggregates as the servers do (timed: events per
second), and times :meth:`passgate.management.dashboard.Dashboard.report` (what the
endpoint's handler runs) for each window, printing p50/p95 in milliseconds; the target is
300 ms.

    python bench/bench_dashboard.py                    # SQLite, in a temporary directory
    python bench/bench_dashboard.py --database-url postgresql://postgres@127.0.0.1:5432/test
    python bench/bench_dashboard.py --events 100000 --runs 20

On PostgreSQL it works in a schema of its own (dropped at the end) and runs VACUUM ANALYZE
after the build and the rollup, as autovacuum would.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import psycopg
import sqlalchemy as sa

from passgate.domain.events import DESCRIPTIONS, new_log_id
from passgate.domain.security_alerts import AlertPolicy
from passgate.management.dashboard import Dashboard
from passgate.storage.db import make_engine, migrate
from passgate.storage.event_rollups import EventRollups
from passgate.storage.security_alerts import AlertClaims

DAYS = 30
TARGET_MS = 300.0
COLUMNS = (
    "log_id", "date", "type", "description", "ip", "client_ip", "client_id", "client_name",
    "connection", "user_id", "user_name", "user_agent", "audience", "scope", "details",
)  # fmt: skip
WRONG = '{"error":{"error":"invalid_grant","message":"Wrong email or password."}}'
REFUSED = '{"error":{"error":"too_many_attempts","message":"blocked"}}'
ORDINARY = {  # share of the ordinary traffic
    "sepft": 0.70, "fepft": 0.07, "sertft": 0.10, "seccft": 0.06, "ss": 0.03, "fs": 0.005,
    "scp": 0.01, "limit_wc": 0.003, "pwd_leak": 0.002, "ublkdu": 0.002, "scpr": 0.018,
}  # fmt: skip


class World:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.users = [(f"auth0|{n:012x}", f"user{n}@example.com") for n in range(50_000)]
        self.ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                    f"{rng.randint(1, 254)}" for _ in range(40_000)]  # fmt: skip
        self.stuffers = [f"198.18.{n // 250}.{n % 250 + 1}" for n in range(3_000)]
        self.signup_bots = [f"198.19.{n // 250}.{n % 250 + 1}" for n in range(500)]
        self.kinds = list(ORDINARY)
        self.weights = list(ORDINARY.values())

    def event(self, date: float, kind: str, ip: str, user: tuple[str | None, str | None],
              details: str = "{}") -> tuple[Any, ...]:  # fmt: skip
        user_id, user_name = user
        return (
            new_log_id(date), date, kind, DESCRIPTIONS.get(kind, kind), ip, "10.0.0.2",
            "app-client", "Shop", "Username-Password-Authentication", user_id, user_name,
            "Mozilla/5.0", "https://api.example.com/", "openid", details,
        )  # fmt: skip

    def ordinary(self, date: float) -> tuple[Any, ...]:
        rng = self.rng
        kind = rng.choices(self.kinds, self.weights)[0]
        user = self.users[min(int(rng.paretovariate(1.1)) - 1, len(self.users) - 1)
                          if rng.random() < 0.3 else rng.randrange(len(self.users))]  # fmt: skip
        details = WRONG if kind == "fepft" else "{}"
        return self.event(date, kind, rng.choice(self.ips), user, details)

    def attack(self, date: float) -> tuple[Any, ...]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.80:  # credential stuffing: one try per leaked identifier, many IPs
            ip = rng.choice(self.stuffers)
            name = f"leaked{rng.randrange(400_000)}@mail.example"
            if rng.random() < 0.05:
                return self.event(date, "limit_mu", ip, (None, name))
            if rng.random() < 0.10:
                return self.event(date, "fepft", ip, (None, name), REFUSED)
            return self.event(date, "fepft", ip, (None, name), WRONG)
        if roll < 0.95:  # sign-up bursts
            ip = rng.choice(self.signup_bots)
            kind = "ss" if rng.random() < 0.8 else rng.choice(["fs", "signup_pwd_leak"])
            return self.event(date, kind, ip, (None, f"bot{rng.randrange(10**9)}@spam.example"))
        user = rng.choice(self.users)  # breached passwords and the blocks of guessed accounts
        ip = rng.choice(self.stuffers)
        return self.event(date, rng.choice(["pwd_leak", "limit_wc"]), ip, user)


def rows(world: World, count: int, start: float, attack_share: float) -> Iterator[tuple[Any, ...]]:
    """``count`` events over :data:`DAYS` days from ``start`` in time order; the attacks
    come in waves (a few hours a day carry most of them)."""
    rng = world.rng
    step = DAYS * 86_400 / count
    wave_hours = set(rng.sample(range(DAYS * 24), DAYS * 3))
    for n in range(count):
        date = start + n * step + rng.random() * step
        hour = int((date - start) // 3600)
        chance = attack_share * (4.0 if hour in wave_hours else 0.6)
        yield world.attack(date) if rng.random() < chance else world.ordinary(date)


def build_sqlite(path: str, source: Iterator[tuple[Any, ...]]) -> None:
    insert = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size = -262144")
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


def build_postgresql(url: str, source: Iterator[tuple[Any, ...]]) -> None:
    with psycopg.connect(url, autocommit=False) as db:
        with (
            db.cursor() as cursor,
            cursor.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in source:
                copy.write_row(row)
        db.commit()


def vacuum(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh database: a SQLite file, or a schema of its own on ``url``."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="passgate-bench-") as folder:
            yield f"sqlite:///{folder}/events.db"
        return
    schema = f"bench_dashboard_{os.getpid()}"
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--attack-share", type=float, default=0.15)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    now = time.time()
    start = now - DAYS * 86_400
    with database(args.database_url) as url:
        engine = make_engine(url)
        migrate(engine)
        world = World(random.Random(7))
        began = time.perf_counter()
        source = rows(world, args.events, start, args.attack_share)
        if engine.dialect.name == "sqlite":
            assert engine.url.database is not None
            build_sqlite(engine.url.database, source)
        else:
            build_postgresql(url, source)
        with engine.connect() as db:
            total = db.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
            attacks = db.execute(
                sa.text("SELECT count(*) FROM events WHERE ip LIKE '198.1_.%'")
            ).scalar_one()
        print(f"{engine.dialect.name}: {total:,} events ({attacks / total:.1%} from attack IPs) "
              f"written in {time.perf_counter() - began:.1f} s")  # fmt: skip
        rollups = EventRollups(engine)
        began = time.perf_counter()
        while rollups.roll(now=now, max_batches=50).events:
            pass
        took = time.perf_counter() - began
        print(f"rollup: {total:,} events in {took:.1f} s ({total / took:,.0f} events/s)")
        if engine.dialect.name == "postgresql":
            vacuum(url)
        with engine.connect() as db:
            sizes = {
                table: db.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("rollup_hourly", "rollup_ips", "rollup_accounts")
            }
        print("aggregates: " + ", ".join(f"{name} {rows:,} rows" for name, rows in sizes.items()))
        dashboard = Dashboard(
            rollups=rollups, claims=AlertClaims(engine), policy=AlertPolicy, clock=time.time
        )
        print(f"{'window':<8} {'p50 ms':>8} {'p95 ms':>8}   (target {TARGET_MS:.0f} ms)")
        worst = 0.0
        for window in ("24h", "7d", "30d"):
            for _ in range(3):  # warm up
                report = dashboard.report(window)
            p50, p95 = timed(lambda window=window: dashboard.report(window), args.runs)
            worst = max(worst, p95)
            threats = [t["kind"] for t in report["threats"] if t["detected"]]
            print(f"{window:<8} {p50:8.1f} {p95:8.1f}   threats detected: {', '.join(threats)}; "
                  f"failed logins {report['totals']['failed_logins']:,}")  # fmt: skip
        print("OK: within the target" if worst <= TARGET_MS else "OVER the target")
        engine.dispose()


if __name__ == "__main__":
    main()
