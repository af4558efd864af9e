"""A client's profile in a Management API body: ``description``, ``logo_uri``, the URL
lists (``callbacks``, ``allowed_logout_urls``, ``web_origins``, ``allowed_origins``) and
``client_metadata``, read with Auth0's limits and refusals.

passgate stores and shows them so that code written for Auth0 (which sends them when it
makes a client) works unchanged; no passgate flow redirects to or trusts these URLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from passgate.domain.models import ClientProfile
from passgate.errors import BadRequest

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_METADATA_KEYS",
    "MAX_URL",
    "MAX_URLS",
    "PROFILE_FIELDS",
    "URL_LISTS",
    "profile_fields",
    "profile_json",
]

#: Auth0's limits: a description of 140 characters, ten metadata properties whose names
#: and values are at most 255 characters.
MAX_DESCRIPTION = 140
MAX_METADATA_KEYS = 10
MAX_METADATA_LENGTH = 255
#: passgate's own: a URL of at most 2048 characters, at most 100 of them in a list.
MAX_URL = 2048
MAX_URLS = 100
URL_LISTS = ("callbacks", "allowed_logout_urls", "web_origins", "allowed_origins")
PROFILE_FIELDS = ("description", "logo_uri", *URL_LISTS, "client_metadata")

_METADATA_KEY = re.compile(r"[A-Za-z0-9_-]{1,255}")
#: A scheme, "://", then anything but spaces and control characters (wildcards allowed:
#: Auth0 accepts ``https://*.example.com``; custom schemes for native apps).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\x00-\x1f\x7f]+")


def _error(problem: str, name: str) -> BadRequest:
    return BadRequest(
        f"Payload validation error: '{problem}' on property {name}.", code="invalid_body"
    )


def _type(value: object) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    names |= {list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _url(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise _error(f"Expected type string but found type {_type(value)}", name)
    if len(value) > MAX_URL:
        raise _error(f"String is too long ({len(value)} chars), maximum {MAX_URL}", name)
    if not _URL.fullmatch(value):
        raise _error("Object didn't pass validation for format absolute-uri: " + value[:100], name)
    return value


def _urls(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _error(f"Expected type array but found type {_type(value)}", name)
    if len(value) > MAX_URLS:
        raise _error(f"Array is too long ({len(value)}), maximum {MAX_URLS}", name)
    urls = tuple(_url(item, f"{name}[{index}]") for index, item in enumerate(value))
    return tuple(dict.fromkeys(urls))  # a URL said twice is kept once


def _description(value: object) -> str:
    if not isinstance(value, str):
        raise _error(f"Expected type string but found type {_type(value)}", "description")
    if len(value) > MAX_DESCRIPTION:
        raise _error(
            f"String is too long ({len(value)} chars), maximum {MAX_DESCRIPTION}", "description"
        )
    if "\x00" in value:
        raise _error("String must not contain NUL characters", "description")
    return value


def _metadata(value: object) -> tuple[tuple[str, str], ...]:
    name = "client_metadata"
    if not isinstance(value, dict):
        raise _error(f"Expected type object but found type {_type(value)}", name)
    if len(value) > MAX_METADATA_KEYS:
        raise _error(f"Too many properties ({len(value)}), maximum {MAX_METADATA_KEYS}", name)
    pairs = []
    for key, item in value.items():
        if not _METADATA_KEY.fullmatch(key):
            raise _error(
                "Property names are 1 to 255 letters, digits, '_' or '-'", f"{name}.{key[:100]}"
            )
        if not isinstance(item, str):
            raise _error(f"Expected type string but found type {_type(item)}", f"{name}.{key}")
        if len(item) > MAX_METADATA_LENGTH or "\x00" in item:
            raise _error(
                f"String of at most {MAX_METADATA_LENGTH} characters, no NUL", f"{name}.{key}"
            )
        pairs.append((key, item))
    return tuple(pairs)


def profile_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The profile fields ``body`` names, read and checked (a ``ClientProfile``'s
    keyword arguments); an empty string or array clears one."""
    fields: dict[str, Any] = {}
    if "description" in body:
        fields["description"] = _description(body["description"])
    if "logo_uri" in body:
        logo = body["logo_uri"]
        fields["logo_uri"] = "" if logo == "" else _url(logo, "logo_uri")
    for name in URL_LISTS:
        if name in body:
            fields[name] = _urls(body[name], name)
    if "client_metadata" in body:
        fields["client_metadata"] = _metadata(body["client_metadata"])
    return fields


def profile_json(profile: ClientProfile) -> dict[str, Any]:
    """``profile`` in Auth0's shape (every field, empty when unset)."""
    return {
        "description": profile.description,
        "logo_uri": profile.logo_uri,
        **{name: list(getattr(profile, name)) for name in URL_LISTS},
        "client_metadata": dict(profile.client_metadata),
    }
