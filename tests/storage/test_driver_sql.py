"""``DriverSql``, the driver-level SQL of the login path, on every SQL backend."""

from __future__ import annotations

import os
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


def test_a_parameter_used_twice_binds_the_same_value_everywhere(engine: sa.Engine) -> None:
    # On SQLite the named parameters are sent by position: a name used twice, and names
    # given in another order than they appear, must still bind the right values.
    driver = DriverSql(engine)
    driver.run([(_INSERT, {"key": "e", "until": 5.0})])
    raise_to = (
        "UPDATE once_marks SET until = :until WHERE key = :key AND until < :until RETURNING until"
    )
    row, count = driver.run([(raise_to, {"until": 7.5, "key": "e"})])
    assert (tuple(row), count) == ((7.5,), 1)
    row, count = driver.run([(raise_to, {"key": "e", "until": 6.0})])
    assert (row, count) == (None, 0)
    both = "SELECT key FROM once_marks WHERE until = :until AND until >= :until AND key = :key"
    assert [tuple(r) for r in driver.rows(both, {"key": "e", "until": 7.5})] == [("e",)]
    assert driver.rows(both, {"key": "e", "until": 5.0}) == []


@pytest.mark.parametrize("shared", [True, False])
def test_threads_running_transactions_at_once_all_land(engine: sa.Engine, shared: bool) -> None:
    # On SQLite a shared connection is used by one thread at a time: without that, one
    # thread's BEGIN would land inside another's transaction and fail.
    driver = DriverSql(engine, shared=shared)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(25):
                key = f"w{worker}-{n}"
                driver.run(
                    [
                        (_INSERT, {"key": key, "until": 1.0}),
                        ("UPDATE once_marks SET until = 2.0 WHERE key = :key", {"key": key}),
                    ]
                )
                assert [tuple(row) for row in driver.rows(_SELECT, {"key": key})] == [(key, 2.0)]
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT count(*) FROM once_marks")).scalar() == 200


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_on_a_connection_of_its_own(engine: sa.Engine) -> None:
    driver = DriverSql(engine)
    driver.run([(_INSERT, {"key": "parent", "until": 1.0})])  # opens the parent's connection
    engine.dispose()  # the pool's connections are not the child's to use either
    pid = os.fork()
    if pid == 0:  # the child: report by exit status only
        code = 1
        try:
            driver.run([(_INSERT, {"key": "child", "until": 1.0})])
            code = 0 if len(driver.rows(_SELECT, {"key": "parent"})) == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection still works and sees the child's row.
    assert [tuple(row) for row in driver.rows(_SELECT, {"key": "child"})] == [("child", 1.0)]
