"""Checkpoint paging while other processes write events: reading on from the last position
seen finds every matching event once, in the order the writes committed (SQLite and
PostgreSQL, whose writers number their rows before they commit)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from passgate.domain.events import Event
from passgate.domain.log_query_parser import parse_query
from passgate.storage.event_log import EventLog, write_lock_sql
from passgate.storage.event_search import EventSearch
from passgate.storage.schema import events

pytestmark = pytest.mark.slow

WRITERS = 3
BATCHES = 60

# Each writer appends batches of 1 to 150 events (one transaction each), types mixed, with
# short pauses between, then prints how many it wrote.
WRITER = """
import random, sys, time
from passgate.domain.events import Event
from passgate.storage.db import make_engine
from passgate.storage.event_log import EventLog

url, tag, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(tag)
log = EventLog(make_engine(url))
written = 0
for batch in range(batches):
    size = rng.randint(1, 150)
    log.append([
        Event(rng.choice(["fepft", "sepft", "limit_wc"]), date=1.8e9 + rng.random(),
              log_id=f"{tag}-{batch}-{index}")
        for index in range(size)
    ])
    written += size
    time.sleep(rng.random() * 0.003)
print(written, flush=True)
"""


def test_checkpoint_paging_misses_and_repeats_nothing_while_others_write(
    sql_url: str, engine: sa.Engine
) -> None:
    search = EventSearch(engine)
    where = parse_query("type:fepft OR type:limit_wc")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, sql_url, f"w{n}", str(BATCHES)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    seen: list[str] = []
    position = 0
    reads = 0
    try:
        while any(writer.poll() is None for writer in writers):
            found, position = search.after(position, where, limit=37)
            seen.extend(event.log_id for event in found)
            reads += 1
            time.sleep(0.001)
        for writer in writers:
            assert writer.wait(timeout=120) == 0
        while True:
            found, position = search.after(position, where, limit=37)
            if not found:
                break
            seen.extend(event.log_id for event in found)
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
            if writer.stdout is not None:
                writer.stdout.close()
    statement = (
        sa.select(events.c.log_id)
        .where(events.c.type.in_(["fepft", "limit_wc"]))
        .order_by(events.c.seq)
    )
    with engine.connect() as db:
        expected = list(db.execute(statement).scalars())
    assert reads > 20  # the reads went on while the writers wrote
    assert len(set(seen)) == len(seen), "an event was read twice"
    assert seen == expected


def test_a_write_waits_for_the_write_before_it_to_commit(engine: sa.Engine) -> None:
    """A write that numbered its rows but has not committed holds back the writes after
    it, so no reader sees a later number first and reads on past the earlier one."""
    search = EventSearch(engine)
    second = threading.Thread(
        target=EventLog(engine).append, args=([Event("fepft", log_id="second")],)
    )
    with engine.connect() as first:
        transaction = first.begin()
        lock = write_lock_sql(engine.dialect)  # as an event write opens
        if lock is not None:
            first.exec_driver_sql(lock)
        first.execute(events.insert().values(log_id="first", date=1.0, type="s", details="{}"))
        second.start()
        time.sleep(0.5)
        assert second.is_alive()
        assert search.after(0, None, limit=10) == ([], 0)
        transaction.commit()
    second.join(timeout=30)
    found, _ = search.after(0, None, limit=10)
    assert [event.log_id for event in found] == ["first", "second"]
