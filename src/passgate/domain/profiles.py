"""The profile a user gives at sign-up, read by Auth0's rules: pure, no I/O.

Auth0's ``/dbconnections/signup`` takes ``given_name``, ``family_name``, ``name``,
``nickname``, ``picture`` and ``user_metadata`` beside the credentials. Each may be left
out; when sent it must be right, or the whole sign-up is refused (:class:`ProfileError`,
answered as a 400) and nothing is stored:

- a text field is a string, not empty or blank, encodable as UTF-8 and free of NUL
  characters (its length is its column's, checked by
  :func:`passgate.storage.directory.check_user_fields` before any query);
- ``picture`` is an absolute ``http``/``https`` URL with a host, no credentials, and none
  of the characters RFC 3986 leaves out of a URI (spaces, controls, ``"<>\\^`{|}``);
- ``user_metadata`` follows the limits Auth0 documents for sign-up: an object of at most
  :data:`METADATA_MAX_PROPERTIES` properties whose names have at most
  :data:`METADATA_MAX_NAME` characters (not empty, no ``.`` or ``$``, as Auth0's metadata
  field names) and whose values are strings of at most :data:`METADATA_MAX_VALUE`
  characters. Values are strings, so nothing nests, and the whole is bounded by
  6,000 characters (10 properties of 100 + 500).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from passgate.domain.models import UserProfile
from passgate.errors import InvalidValue

__all__ = [
    "METADATA_MAX_NAME",
    "METADATA_MAX_PROPERTIES",
    "METADATA_MAX_VALUE",
    "ProfileError",
    "check_text",
    "read_profile",
]

METADATA_MAX_PROPERTIES = 10
METADATA_MAX_NAME = 100
METADATA_MAX_VALUE = 500

#: Characters no URI holds (RFC 3986), tested before parsing: ``urlsplit`` would drop
#: tabs and newlines silently and trim spaces at both ends.
_NOT_IN_A_URL = re.compile(r'[\x00-\x20\x7f-\x9f\s"<>\\^`{|}]')


class ProfileError(InvalidValue):
    """A profile field breaks a rule; the message names the parameter and the rule."""


def check_text(value: str, name: str) -> None:
    """UTF-8 encodable (JSON can escape lone surrogates) and free of NUL characters:
    what the database drivers, argon2 and email headers can take."""
    if "\x00" in value:
        raise ProfileError(f"Parameter {name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ProfileError(f"Parameter {name} is not valid Unicode text") from None


def _text(fields: Mapping[str, object], name: str) -> str | None:
    """The field, or None when it was not sent; sent as null, it is refused."""
    if name not in fields:
        return None
    value = fields[name]
    if not isinstance(value, str):
        raise ProfileError(f"Parameter {name} must be a string")
    if not value.strip():
        raise ProfileError(f"Parameter {name} must not be empty")
    check_text(value, name)
    return value


def _check_picture(url: str) -> None:
    refusal = ProfileError("Parameter picture must be an http(s) URL")
    if _NOT_IN_A_URL.search(url):
        raise refusal
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise refusal from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise refusal
    if "@" in parts.netloc:
        raise ProfileError("Parameter picture must be an http(s) URL without credentials")


def _metadata(fields: Mapping[str, object]) -> dict[str, str]:
    if "user_metadata" not in fields:
        return {}
    value = fields["user_metadata"]
    if not isinstance(value, dict):
        raise ProfileError("Parameter user_metadata must be an object")
    if len(value) > METADATA_MAX_PROPERTIES:
        raise ProfileError(
            f"Parameter user_metadata has more than {METADATA_MAX_PROPERTIES} properties"
        )
    metadata: dict[str, str] = {}
    for name, item in value.items():
        _check_metadata_name(str(name))
        if not isinstance(item, str):
            raise ProfileError("Parameter user_metadata: values must be strings")
        check_text(item, "user_metadata")
        if len(item) > METADATA_MAX_VALUE:
            raise ProfileError(
                f"Parameter user_metadata: values have at most {METADATA_MAX_VALUE} characters"
            )
        metadata[str(name)] = item
    return metadata


def _check_metadata_name(name: str) -> None:
    if not name:
        raise ProfileError("Parameter user_metadata: property names must not be empty")
    check_text(name, "user_metadata")
    if len(name) > METADATA_MAX_NAME:
        raise ProfileError(
            f"Parameter user_metadata: property names have at most {METADATA_MAX_NAME} characters"
        )
    if "." in name or "$" in name:
        raise ProfileError("Parameter user_metadata: property names must not contain '.' or '$'")


def read_profile(fields: Mapping[str, object]) -> tuple[str | None, UserProfile]:
    """The ``name`` and the profile in sign-up ``fields``, or :class:`ProfileError` for
    the first field (in Auth0's order) that breaks a rule. Lengths are not checked here."""
    given_name = _text(fields, "given_name")
    family_name = _text(fields, "family_name")
    name = _text(fields, "name")
    nickname = _text(fields, "nickname")
    picture = _text(fields, "picture")
    if picture is not None:
        _check_picture(picture)
    profile = UserProfile(
        given_name=given_name,
        family_name=family_name,
        nickname=nickname,
        picture=picture,
        user_metadata=_metadata(fields),
    )
    return name, profile
