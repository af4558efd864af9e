"""A username has no ``@`` in any form, so a login identifier names at most one account.

With identifiers compared in their NFKC form, a username spelled with a fullwidth or small
commercial at (``U+FF20``, ``U+FE6B``) would have the same lookup key as another user's
email, and a login by that email could resolve to either account.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from passgate.domain.identifiers import is_valid_username
from passgate.storage.directory import DEFAULT_CONNECTION, Directory, InvalidIdentifier

LOOK_ALIKES = ["victim\uff20example.com", "victim\ufe6bexample.com", "a\u00a0b", "x\x85y", ""]


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_a_username_that_is_or_becomes_an_email_or_has_spaces_is_refused(name: str) -> None:
    assert not is_valid_username(name)


@pytest.mark.parametrize("name", ["alice", "Ünïcödé", "jesse.ross", "a+b_c-d"])
def test_ordinary_usernames_are_taken(name: str) -> None:
    assert is_valid_username(name)


@pytest.mark.parametrize("name", LOOK_ALIKES[:2])
def test_the_store_refuses_a_username_that_becomes_an_email(engine: sa.Engine, name: str) -> None:
    directory = Directory(engine)
    directory.ensure_connection(DEFAULT_CONNECTION)
    with pytest.raises(InvalidIdentifier):
        directory.create_user(
            connection=DEFAULT_CONNECTION, email="a@example.com", username=name, password_hash="h"
        )
    assert directory.list_users() == []


def test_an_identifier_with_at_names_the_emails_owner_only(engine: sa.Engine) -> None:
    directory = Directory(engine)
    conn = directory.ensure_connection(DEFAULT_CONNECTION)
    victim = directory.create_user(
        connection=DEFAULT_CONNECTION, email="victim@example.com", password_hash="h1"
    )
    # A username stored before the rule (raw key): never the answer for an email.
    with engine.begin() as db:
        db.execute(
            sa.text(
                "UPDATE users SET username = 'x', username_key = 'victim@example.com' "
                "WHERE id = :id"
            ),
            {
                "id": directory.create_user(
                    connection=DEFAULT_CONNECTION, email="other@example.com", password_hash="h2"
                ).id
            },
        )
    for _ in range(3):
        found = directory.find_for_login(conn.id, "VICTIM\uff20example.com")
        assert found is not None
        assert found[0].id == victim.id
