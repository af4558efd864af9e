"""Signing keys at rest: sealed under a key-encryption key (AES-256-GCM), on every backend."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from passgate.app import Passgate
from passgate.domain.models import SigningKey
from passgate.keys.ring import KeyRing
from passgate.storage.db import make_engine
from passgate.storage.schema import signing_keys
from passgate.storage.tokens import SigningKeys
from passgate.support.key_encryption import (
    KEY_FILE_NAME,
    KeyEncryptionError,
    KeyEncryptionKey,
    KeyEncryptionKeys,
    create_key_file,
    load_key_file,
    load_keys,
    write_key_file,
)
from tests.support import cheap_settings

ISSUER = "https://issuer.test/"
KEY = "wOqT1tM7WkE3cZc9yQ4n2bHn5XW3f0V6a1sYpJr8kLg"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
NOW = 1_900_000_000.0


def keys_of(*keys: KeyEncryptionKey) -> KeyEncryptionKeys:
    return KeyEncryptionKeys(keys, source="PASSGATE_KEY_ENCRYPTION_KEY")


# -- sealing ----------------------------------------------------------------------------


def test_a_sealed_key_opens_with_its_key_and_kid_only() -> None:
    first, second = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    sealed = keys_of(first).seal('{"d": "secret"}', kid="kid-1")

    assert sealed.startswith("v1.")
    assert "secret" not in sealed
    assert keys_of(second, first).unseal(sealed, kek_id=first.id, kid="kid-1") == '{"d": "secret"}'
    with pytest.raises(KeyEncryptionError, match="does not open"):
        keys_of(first).unseal(sealed, kek_id=first.id, kid="kid-2")  # copied onto another row
    with pytest.raises(KeyEncryptionError, match="does not hold"):
        keys_of(second).unseal(sealed, kek_id=first.id, kid="kid-1")
    impostor = KeyEncryptionKey(id=first.id, secret=second.secret)  # the same id, another key
    with pytest.raises(KeyEncryptionError, match="does not open"):
        keys_of(impostor).unseal(sealed, kek_id=first.id, kid="kid-1")


@pytest.mark.parametrize(
    "damaged",
    [
        lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],
        lambda s: s[:10],
        lambda s: "v2." + s[3:],
        lambda s: s + "!",
        lambda s: "",
    ],
)
def test_a_damaged_sealed_key_is_refused_in_one_line(damaged: object) -> None:
    key = KeyEncryptionKey.generate()
    sealed = keys_of(key).seal("{}", kid="k")
    assert callable(damaged)
    with pytest.raises(KeyEncryptionError, match="damaged") as raised:
        keys_of(key).unseal(damaged(sealed), kek_id=key.id, kid="k")
    assert "\n" not in str(raised.value)
    assert key.text() not in str(raised.value)


def test_the_current_key_is_the_first_and_every_key_opens() -> None:
    old, new = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    keys = KeyEncryptionKeys.from_text(f" {new.text()} , {old.text()} ", source="x")
    assert keys.current == new
    assert keys.ids == (new.id, old.id)
    sealed_by_old = keys_of(old).seal("{}", kid="k")
    assert keys.unseal(sealed_by_old, kek_id=old.id, kid="k") == "{}"
    assert new.text() not in repr(keys.keys)  # a key's repr shows its id only


# -- the form of a key ----------------------------------------------------------------------


def _b64(data: bytes, *, standard: bool = False, padded: bool = False) -> str:
    text = (base64.b64encode if standard else base64.urlsafe_b64encode)(data).decode()
    return text if padded else text.rstrip("=")


SECRET = bytes(range(200, 232))  # has bytes that base64 writes with + / or - _


@pytest.mark.parametrize(
    "text",
    [
        _b64(SECRET),
        _b64(SECRET, padded=True),
        _b64(SECRET, standard=True),
        _b64(SECRET, standard=True, padded=True),
        f"  {_b64(SECRET)}\n",
        f"# the passgate key\n{_b64(SECRET)}\n\n",
        f"{_b64(SECRET)},",
    ],
)
def test_a_key_is_read_in_base64url_or_base64_padded_or_not(text: str) -> None:
    assert KeyEncryptionKeys.from_text(text, source="x").current.secret == SECRET


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "32 random bytes"),
        (" , ", "32 random bytes"),
        (_b64(SECRET[:31]), "this one is 31 bytes"),
        (_b64(SECRET + b"x"), "this one is 33 bytes"),
        (_b64(SECRET[:16]), "this one is 16 bytes"),
        (SECRET.hex(), "this one is 48 bytes"),  # hex is not the form
        (_b64(SECRET)[:-1] + "é", "32 random bytes"),
        (_b64(SECRET)[:20] + " " + _b64(SECRET)[20:], "32 random bytes"),
        (_b64(SECRET)[:-1] + "*", "32 random bytes"),
        (f"{_b64(SECRET)},{_b64(SECRET[:8])}", "(key 2)"),
    ],
)
def test_a_malformed_key_is_refused_naming_the_source_never_echoing_it(
    text: str, says: str
) -> None:
    with pytest.raises(KeyEncryptionError) as raised:
        KeyEncryptionKeys.from_text(text, source="PASSGATE_KEY_ENCRYPTION_KEY")
    message = str(raised.value)
    assert message.startswith("PASSGATE_KEY_ENCRYPTION_KEY")
    assert says in message
    assert "\n" not in message
    assert _b64(SECRET)[:12] not in message
    assert SECRET.hex()[:12] not in message


# -- the key file ----------------------------------------------------------------------


def test_the_key_file_is_made_0600_whatever_the_umask_and_never_replaced(
    tmp_path: Path,
) -> None:
    path = tmp_path / KEY_FILE_NAME
    previous = os.umask(0)
    try:
        made = create_key_file(path)
        again = create_key_file(path)  # a second process racing the first
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again.ids == made.ids
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE_NAME]  # no temporary left
    assert path.read_text() == made.current.text() + "\n"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o666, 0o601, 0o610, 0o700])
def test_a_key_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / KEY_FILE_NAME
    create_key_file(path)
    path.chmod(mode)
    if mode & 0o077 == 0:
        assert load_key_file(path) is not None  # 0700: the owner only
        return
    with pytest.raises(KeyEncryptionError) as raised:
        load_key_file(path)
    assert str(raised.value) == (
        f"key file {path} is open to group or others (mode {mode:04o}): run chmod 600 {path}"
    )


def test_an_unreadable_key_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.mkdir()
    with pytest.raises(KeyEncryptionError, match=f"cannot read key file {path}: Is a directory"):
        load_key_file(path)
    path.rmdir()
    path.write_bytes(b"\xff\xfe not text")
    path.chmod(0o600)
    with pytest.raises(KeyEncryptionError, match="not ASCII text"):
        load_key_file(path)


def test_write_key_file_replaces_it_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    old, new = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    write_key_file(path, [old])
    write_key_file(path, [new, old])
    loaded = load_key_file(path)
    assert loaded is not None
    assert loaded.ids == (new.id, old.id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE_NAME]


def test_a_key_file_is_made_only_for_the_embedded_default_before_anything_is_sealed(
    tmp_path: Path,
) -> None:
    path = tmp_path / KEY_FILE_NAME
    with pytest.raises(KeyEncryptionError) as raised:
        load_keys(None, path, sealed_with=set(), may_create=False)  # PostgreSQL
    assert str(raised.value).startswith("PASSGATE_KEY_ENCRYPTION_KEY is not set: with PostgreSQL")
    with pytest.raises(KeyEncryptionError) as raised:
        load_keys(None, path, sealed_with={"0123456789abcdef"}, may_create=True)
    assert "0123456789abcdef" in str(raised.value)
    assert str(path) in str(raised.value)
    assert not path.exists()  # a new key would open nothing that is stored

    made = load_keys(None, path, sealed_with=set(), may_create=True)
    assert load_keys(None, path, sealed_with={made.current.id}, may_create=False).ids == made.ids
    assert load_keys(KEY, path, sealed_with=set(), may_create=True).source == (
        "PASSGATE_KEY_ENCRYPTION_KEY"
    )
    with pytest.raises(KeyEncryptionError, match=r"^PASSGATE_KEY_ENCRYPTION_KEY: expected"):
        load_keys("", path, sealed_with=set(), may_create=True)  # empty is not unset


# -- the signing keys, on every backend -------------------------------------------------


def test_no_private_key_material_is_stored_in_the_clear(tmp_path: Path, sql_url: str) -> None:
    settings = cheap_settings(tmp_path, sql_url, issuer=ISSUER, key_encryption_key=SecretStr(KEY))
    passgate = Passgate(settings, buffered_events=False)
    try:
        private = [
            str(value)
            for key in passgate.keys.jwks()["keys"]
            for name, value in passgate.keys._imported[key["kid"]].as_dict(private=True).items()
            if name in PRIVATE_MEMBERS
        ]
        with passgate.engine.connect() as db:
            rows = db.execute(sa.text("SELECT * FROM signing_keys")).all()
    finally:
        passgate.close()
    stored = repr(rows)
    assert len(private) >= 2
    for value in private:
        assert value not in stored
    expected = KeyEncryptionKeys.from_text(KEY, source="x").current.id
    assert {row.kek_id for row in rows} == {expected}


@pytest.fixture
def store(sql_url: str) -> Iterator[SigningKeys]:
    engine = make_engine(sql_url)
    yield SigningKeys(engine)
    engine.dispose()


def plain_key() -> tuple[RSAKey, SigningKey]:
    """A key as the previous version stored it: the private JWK in plain JSON."""
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    private = dict(key.as_dict(private=True))
    private.pop("kid", None)
    record = SigningKey(
        kid=key.thumbprint(),
        alg="RS256",
        private_jwk=json.dumps(private),
        created_at=NOW,
        retired_at=None,
    )
    return key, record


def stored_rows(store: SigningKeys) -> dict[str, tuple[str, str | None]]:
    return {key.kid: (key.private_jwk, key.kek_id) for key in store.all()}


def test_plain_text_keys_are_sealed_at_start_and_what_they_signed_still_verifies(
    store: SigningKeys,
) -> None:
    old_key, record = plain_key()
    store.add(record, retire_others=False)
    sealer = keys_of(KeyEncryptionKey.generate())
    old_ring = KeyRing(store, sealer=sealer, clock=lambda: NOW)
    claims = {"iss": ISSUER, "aud": "https://api.test/", "exp": NOW + 60, "sub": "auth0|1"}
    token = old_ring.sign(claims)  # the plain-text key is the active one: it signs

    ring = KeyRing(store, sealer=sealer, clock=lambda: NOW)
    ring.ensure()

    rows = stored_rows(store)
    assert {kek_id for _, kek_id in rows.values()} == {sealer.current.id}
    private = str(old_key.as_dict(private=True)["d"])
    assert all(private not in text for text, _ in rows.values())
    assert ring.verify(token, audience="https://api.test/", issuer=ISSUER)["sub"] == "auth0|1"


def insert(store: SigningKeys, record: SigningKey) -> None:
    """Store ``record`` as it is, retired (beside the active keys)."""
    with store._engine.begin() as db:
        db.execute(
            signing_keys.insert().values(**{**dataclasses.asdict(record), "retired_at": NOW})
        )


def test_rewrap_seals_every_key_under_the_current_one_or_changes_nothing(
    store: SigningKeys,
) -> None:
    old, new, lost = (KeyEncryptionKey.generate() for _ in range(3))
    KeyRing(store, sealer=keys_of(old), clock=lambda: NOW).ensure()
    _, plain = plain_key()
    insert(store, plain)  # one left in the clear by the previous version
    before = stored_rows(store)

    # A key sealed under a key-encryption key nobody has any more: nothing changes.
    _, orphan = plain_key()
    orphan = dataclasses.replace(
        orphan, private_jwk=keys_of(lost).seal(orphan.private_jwk, kid=orphan.kid), kek_id=lost.id
    )
    insert(store, orphan)
    with pytest.raises(KeyEncryptionError, match=f"{orphan.kid}.*{lost.id}"):
        KeyRing(store, sealer=keys_of(new, old), clock=lambda: NOW).rewrap()
    assert {k: v for k, v in stored_rows(store).items() if k != orphan.kid} == before
    with store._engine.begin() as db:
        db.execute(signing_keys.delete().where(signing_keys.c.kid == orphan.kid))

    ring = KeyRing(store, sealer=keys_of(new, old), clock=lambda: NOW)
    assert ring.rewrap() == 3  # RS256, ES256 and the plain one
    assert {kek_id for _, kek_id in stored_rows(store).values()} == {new.id}
    assert ring.rewrap() == 0
    only_new = KeyRing(store, sealer=keys_of(new), clock=lambda: NOW)
    only_new.ensure()
    assert len(only_new.jwks()["keys"]) == 3
    with pytest.raises(KeyEncryptionError, match="does not hold"):
        KeyRing(store, sealer=keys_of(old), clock=lambda: NOW).ensure()


def test_rotate_with_a_key_that_opens_nothing_adds_nothing(store: SigningKeys) -> None:
    KeyRing(store, sealer=keys_of(KeyEncryptionKey.generate()), clock=lambda: NOW).ensure()
    before = stored_rows(store)
    wrong = KeyRing(store, sealer=keys_of(KeyEncryptionKey.generate()), clock=lambda: NOW)
    with pytest.raises(KeyEncryptionError, match="does not hold"):
        wrong.rotate()
    assert stored_rows(store) == before


def test_a_start_with_a_wrong_key_seals_nothing_beside_what_the_right_key_sealed(
    store: SigningKeys,
) -> None:
    right, wrong = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    KeyRing(store, sealer=keys_of(right), clock=lambda: NOW).ensure()
    _, plain = plain_key()
    insert(store, plain)  # written meanwhile by an instance of the previous version
    before = stored_rows(store)
    with pytest.raises(KeyEncryptionError, match="does not hold"):
        KeyRing(store, sealer=keys_of(wrong), clock=lambda: NOW).ensure()
    assert stored_rows(store) == before
    KeyRing(store, sealer=keys_of(right), clock=lambda: NOW).ensure()
    assert {kek_id for _, kek_id in stored_rows(store).values()} == {right.id}


def test_a_running_ring_keeps_its_keys_when_a_new_one_does_not_open(
    store: SigningKeys, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    running = KeyRing(store, sealer=keys_of(old), clock=lambda: NOW)
    running.ensure()
    published = running.jwks()
    # Another instance, already given only the new key, rotates.
    KeyRing(store, sealer=keys_of(new, old), clock=lambda: NOW + 1).rotate("RS256")
    monkeypatch.setattr("passgate.keys.ring._RELOAD_SECONDS", -1.0)  # reload on every call

    with caplog.at_level(logging.ERROR, logger="passgate.keys"):
        for _ in range(3):
            assert running.jwks() == published
            token = running.sign({"iss": ISSUER, "aud": "a", "exp": NOW + 60})
            assert running.verify(token, audience="a", issuer=ISSUER)["aud"] == "a"
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) == 1  # once, not every few seconds
    assert "signing keys not reloaded" in errors[0]
    assert new.id in errors[0]
    assert new.text() not in errors[0]
    assert old.text() not in errors[0]
