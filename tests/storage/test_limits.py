"""Column lengths, read from the schema: refusing a value, or cutting it with a marker."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from passgate.storage.applications import Applications, InvalidConfiguration
from passgate.storage.directory import Directory
from passgate.storage.limits import MARKER, ValueTooLong, check_length, max_length, shorten
from passgate.storage.schema import apis, events, users
from passgate.storage.tenant import TenantStore


def test_max_length_is_the_columns() -> None:
    assert max_length(users.c.email) == 320
    assert max_length(users.c.username_key) == 128
    assert max_length(events.c.details) is None  # TEXT
    assert max_length(events.c.date) is None  # not a string


def test_check_length_counts_characters_not_bytes() -> None:
    check_length(users.c.username, "é" * 128, field="username")
    with pytest.raises(ValueTooLong) as caught:
        check_length(users.c.username, "é" * 129, field="username")
    assert (caught.value.field, caught.value.limit, caught.value.folded) == ("username", 128, False)
    assert str(caught.value) == "username is too long (at most 128 characters)"
    check_length(users.c.username, None, field="username")


def test_a_folded_refusal_says_so() -> None:
    error = ValueTooLong("email", 320, folded=True)
    assert (
        error.message("--email") == "--email is too long (at most 320 characters once case-folded)"
    )
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("letter", ["a", "é", "ß"])
def test_shorten_cuts_to_the_length_and_ends_with_the_marker(letter: str) -> None:
    assert shorten(apis.c.name, letter * 256) == letter * 256
    cut = shorten(apis.c.name, letter * 10_000)
    assert cut == letter * 255 + MARKER
    assert cut is not None
    assert len(cut) == 256
    assert shorten(apis.c.name, None) is None
    assert shorten(events.c.scope, letter * 10_000) == letter * 10_000


def test_the_directory_refuses_what_does_not_fit_before_any_query(engine: sa.Engine) -> None:
    directory = Directory(engine)
    for email, username, name in (
        ("ß" * 155 + "@example.com", None, None),
        ("a@example.com", "ﬃ" * 43, None),
        ("a@example.com", None, "n" * 257),
    ):
        with pytest.raises(ValueTooLong):
            directory.create_user(
                connection="no such connection",
                email=email,
                username=username,
                name=name,
                password_hash="h",
            )
    assert directory.list_users() == []


def test_a_connection_name_must_fit(engine: sa.Engine) -> None:
    directory = Directory(engine)
    assert directory.ensure_connection("c" * 128).name == "c" * 128
    with pytest.raises(ValueTooLong, match="connection name is too long"):
        directory.ensure_connection("c" * 129)
    assert [c.name for c in directory.list_connections()] == ["c" * 128]


def test_applications_measure_names_and_identifiers(engine: sa.Engine) -> None:
    applications = Applications(engine, TenantStore(engine).digest_key())
    with pytest.raises(ValueTooLong, match="name is too long"):
        applications.create_client(
            name="ñ" * 257, app_type="spa", auth_method="none", grant_types=["password"]
        )
    with pytest.raises(InvalidConfiguration, match="name must not be empty"):
        applications.create_client(
            name=" ", app_type="spa", auth_method="none", grant_types=["password"]
        )
    with pytest.raises(ValueTooLong, match="identifier is too long"):
        applications.create_api(identifier="https://a.example/" + "x" * 600, scopes=[])
    long_identifier = "https://a.example/" + "x" * 500
    api = applications.create_api(identifier=long_identifier, scopes=[])
    assert api.name == long_identifier[:255] + MARKER
    assert applications.list_clients() == []
