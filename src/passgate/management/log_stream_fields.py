"""Reading a log stream's JSON as Auth0's Management API takes it (``POST`` and ``PATCH
/api/v2/log-streams``), refusing clearly what passgate does not do.

passgate delivers streams of type ``http`` only, without custom headers, PII masking, a
start date or priority; a body asking for one of those is a 400 that says so, never a
setting silently dropped. The authorization header is a secret: it is never echoed in a
refusal, and it is shown only as :data:`MASK`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from passgate.domain.log_streams import CATEGORIES, FORMATS
from passgate.errors import BadRequest
from passgate.management.payload import body_object

__all__ = [
    "MASK",
    "MAX_AUTHORIZATION",
    "MAX_CONTENT_TYPE",
    "MAX_ENDPOINT",
    "MAX_NAME",
    "SinkFields",
    "check_endpoint",
    "payload_error",
    "read_filters",
    "read_name",
    "read_sink",
    "read_status",
    "read_type",
    "refuse_unsupported",
]

MAX_NAME = 128
MAX_ENDPOINT = 2048
MAX_CONTENT_TYPE = 255
MAX_AUTHORIZATION = 4096
#: How a stream's authorization header is shown; sent back in a PATCH, it keeps the header.
MASK = "********"

_OTHER_TYPES = ("eventbridge", "eventgrid", "datadog", "splunk", "sumo", "segment", "mixpanel")
_UNSUPPORTED = {
    "pii_config": "PII masking",
    "startFrom": "a start date (a stream delivers what happens from its creation on)",
    "httpCustomHeaders": "custom headers (use httpAuthorization)",
}
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*"
)
#: A header value: visible ASCII, spaces and tabs inside (RFC 9110 field-value).
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?")
_NOT_IN_A_URL = re.compile(r"[\x00-\x20\x7f]")
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def payload_error(problem: str, name: str | None = None) -> BadRequest:
    where = f" on property {name}" if name else ""
    return BadRequest(f"Payload validation error: '{problem}'{where}.", code="invalid_body")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else _JSON_TYPES.get(type(value), "unknown")


def _string(value: object, name: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise payload_error(f"Expected type string but found type {_type_name(value)}", name)
    if not value:
        raise payload_error("String is too short (0 chars), minimum 1", name)
    if len(value) > max_length:
        raise payload_error(f"String is too long ({len(value)} chars), maximum {max_length}", name)
    return value


def refuse_unsupported(fields: Mapping[str, Any], where: str = "") -> None:
    """A 400 naming the first field passgate does not support (``isPriority`` is taken
    when false: priority is Auth0's service level, not a behaviour)."""
    for name, what in _UNSUPPORTED.items():
        if name in fields:
            raise payload_error(f"passgate log streams do not support {what}", where + name)
    if "isPriority" in fields:
        value = fields["isPriority"]
        if not isinstance(value, bool):
            raise payload_error(
                f"Expected type boolean but found type {_type_name(value)}", "isPriority"
            )
        if value:
            raise payload_error("passgate log streams have no priority streams", "isPriority")


def read_type(fields: Mapping[str, Any]) -> str:
    if "type" not in fields:
        raise payload_error("Missing required property: type")
    value = _string(fields["type"], "type", 32)
    if value != "http":
        known = value in _OTHER_TYPES
        problem = (
            f"passgate delivers log streams of type http only, not {value}"
            if known
            else "No enum match for the value (passgate supports: http)"
        )
        raise payload_error(problem, "type")
    return value


def read_name(value: object) -> str:
    name = _string(value, "name", MAX_NAME)
    if not name.strip() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise payload_error("String must have a visible character and no control one", "name")
    return name


def read_status(value: object) -> str:
    status = _string(value, "status", 32)
    if status == "suspended":
        raise payload_error(
            "passgate suspends a stream itself when its receiver keeps failing; set active "
            "or paused",
            "status",
        )
    if status not in ("active", "paused"):
        raise payload_error("No enum match for the value (expected active or paused)", "status")
    return status


def read_filters(value: object) -> tuple[str, ...]:
    """Auth0's ``[{"type": "category", "name": …}]``, each category once."""
    if not isinstance(value, list):
        raise payload_error(f"Expected type array but found type {_type_name(value)}", "filters")
    if len(value) > len(CATEGORIES):
        raise payload_error(
            f"Array is too long ({len(value)}), maximum {len(CATEGORIES)}", "filters"
        )
    names: list[str] = []
    for index, item in enumerate(value):
        where = f"filters[{index}]"
        if not isinstance(item, dict):
            raise payload_error(f"Expected type object but found type {_type_name(item)}", where)
        body_object(item, ("type", "name"))
        if "type" not in item or "name" not in item:
            missing = "type" if "type" not in item else "name"
            raise payload_error(f"Missing required property: {missing}", where)
        kind = _string(item["type"], f"{where}.type", 32)
        if kind != "category":
            raise payload_error("No enum match for the value (expected category)", f"{where}.type")
        name = _string(item["name"], f"{where}.name", 64)
        if name not in CATEGORIES:
            raise payload_error(
                f"No enum match for the value (an Auth0 event category such as "
                f"auth.login.fail; passgate knows {len(CATEGORIES)})",
                f"{where}.name",
            )
        if name in names:
            raise payload_error(
                f"Array items are not unique (indexes {names.index(name)} and {index})",
                "filters",
            )
        names.append(name)
    return tuple(names)


def check_endpoint(value: object, name: str = "sink.httpEndpoint") -> str:
    """An absolute http(s) URL with a host, no credentials and no fragment, at most
    :data:`MAX_ENDPOINT` characters (a refusal never repeats it)."""
    url = _string(value, name, MAX_ENDPOINT)
    refusal = payload_error("Expected an absolute http:// or https:// URL", name)
    if _NOT_IN_A_URL.search(url) or not url.isascii():
        raise refusal
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise refusal from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise refusal
    if "@" in parts.netloc:
        raise payload_error(
            "The URL must not hold credentials: send them in sink.httpAuthorization", name
        )
    if parts.fragment or url.endswith("#"):
        raise payload_error("The URL must not have a fragment", name)
    return url


def _content_type(value: object) -> str:
    text = _string(value, "sink.httpContentType", MAX_CONTENT_TYPE)
    if not _MEDIA_TYPE.fullmatch(text):
        raise payload_error(
            "Expected a media type such as application/json", "sink.httpContentType"
        )
    return text


def _format(value: object) -> str:
    text = _string(value, "sink.httpContentFormat", 32)
    if text not in FORMATS:
        raise payload_error(
            f"No enum match for the value (expected {', '.join(FORMATS)})",
            "sink.httpContentFormat",
        )
    return text


def _authorization(value: object) -> str:
    name = "sink.httpAuthorization"
    if not isinstance(value, str):
        raise payload_error(f"Expected type string but found type {_type_name(value)}", name)
    if not value:
        raise payload_error("String is too short (0 chars), minimum 1", name)
    if len(value) > MAX_AUTHORIZATION:
        raise payload_error(
            f"String is too long ({len(value)} chars), maximum {MAX_AUTHORIZATION}", name
        )
    if not _HEADER_VALUE.fullmatch(value):
        raise payload_error(
            "Expected a header value: printable ASCII, no leading or trailing space, no "
            "line break or control character",
            name,
        )
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class SinkFields:
    """The sink's fields a body sent (None: not sent). ``authorization`` is the header
    value in clear (never shown: ``repr`` hides it); ``clear_authorization`` asks to send
    none from now on (a PATCH with ``null``); :data:`MASK` sent back keeps the header."""

    endpoint: str | None = None
    content_type: str | None = None
    content_format: str | None = None
    authorization: str | None = dataclasses.field(default=None, repr=False)
    clear_authorization: bool = False


def read_sink(value: object, *, creating: bool) -> SinkFields:
    if not isinstance(value, dict):
        raise payload_error(f"Expected type object but found type {_type_name(value)}", "sink")
    refuse_unsupported({k: v for k, v in value.items() if k in _UNSUPPORTED}, "sink.")
    allowed = ("httpEndpoint", "httpContentType", "httpContentFormat", "httpAuthorization")
    extra = [name for name in value if name not in allowed]
    if extra:
        raise payload_error(
            f"Additional properties not allowed: {', '.join(map(str, extra))} (passgate "
            f"log streams are of type http)",
            "sink",
        )
    if creating and "httpEndpoint" not in value:
        raise payload_error("Missing required property: httpEndpoint", "sink")
    authorization: str | None = None
    clear = False
    if "httpAuthorization" in value:
        raw = value["httpAuthorization"]
        if raw is None and not creating:
            clear = True
        elif raw != MASK or creating:
            authorization = _authorization(raw)
    return SinkFields(
        endpoint=check_endpoint(value["httpEndpoint"]) if "httpEndpoint" in value else None,
        content_type=(
            _content_type(value["httpContentType"]) if "httpContentType" in value else None
        ),
        content_format=(
            _format(value["httpContentFormat"]) if "httpContentFormat" in value else None
        ),
        authorization=authorization,
        clear_authorization=clear,
    )
