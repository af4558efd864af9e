"""Breached password detection applies to an imported user's first login, as to any
login: the legacy hash is checked, and a password in the corpus is refused."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from passgate.management.user_imports import UserImporter
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.user_import import UserImports
from tests.breached.test_login_stage import LEAKED, World, assert_leaked, login, make_world
from tests.import_hashes import user_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(tmp_path: Path, sql_url: str, index: Path) -> Iterator[World]:
    world = make_world(tmp_path / "data", sql_url, breached_index=index)
    try:
        yield world
    finally:
        world.passgate.close()


@pytest.fixture
def index(tmp_path: Path) -> Path:
    from tests.breached.test_login_stage import build_index

    return build_index(tmp_path / "corpus", {LEAKED: 42})


def import_one(world: World, row: dict[str, object]) -> None:
    importer = UserImporter(
        directory=world.passgate.directory, writer=UserImports(world.passgate.engine)
    )
    summary = importer.run(
        io.BytesIO(json.dumps([row]).encode()),
        connection=importer.connection(DEFAULT_CONNECTION),
        upsert=False,
        dry_run=False,
        on_error=lambda error: pytest.fail(str(error)),
    )
    assert summary.inserted == 1


@pytest.mark.parametrize(
    "name", ["django-pbkdf2-sha256", "laravel-bcrypt-2y", "custom-sha1-utf16le"]
)
async def test_a_breached_imported_password_is_refused_at_the_first_login(
    world: World, name: str
) -> None:
    row = user_for(name, LEAKED)
    import_one(world, row)
    response = await login(world, str(row["email"]), LEAKED)
    assert_leaked(response)
    assert [event.type for event in world.events.events if event.type == "pwd_leak"]


async def test_a_safe_imported_password_logs_in(world: World) -> None:
    row = user_for("werkzeug-pbkdf2", "a private imported passphrase")
    import_one(world, row)
    response = await login(world, str(row["email"]), "a private imported passphrase")
    assert response.status_code == 200, response.text
