"""A statement the database refuses shows none of its values, on every SQL backend.

Not SQLAlchemy's ``[parameters: …]``, not PostgreSQL's ``DETAIL: Key (…)=(…)`` or
``Failing row contains (…)``: the traceback of a failing write is logged, and its values
can be a password hash or a token digest.
"""

from __future__ import annotations

import traceback

import pytest
import sqlalchemy as sa

from passgate.storage.db import DriverSql
from passgate.storage.schema import tenant_settings

KEY = "secret-key-7f3a9c"
VALUE = '"a-secret-value-0b41e2"'


def full_text(error: BaseException) -> str:
    """What a logged traceback of ``error`` shows: the whole chain."""
    return "".join(traceback.format_exception(error))


def test_sqlalchemy_errors_hide_the_parameters(engine: sa.Engine) -> None:
    row = {"key": KEY, "value": VALUE}
    with engine.begin() as db:
        db.execute(tenant_settings.insert().values(**row))
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as db:
        db.execute(tenant_settings.insert().values(**row))
    text = full_text(caught.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in text
    assert KEY not in text
    assert VALUE not in text


def test_driver_errors_show_no_values(engine: sa.Engine) -> None:
    driver = DriverSql(engine)
    insert = "INSERT INTO tenant_settings (key, value) VALUES (:key, :value)"
    driver.run([(insert, {"key": KEY, "value": VALUE})])
    with pytest.raises(driver.errors) as caught:
        driver.run([(insert, {"key": KEY, "value": VALUE})])
    text = full_text(caught.value)
    assert KEY not in text
    assert VALUE not in text


@pytest.mark.postgres
def test_postgresql_keeps_the_detail_for_code_that_asks(pg_url: str) -> None:
    from passgate.storage.db import make_engine

    engine = make_engine(pg_url)
    try:
        with engine.begin() as db:
            db.execute(tenant_settings.delete().where(tenant_settings.c.key == KEY))
            db.execute(tenant_settings.insert().values(key=KEY, value=VALUE))
        with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as db:
            db.execute(tenant_settings.insert().values(key=KEY, value=VALUE))
        orig = caught.value.orig
        assert str(orig) == 'duplicate key value violates unique constraint "pk_tenant_settings"'
        assert KEY in orig.diag.message_detail  # type: ignore[union-attr]
        assert orig.diag.constraint_name == "pk_tenant_settings"  # type: ignore[union-attr]
    finally:
        with engine.begin() as db:
            db.execute(tenant_settings.delete().where(tenant_settings.c.key == KEY))
        engine.dispose()
