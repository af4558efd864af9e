"""``DriverSql``, the driver-level SQL of the login path, on every SQL backend."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from passgate.storage.db import DriverSql

_INSERT = "INSERT INTO once_marks (key, until) VALUES (:key, :until) RETURNING key"
_SELECT = "SELECT key, until FROM once_marks WHERE key = :key"


def test_a_write_in_one_thread_is_read_at_once_in_another(engine: sa.Engine) -> None:
    driver = DriverSql(engine)
    row, count = driver.run([(_INSERT, {"key": "a", "until": 1.0})])
    assert tuple(row) == ("a",)
    assert count == 1
    seen: list[Any] = []
    reader = threading.Thread(target=lambda: seen.extend(driver.rows(_SELECT, {"key": "a"})))
    reader.start()
    reader.join()
    assert [tuple(row) for row in seen] == [("a", 1.0)]
    # And through SQLAlchemy's own connections.
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT count(*) FROM once_marks")).scalar() == 1


def test_a_failing_statement_undoes_the_whole_run(engine: sa.Engine) -> None:
    driver = DriverSql(engine)
    with pytest.raises(driver.errors):
        driver.run(
            [
                (_INSERT, {"key": "b", "until": 1.0}),
                (_INSERT, {"key": "b", "until": 2.0}),  # duplicate primary key
            ]
        )
    assert driver.rows(_SELECT, {"key": "b"}) == []
    # The connection is usable afterwards, with no transaction left open.
    driver.run([(_INSERT, {"key": "b", "until": 3.0})])
    with pytest.raises(driver.errors):
        driver.run([(_INSERT, {"key": "b", "until": 4.0})])
    assert [tuple(row) for row in driver.rows(_SELECT, {"key": "b"})] == [("b", 3.0)]


def test_stop_after_rows_runs_no_further_statement(engine: sa.Engine) -> None:
    driver = DriverSql(engine)
    driver.run([(_INSERT, {"key": "c", "until": 1.0})])
    delete = "DELETE FROM once_marks WHERE key = :key"
    _, count = driver.run(
        [(delete, {"key": "c"}), (_INSERT, {"key": "d", "until": 1.0})], stop_after_rows=True
    )
    assert count == 1
    assert driver.rows(_SELECT, {"key": "d"}) == []
