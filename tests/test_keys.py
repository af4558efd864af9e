"""``KeyRing``: tokens it signs verify with other JOSE libraries, for both algorithms."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import jwt as pyjwt
import pytest
from joserfc import jwt as joserfc_jwt

from passgate.keys.ring import ALGORITHMS, KeyRing
from passgate.storage.db import make_engine, migrate, sqlite_url
from passgate.storage.tokens import SigningKeys
from passgate.support.key_encryption import KeyEncryptionKey, KeyEncryptionKeys

ISSUER = "https://issuer.test/"
CLAIMS: dict[str, object] = {
    "iss": ISSUER,
    "sub": "auth0|1",
    "aud": ["https://api.test/", "https://issuer.test/userinfo"],
    "iat": 1_900_000_000,
    "exp": 1_900_003_600,
    "scope": "openid read:things",
    "name": "Zoë \u2603",
}


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[KeyRing]:
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    sealer = KeyEncryptionKeys([KeyEncryptionKey.generate()], source="test")
    ring = KeyRing(SigningKeys(engine), sealer=sealer, clock=lambda: 1_900_000_100.0)
    ring.ensure()
    yield ring
    engine.dispose()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_signed_token_verifies_with_pyjwt_and_joserfc(ring: KeyRing, alg: str) -> None:
    token = ring.sign(CLAIMS, alg)
    encoded_header = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4)))
    assert header["alg"] == alg
    assert header["typ"] == "JWT"

    keys = pyjwt.PyJWKSet.from_dict(ring.jwks())
    claims = pyjwt.decode(
        token,
        keys[header["kid"]].key,
        algorithms=[alg],
        audience="https://api.test/",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == CLAIMS
    assert ring.verify(token, audience="https://api.test/", issuer=ISSUER) == CLAIMS
    decoded = joserfc_jwt.decode(token, ring._key_set, algorithms=[alg])
    assert decoded.claims == CLAIMS


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_changed_token_does_not_verify(ring: KeyRing, alg: str) -> None:
    header, _payload, signature = ring.sign(CLAIMS, alg).split(".")
    forged = json.dumps({**CLAIMS, "sub": "auth0|2"}).encode()
    forged_payload = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(Exception, match="could not be verified"):
        ring.verify(
            f"{header}.{forged_payload}.{signature}",
            audience="https://api.test/",
            issuer=ISSUER,
        )
