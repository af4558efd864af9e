"""The dashboard's aggregates (``storage/event_rollups``): every event counted exactly once,
whatever the batches, restarts, concurrent rollers and writers, and processes killed
mid-roll (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from passgate.domain.events import Event
from passgate.domain.rollups import DAY_HOURS, hour_of
from passgate.storage.db import make_engine
from passgate.storage.event_log import EventLog
from passgate.storage.event_rollups import EventRollups
from passgate.storage.schema import rollup_cursors

T0 = 1_800_000_000.0  # a whole hour: 500000 hours since the epoch
HOUR = hour_of(T0)
WRONG = {"error": {"error": "invalid_grant", "message": "Wrong email or password."}}


def failed(n: int, *, date: float = T0, ip: str | None = None, who: str | None = None) -> Event:
    return Event(
        "fepft",
        date=date,
        ip=ip or f"198.51.100.{n % 50}",
        user_name=who or f"user{n % 30}@example.com",
        details=WRONG,
    )


def totals(
    rollups: EventRollups, metric: str, first: int = HOUR - 48, last: int = HOUR + 48
) -> int:
    return sum(n for (_, name), n in rollups.hourly(first, last).items() if name == metric)


def test_events_are_counted_once_across_batches_and_calls(engine: sa.Engine) -> None:
    log = EventLog(engine)
    log.append([failed(n, date=T0 + n * 60) for n in range(120)])  # two hours
    log.append([Event("sepft", date=T0, ip="192.0.2.1", user_name="a"),
                Event("ss", date=T0, ip="192.0.2.2", user_name="b@example.com"),
                Event("sapi", date=T0)])  # fmt: skip
    rollups = EventRollups(engine, batch_size=7)
    first = rollups.roll(now=T0, max_batches=3)
    assert first.events == 21
    assert rollups.pending() == 102
    rest = rollups.roll(now=T0)
    assert rest.events == 102
    assert rest.hours == {HOUR, HOUR + 1}
    assert rollups.roll(now=T0).events == 0
    assert rollups.pending() == 0
    hourly = rollups.hourly(HOUR, HOUR + 1)
    assert hourly[HOUR, "failed_logins"] == 60
    assert hourly[HOUR + 1, "failed_logins"] == 60
    assert hourly[HOUR, "logins"] == 1
    assert hourly[HOUR, "signups"] == 1
    # 30 distinct accounts and 50 IPs in each hour, whatever the batch they came in
    assert hourly[HOUR, "failed_accounts"] == 30
    assert hourly[HOUR + 1, "failed_accounts"] == 30
    assert hourly[HOUR, "failed_ips"] == 50
    assert hourly[HOUR, "signup_ips"] == 1
    _, moved_at = rollups.cursor()
    assert moved_at == T0


def test_top_ips_and_accounts_by_hour_and_by_day(engine: sa.Engine) -> None:
    day = HOUR // DAY_HOURS * DAY_HOURS
    log = EventLog(engine)
    log.append(
        [failed(n, date=T0, ip="192.0.2.66", who="victim@example.com") for n in range(5)]
        + [failed(n, date=T0 + 3600, ip="192.0.2.66", who="Victim@Example.com") for n in range(4)]
        + [failed(n, date=T0, ip="192.0.2.7", who="other@example.com") for n in range(3)]
        + [Event("limit_wc", date=T0, ip="192.0.2.66", user_name="victim@example.com")]
        + [Event("ss", date=T0, ip="192.0.2.8", user_name=f"s{n}@example.com") for n in range(2)]
    )
    rollups = EventRollups(engine)
    rollups.roll(now=T0)
    ips = rollups.top("ip", width=1, first=HOUR, last=HOUR, limit=10)
    assert ips == [
        {"ip": "192.0.2.66", "failed_logins": 5, "signups": 0, "blocks": 1, "breached": 0,
         "total": 6},
        {"ip": "192.0.2.7", "failed_logins": 3, "signups": 0, "blocks": 0, "breached": 0,
         "total": 3},
        {"ip": "192.0.2.8", "failed_logins": 0, "signups": 2, "blocks": 0, "breached": 0,
         "total": 2},
    ]  # fmt: skip
    assert rollups.top("ip", width=1, first=HOUR, last=HOUR, limit=1)[0]["ip"] == "192.0.2.66"
    accounts = rollups.top("account", width=DAY_HOURS, first=day, last=day, limit=10)
    assert accounts[0] == {"account": "victim@example.com", "failed_logins": 9, "blocks": 1,
                           "breached": 0, "total": 10}  # fmt: skip
    assert [a["account"] for a in accounts] == ["victim@example.com", "other@example.com"]


def test_a_new_instance_continues_where_the_last_one_stopped(engine: sa.Engine) -> None:
    log = EventLog(engine)
    log.append([failed(n) for n in range(10)])
    EventRollups(engine).roll(now=T0)
    log.append([failed(n) for n in range(5)])
    assert EventRollups(engine).roll(now=T0).events == 5
    assert totals(EventRollups(engine), "failed_logins") == 15


def test_a_missing_cursor_row_is_made_again(engine: sa.Engine) -> None:
    EventLog(engine).append([failed(n) for n in range(3)])
    with engine.begin() as db:
        db.execute(rollup_cursors.delete())
    rollups = EventRollups(engine)
    assert rollups.roll(now=T0).events == 3
    assert rollups.pending() == 0


def test_concurrent_rollers_and_writers_count_every_event_once(engine: sa.Engine) -> None:
    """Four rollers (each its own instance, as workers are) roll while three writers
    append; each event is counted once, in the right hour."""
    log = EventLog(engine)
    written: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for batch in range(15):
                events = [failed(n, date=T0 + (worker * 15 + batch) * 97) for n in range(20)]
                log.append(events)
                with lock:
                    for event in events:
                        written[hour_of(event.date)] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def roll() -> None:
        rollups = EventRollups(engine, batch_size=37)
        try:
            while not stop.is_set():
                rollups.roll(now=T0, max_batches=3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    rollers = [threading.Thread(target=roll) for _ in range(4)]
    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in rollers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in rollers:
        thread.join()
    assert not errors, errors
    rollups = EventRollups(engine)
    rollups.roll(now=T0)
    hourly = rollups.hourly(HOUR - 1, HOUR + 10)
    counted = {hour: n for (hour, metric), n in hourly.items() if metric == "failed_logins"}
    assert counted == dict(written)
    assert sum(counted.values()) == 900
    assert rollups.pending() == 0


def test_purge_drops_old_hours_and_days(engine: sa.Engine) -> None:
    EventLog(engine).append([failed(1, date=T0 - 40 * 86400), failed(2, date=T0)])
    rollups = EventRollups(engine)
    rollups.roll(now=T0)
    assert totals(rollups, "failed_logins", HOUR - 41 * 24, HOUR) == 2
    assert rollups.purge(HOUR - 35 * 24) > 0
    assert totals(rollups, "failed_logins", HOUR - 41 * 24, HOUR) == 1
    old_day = hour_of(T0 - 40 * 86400) // 24 * 24
    assert rollups.top("ip", width=24, first=old_day, last=old_day, limit=5) == []
    assert rollups.top("ip", width=1, first=HOUR, last=HOUR, limit=5) != []


ROLLER = """
import sys
from passgate.storage.db import make_engine
from passgate.storage.event_rollups import EventRollups
rollups = EventRollups(make_engine(sys.argv[1]), batch_size=int(sys.argv[2]))
print("ready", flush=True)
while True:
    if rollups.roll(now=1.0, max_batches=1).events == 0:
        break
"""


@pytest.mark.slow
def test_rollers_killed_mid_roll_never_count_twice(sql_url: str) -> None:
    """Real processes roll and are killed with SIGKILL at random moments; the rollup that
    finishes the log counts each event exactly once."""
    db = make_engine(sql_url)
    log = EventLog(db)
    for chunk in range(20):
        log.append([failed(n, date=T0 + chunk) for n in range(500)])
    killed = 0
    for delay in (0.4, 0.7, 1.0, 0.5):
        child = subprocess.Popen(
            [sys.executable, "-c", ROLLER, sql_url, "100"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            killed += 1
        child.wait()
        assert child.stdout.read() == ""
        child.stdout.close()
    assert killed >= 1
    rollups = EventRollups(db)
    rollups.roll(now=T0)
    assert totals(rollups, "failed_logins") == 10_000
    assert rollups.pending() == 0
    db.dispose()
