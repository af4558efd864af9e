"""Reading Management API bodies and queries as Auth0 does, refusing what it refuses.

Auth0 checks each body and query against its API's schema and answers 400 with the first
thing wrong: ``Payload validation error: '…' on property scope`` (``invalid_body``) or
``Query validation error: '…' on property page`` (``invalid_query_string``). These
helpers give the same answers, so the HTTP routes and the CLI refuse alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from passgate.errors import BadRequest

__all__ = [
    "body_object",
    "optional_string",
    "query_bool",
    "query_error",
    "query_int",
    "query_string",
    "query_values",
    "required_string",
    "string_list",
]

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _type_name(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _payload_error(problem: str, name: str | None = None) -> BadRequest:
    where = f" on property {name}" if name else ""
    return BadRequest(f"Payload validation error: '{problem}'{where}.", code="invalid_body")


def body_object(body: object, allowed: Iterable[str]) -> Mapping[str, Any]:
    """``body`` as a JSON object holding no property but ``allowed`` ones."""
    if not isinstance(body, dict):
        raise _payload_error(f"Expected type object but found type {_type_name(body)}")
    extra = [name for name in body if name not in set(allowed)]
    if extra:
        raise _payload_error(f"Additional properties not allowed: {', '.join(map(str, extra))}")
    return body


def required_string(body: Mapping[str, Any], name: str, *, max_length: int) -> str:
    if name not in body:
        raise _payload_error(f"Missing required property: {name}")
    return _string(body[name], name, max_length)


def optional_string(body: Mapping[str, Any], name: str, *, max_length: int) -> str | None:
    return None if name not in body else _string(body[name], name, max_length)


def _string(value: object, name: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise _payload_error(f"Expected type string but found type {_type_name(value)}", name)
    if not value:
        raise _payload_error("String is too short (0 chars), minimum 1", name)
    if len(value) > max_length:
        raise _payload_error(f"String is too long ({len(value)} chars), maximum {max_length}", name)
    return value


def string_list(value: object, name: str, *, max_item_length: int) -> tuple[str, ...]:
    """A JSON array of distinct, non-empty strings without spaces (scopes)."""
    if not isinstance(value, list):
        raise _payload_error(f"Expected type array but found type {_type_name(value)}", name)
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _payload_error(
                f"Expected type string but found type {_type_name(item)}", f"{name}[{index}]"
            )
        if not item or len(item) > max_item_length or any(ch.isspace() for ch in item):
            raise _payload_error(
                f"String does not match pattern: 1 to {max_item_length} characters, no spaces",
                f"{name}[{index}]",
            )
        if item in seen:
            raise _payload_error(
                f"Array items are not unique (indexes {seen[item]} and {index})", name
            )
        seen[item] = index
    return tuple(value)


def query_values(pairs: Iterable[tuple[str, str]], allowed: Iterable[str]) -> dict[str, str]:
    """Query parameters, each named at most once and only among ``allowed``."""
    known = set(allowed)
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            raise query_error(f"Additional properties not allowed: {name}")
        if name in values:
            raise query_error("Expected type string but found type array", name)
        values[name] = value
    return values


def query_error(problem: str, name: str | None = None) -> BadRequest:
    where = f" on property {name}" if name else ""
    return BadRequest(f"Query validation error: '{problem}'{where}.", code="invalid_query_string")


def query_int(values: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise query_error(f"Expected type integer but found type string ({raw[:20]!r})", name)
    number = int(raw)
    if not low <= number <= high:
        raise query_error(f"Value {number} is not between {low} and {high}", name)
    return number


def query_bool(values: Mapping[str, str], name: str) -> bool:
    raw = values.get(name, "false")
    if raw not in ("true", "false"):
        raise query_error(f"Expected type boolean but found type string ({raw[:20]!r})", name)
    return raw == "true"


def query_string(values: Mapping[str, str], name: str) -> str | None:
    raw = values.get(name)
    if raw == "":
        raise query_error("String is too short (0 chars), minimum 1", name)
    return raw
