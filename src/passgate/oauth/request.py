"""Parsing token-endpoint bodies, sans-I/O: bytes and headers in, parameters or an error out.

Both ``application/x-www-form-urlencoded`` and ``application/json`` are accepted. Every
parameter is a string that appears once; anything else is ``invalid_request``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from passgate.errors import InvalidRequest

__all__ = [
    "BasicCredentials",
    "parse_basic",
    "parse_body",
    "parse_json_object",
    "without_blank_options",
]

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_MAX_PARAMETERS = 64
#: Optional token-request parameters that read as not sent when empty or blank.
_OPTIONS = ("audience", "scope", "realm")


@dataclasses.dataclass(frozen=True, slots=True)
class BasicCredentials:
    client_id: str
    client_secret: str = dataclasses.field(repr=False)


def _media_type(content_type: str | None) -> str:
    if not content_type:
        raise InvalidRequest(
            "Content-Type must be application/x-www-form-urlencoded or application/json"
        )
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    charset = None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset":
            charset = value.strip().strip('"').lower()
    if charset not in (None, "utf-8", "utf8"):
        raise InvalidRequest("Only the UTF-8 charset is supported")
    if media not in (_FORM, _JSON):
        raise InvalidRequest(
            "Content-Type must be application/x-www-form-urlencoded or application/json"
        )
    return media


def _decode(raw: bytes, what: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid UTF-8") from exc
    if "\x00" in text:
        raise InvalidRequest(f"{what} contains a NUL character")
    return text


def _parse_form(body: bytes) -> dict[str, str]:
    params: dict[str, str] = {}
    if not body:
        return params
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decode(_unquote(raw_name), "A parameter name")
        value = _decode(_unquote(raw_value), f"Parameter {name!r}")
        _add(params, name, value)
    return params


def _unquote(raw: bytes) -> bytes:
    if b"%" not in raw and b"+" not in raw:  # most names, many values: nothing to undo
        return raw
    return unquote_to_bytes(raw.replace(b"+", b" "))


def _add(params: dict[str, str], name: str, value: str) -> None:
    if name in params:
        raise InvalidRequest(f"Duplicated parameter: {name}")
    if len(params) >= _MAX_PARAMETERS:
        raise InvalidRequest("Too many parameters")
    params[name] = value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise InvalidRequest(f"Duplicated parameter: {name[:100]!a}")
        out[name] = value
    return out


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A UTF-8 JSON object with no duplicated member at any depth; values of any type."""
    text = _decode(body, "The body")
    try:
        document = json.loads(text, object_pairs_hook=_pairs)
    except InvalidRequest:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("The body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise InvalidRequest("The JSON body must be an object")
    return document


def _parse_json(body: bytes) -> dict[str, str]:
    document = parse_json_object(body)
    params: dict[str, str] = {}
    for name, value in document.items():
        # JSON text may escape lone surrogates ("\ud800"): no valid UTF-8 holds them, and
        # neither the database drivers nor argon2 can encode them.
        if not _is_text(name):
            raise InvalidRequest("A parameter name is not valid Unicode text")
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidRequest(f"Parameter {name!r} must be a string")
        if not _is_text(value):
            raise InvalidRequest(f"Parameter {name!r} is not valid Unicode text")
        _add(params, name, value)
    return params


def _is_text(value: str) -> bool:
    """Encodable as UTF-8 (no lone surrogates) and free of NUL characters."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_body(content_type: str | None, body: bytes) -> dict[str, str]:
    """The parameters of a token request body; raises :class:`InvalidRequest`."""
    if _media_type(content_type) == _FORM:
        return _parse_form(body)
    return _parse_json(body)


def without_blank_options(params: Mapping[str, str]) -> Mapping[str, str]:
    """``params`` without an ``audience``, ``scope`` or ``realm`` that is empty or only
    spaces: such a value means "not sent", as Auth0 reads it. SDKs send empty defaults
    (auth0-python's refresh posts ``"scope": ""``), and a refresh must then keep the
    granted scopes rather than narrow them to none."""
    if all(params.get(name, "x").strip(" ") for name in _OPTIONS):
        return params
    return {
        name: value for name, value in params.items() if name not in _OPTIONS or value.strip(" ")
    }


def parse_basic(headers: Mapping[str, str]) -> BasicCredentials | None:
    """HTTP Basic client credentials (RFC 6749 §2.3.1: form-encoded id and secret)."""
    header = headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidRequest("Only Basic authorization is supported at this endpoint")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("Malformed Basic authorization header") from exc
    raw_id, colon, raw_secret = decoded.partition(b":")
    if not colon:
        raise InvalidRequest("Malformed Basic authorization header")
    client_id = _decode(_unquote(raw_id), "The client id")
    secret = _decode(_unquote(raw_secret), "The client secret")
    return BasicCredentials(client_id=client_id, client_secret=secret)
