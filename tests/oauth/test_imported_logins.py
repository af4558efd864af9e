"""Imported users log in with the passwords they had: each hash format passgate imports
is checked by its own algorithm at the first login, then replaced by passgate's argon2id
(on both SQL backends). Until then a wrong password counts like any failed login."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import pytest

from passgate.management.user_imports import JobError, UserImporter
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.user_import import UserImports
from passgate.testing import login_key
from tests.import_hashes import FORMATS, user_for
from tests.oauth.conftest import PEER_IP, World, assert_oauth_error

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"
OLD_PASSWORD = "Grüße from the old system 1"


def import_users(world: World, rows: list[dict[str, object]]) -> list[JobError]:
    directory = world.passgate.directory
    importer = UserImporter(directory=directory, writer=UserImports(world.passgate.engine))
    errors: list[JobError] = []
    summary = importer.run(
        io.BytesIO(json.dumps(rows).encode()),
        connection=importer.connection(DEFAULT_CONNECTION),
        upsert=False,
        dry_run=False,
        on_error=errors.append,
    )
    assert summary.inserted == len(rows) - len(errors)
    return errors


def login(world: World, username: str, password: str) -> dict[str, str]:
    return world.password_form(username=username, password=password)


def user_id(world: World, email: str) -> str:
    found = world.passgate.directory.find_by_email(DEFAULT_CONNECTION, email)
    assert found is not None
    return found.id


@pytest.mark.parametrize("name", sorted(FORMATS))
async def test_an_imported_user_logs_in_and_the_hash_becomes_argon2id(
    world: World, http: httpx.AsyncClient, name: str
) -> None:
    row = user_for(name, OLD_PASSWORD)
    assert import_users(world, [row]) == []
    email = str(row["email"])
    legacy = world.stored_hash(user_id(world, email))
    assert not legacy.startswith("$argon2id$v=19$m=1024,t=1,p=1$")  # passgate's own params

    response = await http.post(TOKEN, data=login(world, email, OLD_PASSWORD))
    assert response.status_code == 200, response.text
    upgraded = world.stored_hash(user_id(world, email))
    assert upgraded.startswith("$argon2id$")
    assert upgraded != legacy
    assert legacy not in upgraded
    assert not world.passgate.hasher.needs_rehash(upgraded)
    # The new hash is the password's: the next login checks it, natively.
    again = await http.post(TOKEN, data=login(world, email, OLD_PASSWORD))
    assert again.status_code == 200, again.text
    assert world.stored_hash(user_id(world, email)) == upgraded


@pytest.mark.parametrize("name", ["auth0-bcrypt", "django-pbkdf2-sha256", "custom-md5-suffix-hex"])
async def test_a_wrong_password_against_a_legacy_hash_counts_like_any_failure(
    world: World, http: httpx.AsyncClient, name: str
) -> None:
    row = user_for(name, OLD_PASSWORD)
    import_users(world, [row])
    email = str(row["email"])
    legacy = world.stored_hash(user_id(world, email))
    policy = world.passgate.policies.get_brute_force()
    key = login_key(world.passgate.directory, policy.mode, email, PEER_IP)

    for attempt in range(1, 4):
        response = await http.post(TOKEN, data=login(world, email, OLD_PASSWORD + "x"))
        assert_oauth_error(response, 403, "invalid_grant", "Wrong email or password.")
        assert world.passgate.counters.failures(key, now=world.clock()) == attempt
    assert world.stored_hash(user_id(world, email)) == legacy  # nothing upgraded
    failures = [event for event in world.events.events if event.type == "fepft"]
    assert len(failures) == 3
    # The right password still works, as for any account.
    response = await http.post(TOKEN, data=login(world, email, OLD_PASSWORD))
    assert response.status_code == 200, response.text


async def test_a_legacy_check_also_does_an_argon2_verification(
    world: World, http: httpx.AsyncClient, argon2_verifications: object
) -> None:
    """A legacy hash is never cheaper to check than passgate's own: the decoy is verified
    too, whatever the answer (uniform work with unknown users and native accounts)."""
    row = user_for("custom-sha256-prefix", OLD_PASSWORD)
    import_users(world, [row])
    counter = argon2_verifications
    before = counter.count  # type: ignore[attr-defined]
    response = await http.post(TOKEN, data=login(world, str(row["email"]), "wrong password"))
    assert response.status_code == 403
    assert counter.count == before + 1  # type: ignore[attr-defined]


async def test_a_user_imported_without_a_password_cannot_log_in(
    world: World, http: httpx.AsyncClient
) -> None:
    import_users(world, [{"email": "nopassword@import.example"}])
    for password in ("", "!", "anything"):
        response = await http.post(
            TOKEN, data=login(world, "nopassword@import.example", password or "x")
        )
        assert_oauth_error(response, 403, "invalid_grant", "Wrong email or password.")


async def test_an_imported_blocked_user_is_refused_even_with_the_right_password(
    world: World, http: httpx.AsyncClient
) -> None:
    row = user_for("auth0-bcrypt", OLD_PASSWORD, blocked=True)
    import_users(world, [row])
    response = await http.post(TOKEN, data=login(world, str(row["email"]), OLD_PASSWORD))
    assert_oauth_error(response, 401, "unauthorized")


async def test_concurrent_first_logins_all_succeed_and_leave_one_argon2id_hash(
    world: World, http: httpx.AsyncClient
) -> None:
    row = user_for("django-pbkdf2-sha256", OLD_PASSWORD)
    import_users(world, [row])
    email = str(row["email"])

    async def one() -> int:
        response = await http.post(TOKEN, data=login(world, email, OLD_PASSWORD))
        return response.status_code

    statuses = await asyncio.gather(*(one() for _ in range(6)))
    assert statuses == [200] * 6
    stored = world.stored_hash(user_id(world, email))
    assert stored.startswith("$argon2id$")
    assert world.passgate.hasher.verify(stored, OLD_PASSWORD)
    response = await http.post(TOKEN, data=login(world, email, OLD_PASSWORD))
    assert response.status_code == 200
