"""Contract tests of the core SQL stores, run on every SQL backend (``sql_url``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from passgate.domain.events import Event
from passgate.domain.models import SigningKey
from passgate.errors import InvalidClient, StorageError
from passgate.oauth.client_auth import ClientAuthenticator
from passgate.oauth.request import BasicCredentials
from passgate.storage.applications import Applications, InvalidConfiguration
from passgate.storage.directory import (
    DEFAULT_CONNECTION,
    Directory,
    DuplicateUser,
    UnknownConnection,
)
from passgate.storage.event_log import BufferedEventSink, EventLog
from passgate.storage.schema import tenant_settings
from passgate.storage.settings_store import BRUTE_FORCE_KEY, SettingsStore
from passgate.storage.tenant import TenantStore
from passgate.storage.tokens import SigningKeys
from passgate.support.crypto import constant_time_equal

NOW = 1_800_000_000.0
KEY = b"k" * 32


@pytest.fixture
def directory(engine: sa.Engine) -> Directory:
    directory = Directory(engine)
    directory.ensure_connection(DEFAULT_CONNECTION)
    return directory


@pytest.fixture
def applications(engine: sa.Engine) -> Applications:
    return Applications(engine, KEY)


# -- Directory --------------------------------------------------------------------------


def test_ensure_connection_is_idempotent(directory: Directory) -> None:
    first = directory.ensure_connection("Partners")
    assert directory.ensure_connection("Partners") == first
    assert {c.name for c in directory.list_connections()} == {DEFAULT_CONNECTION, "Partners"}


def test_create_user_in_an_unknown_connection(directory: Directory) -> None:
    with pytest.raises(UnknownConnection):
        directory.create_user(connection="nope", email="a@example.com", password_hash="h")


def test_duplicate_email_or_username_is_refused(directory: Directory) -> None:
    directory.create_user(
        connection=DEFAULT_CONNECTION, email="Ann@Example.com", username="Ann", password_hash="h"
    )
    with pytest.raises(DuplicateUser):
        directory.create_user(
            connection=DEFAULT_CONNECTION, email="ann@example.COM", password_hash="h"
        )
    with pytest.raises(DuplicateUser):
        directory.create_user(
            connection=DEFAULT_CONNECTION,
            email="other@example.com",
            username="ANN",
            password_hash="h",
        )
    # The same email in another connection is another user.
    directory.ensure_connection("Partners")
    directory.create_user(connection="Partners", email="ann@example.com", password_hash="h")
    assert len(directory.list_users()) == 2


def test_lookup_by_email_or_username_ignores_case(directory: Directory) -> None:
    user = directory.create_user(
        connection=DEFAULT_CONNECTION,
        email="Ann@Example.com",
        username="AnnB",
        password_hash="the-hash",
        now=NOW,
    )
    connection_id = user.connection_id
    for identifier in ("ann@example.com", "ANN@EXAMPLE.COM", "annb", "ANNB"):
        found = directory.find_for_login(connection_id, identifier)
        assert found is not None, identifier
        assert found == (user, "the-hash")
    assert directory.find_for_login(connection_id, "ann") is None
    assert directory.find_by_email(DEFAULT_CONNECTION, "ANN@example.com") == user
    assert directory.find_user("ann@EXAMPLE.com") == user
    assert directory.find_user(user.id) == user
    assert user.email == "Ann@Example.com"  # stored as given
    assert (user.created_at, user.updated_at, user.password_changed_at) == (NOW, NOW, NOW)


def test_user_records_never_carry_the_hash(directory: Directory) -> None:
    user = directory.create_user(
        connection=DEFAULT_CONNECTION, email="a@example.com", password_hash="secret-hash"
    )
    assert "secret-hash" not in repr(user)
    assert "secret-hash" not in repr(directory.list_users())


def test_set_password_clears_password_leaked(directory: Directory) -> None:
    user = directory.create_user(
        connection=DEFAULT_CONNECTION, email="a@example.com", password_hash="old", now=NOW
    )
    assert directory.mark_password_leaked(user.id)
    leaked = directory.get_user(user.id)
    assert leaked is not None
    assert leaked.password_leaked
    assert directory.set_password(user.id, "new", now=NOW + 5)
    after = directory.get_user(user.id)
    assert after is not None
    assert not after.password_leaked
    assert after.password_changed_at == NOW + 5
    assert directory.find_for_login(user.connection_id, "a@example.com") == (after, "new")
    assert not directory.set_password("auth0|nobody", "x")


def test_replace_hash_only_replaces_the_expected_hash(directory: Directory) -> None:
    user = directory.create_user(
        connection=DEFAULT_CONNECTION, email="a@example.com", password_hash="v1"
    )
    assert not directory.replace_hash(user.id, "not-v1", "v2")
    assert directory.replace_hash(user.id, "v1", "v2")
    found = directory.find_for_login(user.connection_id, "a@example.com")
    assert found is not None
    assert found[1] == "v2"


def test_block_and_unblock(directory: Directory) -> None:
    user = directory.create_user(
        connection=DEFAULT_CONNECTION, email="a@example.com", password_hash="h"
    )
    assert directory.set_blocked(user.id, True)
    blocked = directory.get_user(user.id)
    assert blocked is not None
    assert blocked.blocked
    assert directory.set_blocked(user.id, False)
    unblocked = directory.get_user(user.id)
    assert unblocked is not None
    assert not unblocked.blocked


# -- Applications -----------------------------------------------------------------------


def test_client_secret_is_stored_as_a_digest(applications: Applications) -> None:
    client, secret = applications.create_client(
        name="App",
        app_type="regular_web",
        auth_method="client_secret_post",
        grant_types=["password"],
    )
    assert secret is not None
    assert client.secret_digest is not None
    assert client.secret_digest != secret
    assert secret not in client.secret_digest
    assert applications.secret_digest(secret) == client.secret_digest
    assert applications.get_client(client.client_id) == client
    assert secret not in repr(client)


def test_public_client_has_no_secret(applications: Applications) -> None:
    client, secret = applications.create_client(
        name="SPA", app_type="spa", auth_method="none", grant_types=["password"]
    )
    assert secret is None
    assert client.secret_digest is None
    assert not client.is_confidential
    with pytest.raises(InvalidConfiguration):
        applications.rotate_secret(client.client_id)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth_method": "none", "trusted": True},
        {"auth_method": "none", "grant_types": ["client_credentials"]},
        {"auth_method": "private_key_jwt"},
        {"grant_types": ["authorization_code"]},
        {"grant_types": []},
        {"app_type": "desktop"},
        {"name": " "},
    ],
)
def test_client_validation(applications: Applications, kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {
        "name": "App",
        "app_type": "regular_web",
        "auth_method": "client_secret_post",
        "grant_types": ["password"],
    }
    values.update(kwargs)
    with pytest.raises(InvalidConfiguration):
        applications.create_client(**values)  # type: ignore[arg-type]
    assert applications.list_clients() == []


def test_trust_cannot_be_given_to_a_public_client(applications: Applications) -> None:
    public, _ = applications.create_client(
        name="SPA", app_type="spa", auth_method="none", grant_types=["password"]
    )
    with pytest.raises(InvalidConfiguration):
        applications.set_ip_header_trusted(public.client_id, True)
    confidential, _ = applications.create_client(
        name="Web",
        app_type="regular_web",
        auth_method="client_secret_basic",
        grant_types=["password"],
    )
    assert applications.set_ip_header_trusted(
        confidential.client_id, True
    ).is_token_endpoint_ip_header_trusted


def test_rotate_secret_invalidates_the_old_one(applications: Applications) -> None:
    client, old = applications.create_client(
        name="App",
        app_type="regular_web",
        auth_method="client_secret_basic",
        grant_types=["password"],
    )
    assert old is not None
    new = applications.rotate_secret(client.client_id)
    assert new != old
    authenticator = ClientAuthenticator(applications.secret_digest)
    record = applications.get_client(client.client_id)
    presented = authenticator.presented({}, BasicCredentials(client.client_id, new))
    assert authenticator.authenticate(presented, record).with_secret
    presented = authenticator.presented({}, BasicCredentials(client.client_id, old))
    with pytest.raises(InvalidClient):
        authenticator.authenticate(presented, record)
    rotated = applications.get_client(client.client_id)
    assert rotated is not None
    assert rotated.secret_digest is not None
    assert constant_time_equal(rotated.secret_digest, applications.secret_digest(new))


def test_apis(applications: Applications) -> None:
    api = applications.create_api(
        identifier="https://api.example/",
        scopes=["read", "write", "read"],
        allow_offline_access=True,
        signing_alg="ES256",
        token_lifetime=600,
    )
    assert api.scopes == ("read", "write")
    assert applications.api_by_identifier("https://api.example/") == api
    assert applications.api_by_identifier("https://other.example/") is None
    assert applications.max_token_lifetime() == 600
    with pytest.raises(InvalidConfiguration):
        applications.create_api(identifier="https://api.example/", scopes=[])
    for bad in (
        {"identifier": "not-a-url", "scopes": []},
        {"identifier": "https://b.example/", "scopes": ["openid"]},
        {"identifier": "https://b.example/", "scopes": ["has space"]},
        {"identifier": "https://b.example/", "scopes": [], "signing_alg": "HS256"},
        {"identifier": "https://b.example/", "scopes": [], "token_lifetime": 10},
    ):
        with pytest.raises(InvalidConfiguration):
            applications.create_api(**bad)
    assert applications.list_apis() == [api]


# -- SigningKeys ------------------------------------------------------------------------


def _key(kid: str, alg: str = "RS256", created: float = NOW) -> SigningKey:
    return SigningKey(kid=kid, alg=alg, private_jwk="{}", created_at=created, retired_at=None)


def test_signing_keys(engine: sa.Engine) -> None:
    keys = SigningKeys(engine)
    keys.add(_key("a"), retire_others=False)
    keys.add(_key("b", created=NOW + 1), retire_others=False)  # a first key exists: no-op
    keys.add(_key("e", alg="ES256"), retire_others=False)
    assert [(k.kid, k.retired_at) for k in keys.all()] == [("a", None), ("e", None)]
    keys.add(_key("c", created=NOW + 10), retire_others=True)
    by_kid = {k.kid: k for k in keys.all()}
    assert by_kid["a"].retired_at == NOW + 10
    assert by_kid["c"].retired_at is None
    assert by_kid["e"].retired_at is None  # other algorithms are not retired
    assert keys.delete_retired_before(NOW + 10) == 0
    assert keys.delete_retired_before(NOW + 11) == 1
    assert {k.kid for k in keys.all()} == {"c", "e"}
    assert "{}" not in repr(keys.all()[0])  # the private key is never in a repr


# -- EventLog ---------------------------------------------------------------------------


def test_event_log_is_newest_first(engine: sa.Engine) -> None:
    log = EventLog(engine)
    for index, kind in enumerate(["sepft", "fepft", "seccft", "fepft"]):
        log.emit(Event(type=kind, date=NOW + index, user_name=f"user{index}"))
    recent = log.recent()
    assert [event.user_name for event in recent] == ["user3", "user2", "user1", "user0"]
    assert [e.user_name for e in log.recent(types=["fepft"])] == ["user3", "user1"]
    assert len(log.recent(limit=2)) == 2


def test_event_log_keeps_every_field(engine: sa.Engine) -> None:
    log = EventLog(engine)
    event = Event(
        type="fepft",
        date=NOW,
        ip="203.0.113.9",
        client_ip="10.0.0.1",
        client_id="c1",
        client_name="App",
        connection=DEFAULT_CONNECTION,
        user_id="auth0|1",
        user_name="ann",
        user_agent="ua",
        audience="https://api.example/",
        scope="openid",
        details={"error": {"error": "invalid_grant", "message": "Wrong email or password."}},
    )
    log.append([event])
    assert log.get(event.log_id) == event
    assert log.get("nope") is None
    assert event.description == "Failed exchange of password for access token"


def test_buffered_sink_writes_everything_by_close(engine: sa.Engine) -> None:
    log = EventLog(engine)
    sink = BufferedEventSink(log, interval=0.01)
    for index in range(50):
        sink.emit(Event(type="sepft", date=NOW + index))
    sink.close()
    assert len(log.recent(limit=100)) == 50


def test_one_event_that_cannot_be_stored_costs_only_itself(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    log = EventLog(engine)
    stored = Event(type="sepft", date=NOW)
    log.append([stored])
    # A repeated log_id (unique) is refused; the rest of its batch is still written.
    batch = [Event(type="fepft", date=NOW + 1), stored, Event(type="sertft", date=NOW + 2)]
    log.append(batch)
    assert [event.type for event in log.recent(limit=10)] == ["sertft", "fepft", "sepft"]
    assert "could not store a sepft event" in caplog.text


# -- TenantStore ------------------------------------------------------------------------


def test_tenant_settings(engine: sa.Engine) -> None:
    tenant = TenantStore(engine)
    assert tenant.get("issuer") is None
    assert tenant.get("issuer", "x") == "x"
    tenant.set("issuer", "https://a.example/")
    tenant.set("issuer", "https://b.example/")
    assert tenant.get("issuer") == "https://b.example/"
    assert tenant.set_default("issuer", "https://c.example/") == "https://b.example/"
    assert tenant.set_default("policy", {"max": 3}) == {"max": 3}
    assert tenant.get("policy") == {"max": 3}


def test_tenant_settings_and_policies_share_one_store(engine: sa.Engine) -> None:
    """One table, one store: what SettingsStore writes TenantStore reads, and back."""
    tenant, policies = TenantStore(engine), SettingsStore(engine)
    policies.set_json("admin_emails", ["sec@example.com"])
    assert tenant.get("admin_emails") == ["sec@example.com"]
    tenant.set(BRUTE_FORCE_KEY, {"max_attempts": 4})
    assert SettingsStore(engine).get_brute_force().max_attempts == 4
    assert tenant.text(BRUTE_FORCE_KEY) == '{"max_attempts":4}'


def test_a_corrupt_or_unreadable_tenant_setting_is_a_storage_error(
    engine: sa.Engine, tmp_path: Path
) -> None:
    with engine.begin() as connection:
        connection.execute(tenant_settings.insert().values(key="issuer", value="{"))
    with pytest.raises(StorageError, match="'issuer' is not valid JSON"):
        TenantStore(engine).get("issuer")
    broken = sa.create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    try:
        for call in (
            lambda: TenantStore(broken).get("issuer"),
            lambda: TenantStore(broken).set("issuer", "x"),
            lambda: TenantStore(broken).digest_key(),
        ):
            with pytest.raises(StorageError, match="tenant setting"):
                call()
    finally:
        broken.dispose()


def test_digest_key_is_stable_across_instances(engine: sa.Engine, sql_url: str) -> None:
    from passgate.storage.db import make_engine

    first = TenantStore(engine).digest_key()
    assert len(first) == 32
    other = make_engine(sql_url)
    try:
        assert TenantStore(other).digest_key() == first
    finally:
        other.dispose()
    assert TenantStore(engine).digest_key() == first
