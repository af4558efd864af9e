"""``/api/v2/keys/signing``: the signing keys, through ``management.signing_keys``."""

from __future__ import annotations

from passgate.management.signing_keys import SigningKeysService
from passgate.web.management.operations import Answer, Call, Operation, PathParam, Reply

__all__ = ["signing_keys_operations"]

_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_FLAG = {"type": "boolean"}
KEY_SCHEMA = {
    "type": "object",
    "required": ["kid", "cert", "fingerprint", "thumbprint"],
    "properties": {
        "kid": _TEXT,
        "alg": _TEXT,
        "cert": _TEXT,
        "pkcs7": _TEXT,
        "fingerprint": _TEXT,
        "thumbprint": _TEXT,
        "current": _FLAG,
        "next": _FLAG,
        "previous": _FLAG,
        "current_since": _TIME,
        "current_until": _TIME,
        "revoked": _FLAG,
        "revoked_at": _TIME,
    },
}
_CERT_AND_KID = {
    "type": "object",
    "required": ["cert", "kid"],
    "properties": {"cert": _TEXT, "kid": _TEXT},
}
_KID = PathParam("kid", "The key id.", {"type": "string", "minLength": 1, "maxLength": 2048})
_NO_KEY = "No signing key has this kid."


def signing_keys_operations(service: SigningKeysService) -> list[Operation]:
    """List, read, rotate and revoke (``/rotate`` is declared before ``/{kid}``, which
    would take it otherwise)."""

    def list_keys(call: Call) -> Reply:
        return Reply(service.list_keys())

    def read(call: Call) -> Reply:
        return Reply(service.get(call.path["kid"]))

    def rotate(call: Call) -> Reply:
        answer, kids = service.rotate()
        return Reply(answer, status=201, changes={"rotated": kids})

    def revoke(call: Call) -> Reply:
        answer = service.revoke(call.path["kid"])
        return Reply(answer, changes={"revoked": answer["kid"]})

    return [
        Operation(
            method="GET", path="/keys/signing", scopes=("read:signing_keys",),
            summary="Get all Application Signing Keys", operation_id="get_signing_keys",
            tag="keys", handler=list_keys,
            answer=Answer(200, "Every key: current, previous, revoked.",
                          {"type": "array", "items": KEY_SCHEMA}),
        ),
        Operation(
            method="POST", path="/keys/signing/rotate", scopes=("create:signing_keys",),
            summary="Rotate the Application Signing Key",
            description="New current keys (RS256 and ES256) sign the next tokens; the old "
            "ones stay published until what they signed expires (or they are revoked).",
            operation_id="post_signing_keys", tag="keys", handler=rotate,
            answer=Answer(201, "The new current RS256 key.", _CERT_AND_KID),
        ),
        Operation(
            method="GET", path="/keys/signing/{kid}", scopes=("read:signing_keys",),
            summary="Get an Application Signing Key by its key id",
            operation_id="get_signing_key", tag="keys", handler=read,
            answer=Answer(200, "The key.", KEY_SCHEMA), path_params=(_KID,), not_found=_NO_KEY,
        ),
        Operation(
            method="PUT", path="/keys/signing/{kid}/revoke", scopes=("update:signing_keys",),
            summary="Revoke an Application Signing Key by its key id",
            description="Only a previous key: it leaves the JWKS and its tokens are refused. "
            "A current key is refused (400): rotate first.",
            operation_id="put_signing_keys", tag="keys", handler=revoke,
            answer=Answer(200, "The revoked key.", _CERT_AND_KID), path_params=(_KID,),
            not_found=_NO_KEY,
        ),
    ]  # fmt: skip
