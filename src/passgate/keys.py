"""Signing keys: generated on first start, kept in the database, rotated by command.

Each algorithm (RS256, ES256) has one active key. A rotated-out key stays in the JWKS until
every token it signed has expired, so relying parties never see a signature they cannot
check.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from passgate.clock import Clock, system_clock
from passgate.storage.models import SigningKey
from passgate.storage.tokens import SigningKeys

__all__ = ["ALGORITHMS", "InvalidToken", "KeyRing"]

ALGORITHMS = ("RS256", "ES256")
_RELOAD_SECONDS = 5.0
#: Longest lifetime of anything we sign (an ID token lives 10 hours; API tokens up to 30 days).
_MAX_LIFETIME = 2592000


class InvalidToken(Exception):
    """A JWT that is malformed, badly signed, expired or for someone else."""


def _generate(alg: str) -> RSAKey | ECKey:
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"})
    raise ValueError(f"unsupported algorithm {alg!r}")


def _import(record: SigningKey) -> RSAKey | ECKey:
    data = json.loads(record.private_jwk)
    data["kid"] = record.kid
    if record.alg == "RS256":
        return RSAKey.import_key(data)
    return ECKey.import_key(data)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _sign_compact(key: RSAKey | ECKey, alg: str, claims: Mapping[str, Any]) -> str:
    """A JWS compact serialisation (RFC 7515 §7.1) of ``claims``, signed with ``key``.

    The same token ``joserfc.jwt.encode`` makes, without its header registry checks and
    JSON re-encoding: this runs once per login, in a thread whose Python time holds the
    GIL that the hashing threads need."""
    header = _b64(orjson.dumps({"alg": alg, "typ": "JWT", "kid": key.kid}))
    signing_input = header + b"." + _b64(orjson.dumps(dict(claims)))
    private = key.private_key
    if alg == "RS256":
        assert isinstance(private, rsa.RSAPrivateKey)
        signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(f"unsupported algorithm {alg!r}")
    return (signing_input + b"." + _b64(signature)).decode("ascii")


class KeyRing:
    def __init__(self, store: SigningKeys, *, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._active: dict[str, RSAKey | ECKey] = {}
        self._published: list[RSAKey | ECKey] = []
        self._key_set = KeySet([])
        # Imported keys by kid: importing an RSA private key validates it, which costs
        # milliseconds, so a reload imports only keys it has not seen.
        self._imported: dict[str, RSAKey | ECKey] = {}

    def ensure(self) -> None:
        """Create an active key for each algorithm that has none (first start)."""
        records = self._store.all()
        for alg in ALGORITHMS:
            if not any(r.alg == alg and r.retired_at is None for r in records):
                self._store.add(self._record(alg), retire_others=False)
        self._reload()

    def rotate(self, alg: str | None = None) -> list[str]:
        """Make new active keys; the old ones stay published until their tokens expire."""
        kids = []
        for name in (alg,) if alg else ALGORITHMS:
            record = self._record(name)
            self._store.add(record, retire_others=True)
            kids.append(record.kid)
        self._store.delete_retired_before(self._clock() - _MAX_LIFETIME)
        self._reload()
        return kids

    def _record(self, alg: str) -> SigningKey:
        key = _generate(alg)
        kid = key.thumbprint()
        private = key.as_dict(private=True)
        private.pop("kid", None)
        return SigningKey(
            kid=kid,
            alg=alg,
            private_jwk=json.dumps(private),
            created_at=self._clock(),
            retired_at=None,
        )

    def _reload(self) -> None:
        now = self._clock()
        active: dict[str, RSAKey | ECKey] = {}
        published: list[RSAKey | ECKey] = []
        for record in self._store.all():
            if record.retired_at is not None and record.retired_at + _MAX_LIFETIME < now:
                continue
            key = self._imported.get(record.kid)
            if key is None:
                key = self._imported[record.kid] = _import(record)
            published.append(key)
            if record.retired_at is None:
                active[record.alg] = key
        with self._lock:
            self._active = active
            self._published = published
            self._key_set = KeySet(list(published))
            self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > _RELOAD_SECONDS:
            self._reload()

    def sign(self, claims: Mapping[str, Any], alg: str = "RS256") -> str:
        self._fresh()
        key = self._active.get(alg)
        if key is None:
            self._reload()
            key = self._active[alg]
        return _sign_compact(key, alg, claims)

    def jwks(self) -> dict[str, Any]:
        self._fresh()
        keys = []
        for key in self._published:
            public: dict[str, Any] = dict(key.as_dict(private=False))
            public["kid"] = key.kid
            keys.append(public)
        return {"keys": keys}

    def verify(self, token: str, *, audience: str, issuer: str) -> dict[str, Any]:
        """Check signature, ``iss``, ``aud`` and ``exp``; return the claims."""
        self._fresh()
        try:
            decoded = jwt.decode(token, self._key_set, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise InvalidToken("the token could not be verified") from exc
        claims = decoded.claims
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        if (
            claims.get("iss") != issuer
            or not isinstance(audiences, list)
            or audience not in audiences
        ):
            raise InvalidToken("the token is not for this audience")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self._clock():
            raise InvalidToken("the token has expired")
        return claims
