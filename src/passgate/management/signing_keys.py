"""The tenant's signing keys as Auth0's ``/api/v2/keys/signing`` shows and changes them.

Each algorithm (RS256, ES256) has one current key. A rotation makes new current keys (the
next tokens are signed with them) and leaves the old ones published until what they
signed expires; a revocation of such a *previous* key unpublishes it at once and refuses
its tokens everywhere (``/userinfo``, the Management API). A current key cannot be
revoked: rotate it out first, as Auth0 requires.

Keys are shown as Auth0 shows them: ``kid``, a self-signed certificate (``cert``,
``pkcs7``, ``fingerprint``, ``thumbprint``), ``current``, ``next``, ``previous``,
``current_since``, ``current_until``, ``revoked``, ``revoked_at``; passgate adds ``alg``.
Never a private key. Blocking (database, key opening).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from passgate.domain.models import SigningKey
from passgate.errors import BadRequest, NotFound
from passgate.keys.ring import KeyRing

__all__ = ["SigningKeysService"]

#: Longer kids name no key (ours are 43 characters).
MAX_KID = 128
#: The algorithm whose key a rotation answers with (what Auth0 and its SDKs sign with).
MAIN_ALG = "RS256"


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _not_found() -> NotFound:
    return NotFound("The signing key does not exist.", code="inexistent_signing_key")


class SigningKeysService:
    def __init__(self, ring: KeyRing, *, issuer: str) -> None:
        self._ring = ring
        self._subject = urlsplit(issuer).hostname or "passgate"

    def _previous(self, records: list[SigningKey]) -> set[str]:
        """Per algorithm, the most recently retired key that is not revoked."""
        latest: dict[str, SigningKey] = {}
        for record in records:
            if record.retired_at is None or record.revoked_at is not None:
                continue
            seen = latest.get(record.alg)
            if seen is None or (seen.retired_at or 0) <= record.retired_at:
                latest[record.alg] = record
        return {record.kid for record in latest.values()}

    def _json(self, record: SigningKey, previous: set[str]) -> dict[str, Any]:
        certificate = self._ring.certificate(record, self._subject)
        body: dict[str, Any] = {
            "kid": record.kid,
            "alg": record.alg,
            "cert": certificate.pem,
            "pkcs7": certificate.pkcs7,
            "fingerprint": certificate.fingerprint,
            "thumbprint": certificate.thumbprint,
            "current": record.retired_at is None and record.revoked_at is None,
            "next": False,
            "previous": record.kid in previous,
            "current_since": _iso(record.created_at),
            "revoked": record.revoked_at is not None,
        }
        if record.retired_at is not None:
            body["current_until"] = _iso(record.retired_at)
        if record.revoked_at is not None:
            body["revoked_at"] = _iso(record.revoked_at)
        return body

    def _record(self, kid: str) -> SigningKey:
        if len(kid) <= MAX_KID:
            for record in self._ring.records():
                if record.kid == kid:
                    return record
        raise _not_found()

    def list_keys(self) -> list[dict[str, Any]]:
        """Every stored key, the current ones first, then the newest."""
        records = self._ring.records()
        previous = self._previous(records)
        ordered = sorted(records, key=lambda r: (r.retired_at is not None, -r.created_at))
        return [self._json(record, previous) for record in ordered]

    def get(self, kid: str) -> dict[str, Any]:
        record = self._record(kid)
        return self._json(record, self._previous(self._ring.records()))

    def rotate(self) -> tuple[dict[str, Any], list[str]]:
        """New current keys for every algorithm; answers the RS256 one's ``{cert, kid}``
        and every new kid."""
        kids = self._ring.rotate()
        records = {record.kid: record for record in self._ring.records()}
        new = [records[kid] for kid in kids if kid in records]
        main = next((r for r in new if r.alg == MAIN_ALG), new[0])
        return {"cert": self._ring.certificate(main, self._subject).pem, "kid": main.kid}, kids

    def revoke(self, kid: str) -> dict[str, Any]:
        """Revoke a previous key (again: no change); 400 for a current key."""
        record = self._record(kid)
        if record.retired_at is None:
            raise BadRequest(
                "The current signing key cannot be revoked: rotate the keys first.",
                code="invalid_request",
            )
        if record.revoked_at is None:
            record = self._ring.revoke(kid) or record
        return {"cert": self._ring.certificate(record, self._subject).pem, "kid": record.kid}
