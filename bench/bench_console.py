"""Server time of each admin console page on a database with many events.

Builds N events (default 200,000) over 30 days with ``bench_log_search``'s mix (types,
users, IPs, attackers, 25 clients, one of them a real client here), blocks a few accounts
and throttles a few IPs for real, then logs in as an administrator and requests each page
in process (the ASGI app, no network), timing each request from the first byte sent to
the last byte received: the server's time. Prints p50 and p95 per page.

    python bench/bench_console.py                       # SQLite, in a temporary directory
    python bench/bench_console.py --events 1000000 --runs 30
    python bench/bench_console.py --database-url postgresql://postgres@127.0.0.1:5432/test

The Dashboard is measured as whatever ``/admin`` serves at the time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from bench_log_search import World, build_postgresql, build_sqlite, database, rows
from passgate.app import Passgate, create_app
from passgate.domain.admins import ADMIN
from passgate.domain.login import LoginAttempt, RequestContext
from passgate.settings import Settings
from passgate.storage.admins import AdminStore
from passgate.storage.db import make_engine, migrate
from passgate.support.key_encryption import KeyEncryptionKey

EMAIL = "bench-admin@example.com"
PASSWORD = "the bench administrator's passphrase"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered), p95


def _attack(passgate: Passgate) -> None:
    """A few blocked accounts and throttled IPs, through the real guard."""
    guard = passgate.guard
    for n in range(5):
        ip = f"198.51.100.{n + 1}"
        for _ in range(10):
            context = RequestContext(ip=ip, client_ip=ip)
            attempt = LoginAttempt(
                identifier=f"victim{n}@example.com",
                connection="Username-Password-Authentication",
                context=context,
            )
            ticket = guard.admit(attempt)
            guard.failed(ticket, user_id=None)


async def _measure(app: object, pages: dict[str, str], runs: int) -> None:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://bench.test") as http:
        login = await http.get("/admin/login")
        token = re.search(r'name="login_token" value="([^"]+)"', login.text)
        assert token is not None
        answer = await http.post(
            "/admin/login",
            data={"email": EMAIL, "password": PASSWORD, "login_token": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        print(f"{'page':<44} {'p50 ms':>9} {'p95 ms':>9}  status")
        for name, path in pages.items():
            samples: list[float] = []
            status = 0
            for _ in range(runs):
                started = time.perf_counter()
                page = await http.get(path)
                samples.append((time.perf_counter() - started) * 1000)
                status = page.status_code
            p50, p95 = _percentiles(samples)
            print(f"{name:<44} {p50:>9.1f} {p95:>9.1f}  {status}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    with database(args.database_url) as url, tempfile.TemporaryDirectory() as folder:
        engine = make_engine(url)
        migrate(engine)
        settings = Settings(
            data_dir=Path(folder),
            database_url=SecretStr(url),
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            issuer="https://bench.test/",
            key_encryption_key=SecretStr(KeyEncryptionKey.generate().text()),
        )
        passgate = Passgate(settings, engine=engine, buffered_events=False)
        try:
            client, _ = passgate.applications.create_client(
                name="Bench shop",
                app_type="regular_web",
                auth_method="client_secret_post",
                grant_types=["password"],
                trusted=True,
            )
            world = World(random.Random(7))
            world.clients[0] = (client.client_id, client.name)
            start = time.time() - 30 * 86_400
            began = time.perf_counter()
            source = rows(world, args.events, start)
            if url.startswith("sqlite"):
                engine.dispose()
                build_sqlite(url.removeprefix("sqlite:///"), source)
            else:
                build_postgresql(url, source)
            took = time.perf_counter() - began
            print(f"built {args.events:,} events in {took:.0f} s ({url.split(':')[0]})")
            AdminStore(engine, passgate.tenant.digest_key()).create(
                email=EMAIL,
                role=ADMIN,
                password_hash=passgate.hasher.hash(PASSWORD),
                now=time.time(),
            )
            _attack(passgate)
            newest = passgate.management.logs.newest(None, 1)[0].log_id
            user = world.users[0][1]
            pages = {
                "dashboard /admin": "/admin",
                "logs (newest 50)": "/admin/logs",
                "logs type=fepft": "/admin/logs?type=fepft",
                "logs ip (an attacker)": "/admin/logs?ip=203.0.113.1",
                "logs user": "/admin/logs?user=" + quote(user),
                "logs q type AND date range": "/admin/logs?q="
                + quote("type:sepft AND date:[2020-01-01 TO *]"),
                "logs page 100": "/admin/logs?page=100",
                "log event page": "/admin/logs/" + newest,
                "logs tail (poll)": "/admin/logs/tail?q=&after=" + newest,
                "blocks": "/admin/blocks",
                "blocks search": "/admin/blocks?q=victim1",
                "attack protection": "/admin/attack-protection",
                "applications": "/admin/applications",
                "application (forwarding health)": "/admin/applications/" + client.client_id,
                "users": "/admin/users",
                "apis": "/admin/apis",
                "signing keys": "/admin/keys",
                "settings check": "/admin/settings-check",
            }
            asyncio.run(_measure(create_app(passgate), pages, args.runs))
        finally:
            passgate.close()


if __name__ == "__main__":
    main()
