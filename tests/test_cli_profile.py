"""``passgate users show/list --json`` carry the profile given at sign-up (SQLite and
PostgreSQL): ``given_name``, ``family_name``, ``nickname``, ``picture`` and
``user_metadata`` beside the fields they had, ``null`` / ``{}`` when not given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support import Cli
from tests.test_accounts import CONTEXT, make_harness

PROFILE = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "name": "Ada Lovelace",
    "nickname": "ada",
    "picture": "https://pics.example.com/ada.png",
}
METADATA = {"plan": "silver", "team_id": "a111"}
PROFILE_FIELDS = {"given_name", "family_name", "nickname", "picture", "user_metadata"}


@pytest.fixture
def cli(sql_url: str, tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data", env={"PASSGATE_DATABASE_URL": sql_url})


def sign_up(engine: sa.Engine, email: str, **fields: Any) -> str:
    h = make_harness(engine)
    result = h.accounts.signup(h.signup_fields(email=email, **fields), CONTEXT)
    return result.user.id


def test_users_list_and_show_carry_the_profile(cli: Cli, engine: sa.Engine) -> None:
    with_profile = sign_up(engine, "ada@example.com", **PROFILE, user_metadata=METADATA)
    without = sign_up(engine, "bob@example.com")
    listed = {user["user_id"]: user for user in cli.json("users", "list")}
    shown = {user_id: cli.json("users", "show", user_id) for user_id in listed}
    assert listed == shown
    ada, bob = listed[with_profile], listed[without]
    assert set(ada) >= PROFILE_FIELDS
    assert {name: ada[name] for name in PROFILE} == PROFILE
    assert ada["user_metadata"] == METADATA
    assert {name: bob[name] for name in PROFILE_FIELDS} == {
        "given_name": None,
        "family_name": None,
        "nickname": None,
        "picture": None,
        "user_metadata": {},
    }
    assert bob["name"] is None


def test_users_show_finds_by_email_and_refuses_an_unknown_user(cli: Cli, engine: sa.Engine) -> None:
    user_id = sign_up(engine, "ada@example.com", **PROFILE)
    assert cli.json("users", "show", "ADA@example.com")["user_id"] == user_id
    assert "no user with id or email" in cli.fails("users", "show", "nobody@example.com")
    readable = cli.run("users", "show", user_id)
    assert readable.exit_code == 0, readable.output
    assert "ada@example.com" in readable.stdout


def test_users_show_escapes_what_a_terminal_would_obey(cli: Cli, engine: sa.Engine) -> None:
    user_id = sign_up(
        engine,
        "ada@example.com",
        name="Ada\x1b[2J\x1b]0;owned\x07",
        nickname="a\u202eda",
        user_metadata={"note": "line\nbreak"},
    )
    readable = cli.run("users", "show", user_id)
    assert readable.exit_code == 0, readable.output
    for raw in ("\x1b", "\x07", "\u202e", "line\nbreak"):
        assert raw not in readable.stdout
    assert "Ada\\x1b[2J" in readable.stdout
    assert cli.json("users", "show", user_id)["name"] == "Ada\x1b[2J\x1b]0;owned\x07"
