"""Signing keys: generated on first start, kept in the database, rotated by command.

Each algorithm (RS256, ES256) has one active key. A rotated-out key stays in the JWKS until
every token it signed has expired, so relying parties never see a signature they cannot
check. Private keys are stored sealed under a key-encryption key
(:mod:`passgate.support.key_encryption`) and opened in memory only.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from passgate.domain.clock import Clock, system_clock
from passgate.domain.models import SigningKey
from passgate.errors import InvalidToken
from passgate.keys.certificates import Certificate, self_signed
from passgate.storage.tokens import SigningKeys
from passgate.support.key_encryption import KeyEncryptionError, KeyEncryptionKeys

__all__ = ["ALGORITHMS", "BadSignature", "KeyRing"]

logger = logging.getLogger("passgate.keys")

ALGORITHMS = ("RS256", "ES256")
_RELOAD_SECONDS = 5.0
#: Longest lifetime of anything we sign (an ID token lives 10 hours; API tokens up to 30 days).
_MAX_LIFETIME = 2592000


class BadSignature(InvalidToken):
    """A well-formed JWT naming one of our keys whose signature does not match."""


def _generate(alg: str) -> RSAKey | ECKey:
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"})
    raise ValueError(f"unsupported algorithm {alg!r}")


def _import(record: SigningKey, sealer: KeyEncryptionKeys) -> RSAKey | ECKey:
    if record.kek_id is None:  # stored before keys were sealed
        data = json.loads(record.private_jwk)
    else:
        data = json.loads(sealer.unseal(record.private_jwk, kek_id=record.kek_id, kid=record.kid))
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
    """The signing keys of the tenant, opened with ``sealer``; reloaded from the store every
    few seconds so that keys rotated by another process are used and published."""

    def __init__(
        self, store: SigningKeys, *, sealer: KeyEncryptionKeys, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._active: dict[str, RSAKey | ECKey] = {}
        self._published: list[RSAKey | ECKey] = []
        self._key_set = KeySet([])
        # Imported keys by kid: importing an RSA private key validates it, which costs
        # milliseconds, so a reload imports only keys it has not seen.
        self._imported: dict[str, RSAKey | ECKey] = {}
        self._reported: set[str] = set()  # reload failures logged once each
        self._certificates: dict[tuple[str, str], Certificate] = {}

    @property
    def sealer(self) -> KeyEncryptionKeys:
        """The key-encryption keys this ring opens with (log streams seal with them too)."""
        return self._sealer

    def ensure(self) -> None:
        """At start: seal keys stored in plain text, create an active key for each algorithm
        that has none (first start), and open them all. Raises
        :class:`~passgate.support.key_encryption.KeyEncryptionError` if one does not open."""
        records = self._store.all()
        for record in records:  # a wrong key-encryption key must seal nothing
            if record.kek_id is not None:
                self._sealer.unseal(record.private_jwk, kek_id=record.kek_id, kid=record.kid)
        if any(record.kek_id is None for record in records):
            self._store.reseal(self._sealed_if_plain)
        for alg in ALGORITHMS:
            if not any(r.alg == alg and r.retired_at is None for r in records):
                self._store.add(self._record(alg), retire_others=False)
        self._reload()

    def rewrap(self) -> int:
        """Seal every key under the current key-encryption key, in one transaction; return
        how many were sealed under another (or stored in plain text). Raises
        :class:`~passgate.support.key_encryption.KeyEncryptionError`, changing nothing, if a key
        does not open with the keys at hand."""
        changed = self._store.reseal(self._rewrapped)
        self._reload()
        return changed

    def _sealed_if_plain(self, record: SigningKey) -> SigningKey | None:
        if record.kek_id is not None:
            return None
        return self._sealed(record, record.private_jwk)

    def _rewrapped(self, record: SigningKey) -> SigningKey | None:
        if record.kek_id == self._sealer.current.id:
            return None
        if record.kek_id is None:
            return self._sealed(record, record.private_jwk)
        plain = self._sealer.unseal(record.private_jwk, kek_id=record.kek_id, kid=record.kid)
        return self._sealed(record, plain)

    def _sealed(self, record: SigningKey, private_jwk: str) -> SigningKey:
        return dataclasses.replace(
            record,
            private_jwk=self._sealer.seal(private_jwk, kid=record.kid),
            kek_id=self._sealer.current.id,
        )

    def rotate(self, alg: str | None = None) -> list[str]:
        """Make new active keys; the old ones stay published until their tokens expire.
        The keys stored so far must open first: a key-encryption key that opens nothing
        must not seal the new ones."""
        self._reload()
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
            private_jwk=self._sealer.seal(json.dumps(private), kid=kid),
            created_at=self._clock(),
            retired_at=None,
            kek_id=self._sealer.current.id,
        )

    def _reload(self) -> None:
        """Load the keys from the store; raise if one does not open."""
        now = self._clock()
        active: dict[str, RSAKey | ECKey] = {}
        published: list[RSAKey | ECKey] = []
        for record in self._store.all():
            if record.revoked_at is not None:
                continue  # neither published nor accepted
            if record.retired_at is not None and record.retired_at + _MAX_LIFETIME < now:
                continue
            key = self._imported.get(record.kid)
            if key is None:
                key = self._imported[record.kid] = _import(record, self._sealer)
            published.append(key)
            if record.retired_at is None:
                active[record.alg] = key
        with self._lock:
            self._active = active
            self._published = published
            self._key_set = KeySet(list(published))
            self._loaded_at = time.monotonic()

    def records(self) -> list[SigningKey]:
        """Every stored key (active, retired, revoked), oldest first: never opened here."""
        return self._store.all()

    def revoke(self, kid: str) -> SigningKey | None:
        """Revoke the retired key ``kid``: unpublished, and its tokens refused (by this
        process at once, by the others within seconds). None when no retired key has it."""
        revoked = self._store.revoke(kid, self._clock())
        self._reload()
        return revoked

    def certificate(self, record: SigningKey, subject: str) -> Certificate:
        """The self-signed certificate of ``record`` (see :mod:`passgate.keys.certificates`)."""
        cached = self._certificates.get((record.kid, subject))
        if cached is not None:
            return cached
        key = self._imported.get(record.kid) or _import(record, self._sealer)
        private = key.private_key
        assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        made = self_signed(private, kid=record.kid, subject=subject, created_at=record.created_at)
        self._certificates[(record.kid, subject)] = made
        return made

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > _RELOAD_SECONDS:
            try:
                self._reload()
            except KeyEncryptionError as exc:
                # A key sealed under a key-encryption key this process was not given (a
                # rotation in progress): keep signing and publishing what it has.
                self._loaded_at = time.monotonic()
                if str(exc) not in self._reported:
                    self._reported.add(str(exc))
                    logger.error("signing keys not reloaded: %s", exc)

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

    def signed_claims(self, token: str) -> dict[str, Any]:
        """The claims of a JWT signed by one of our published keys (RS256 or ES256 only);
        :class:`InvalidToken` otherwise. No claim is checked: the caller checks what its
        audience needs. Blocking: the keys may be reloaded from the store."""
        self._fresh()
        try:
            decoded = jwt.decode(token, self._key_set, algorithms=list(ALGORITHMS))
        except BadSignatureError as exc:
            raise BadSignature("the token could not be verified: bad signature") from exc
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise InvalidToken("the token could not be verified") from exc
        if not isinstance(decoded.claims, dict):
            raise InvalidToken("the token's claims are not an object")
        return dict(decoded.claims)

    def verify(self, token: str, *, audience: str, issuer: str) -> dict[str, Any]:
        """Check signature, ``iss``, ``aud`` and ``exp``; return the claims."""
        claims = self.signed_claims(token)
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
