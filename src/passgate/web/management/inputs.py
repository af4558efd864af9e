"""Reading a Management API call's query string and JSON body, strictly.

Every refusal is a 400 in Auth0's words: ``invalid_query_string`` ("Query validation
error: … on property NAME") for the query, ``invalid_body`` for the body. A parameter
sent twice, an unknown parameter, a NUL character, a body that is not UTF-8 JSON, a JSON
object with a member twice (at any depth), ``NaN``/``Infinity`` or a top level that is
not an object are all refused before the handler runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from passgate.management.errors import InvalidBody, InvalidQuery, InvalidUri
from passgate.web.management.operations import QueryParam

__all__ = ["JSON_MEDIA_TYPE", "check_path", "parse_body", "parse_query"]

JSON_MEDIA_TYPE = "application/json"
_INVALID_JSON = "Invalid request payload JSON format"
_SHOWN = 100


def _shown(name: str) -> str:
    return name if len(name) <= _SHOWN else name[: _SHOWN - 1] + "…"


def _query_error(message: str, name: str | None = None) -> InvalidQuery:
    where = f" on property {_shown(name)}" if name is not None else ""
    return InvalidQuery(f"Query validation error: '{message}'{where}.")


def _typed(param: QueryParam, value: str) -> str | bool | int:
    if param.type == "boolean":
        if value not in ("true", "false"):
            raise _query_error(f"Expected type boolean but found {value[:20]!r}", param.name)
        return value == "true"
    if param.type == "integer":
        if not (value.isascii() and value.lstrip("-").isdigit() and len(value) <= 18):
            raise _query_error("Expected type integer", param.name)
        number = int(value)
        if param.minimum is not None and number < param.minimum:
            raise _query_error(f"Value {number} is less than minimum {param.minimum}", param.name)
        if param.maximum is not None and number > param.maximum:
            raise _query_error(
                f"Value {number} is greater than maximum {param.maximum}", param.name
            )
        return number
    if len(value) < param.min_length:
        raise _query_error(
            f"String is too short ({len(value)} chars), minimum {param.min_length}", param.name
        )
    if param.max_length is not None and len(value) > param.max_length:
        raise _query_error(
            f"String is too long ({len(value)} chars), maximum {param.max_length}", param.name
        )
    return value


def parse_query(
    items: Iterable[tuple[str, str]], params: Sequence[QueryParam]
) -> dict[str, str | bool | int]:
    """The declared parameters, typed; a 400 for anything else."""
    declared = {param.name: param for param in params}
    found: dict[str, str | bool | int] = {}
    for name, value in items:
        param = declared.get(name)
        if param is None:
            raise _query_error(f"Additional properties not allowed: {_shown(name)}")
        if name in found:
            raise _query_error("Parameter given more than once", name)
        if "\x00" in value:
            raise _query_error("NUL characters are not allowed", name)
        found[name] = _typed(param, value)
    for param in params:
        if param.required and param.name not in found:
            raise _query_error(f"Missing required property: {param.name}")
    return found


def check_path(values: Mapping[str, Any]) -> dict[str, str]:
    """Path parameters as strings; a NUL character in one is a 400 ``invalid_uri``."""
    out: dict[str, str] = {}
    for name, value in values.items():
        text = str(value)
        if "\x00" in text:
            raise InvalidUri(f"Path validation error: NUL characters are not allowed in {name}.")
        out[name] = text
    return out


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise InvalidBody(
                f"Payload validation error: '{_shown(name)}' is given more than once."
            )
        out[name] = value
    return out


def _no_constants(name: str) -> Any:
    raise InvalidBody(f"Payload validation error: {name} is not a JSON number.")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _media_type(content_type: str | None) -> str:
    media, _, params = (content_type or "").partition(";")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise InvalidBody("Only the UTF-8 charset is supported")
    return media.strip().lower()


def parse_body(raw: bytes, content_type: str | None, *, expected: bool) -> dict[str, Any] | None:
    """The JSON object of a call that takes one (``expected``); None for one that does
    not, which must then come without a body."""
    if not expected:
        if raw.strip():
            raise InvalidBody("Payload validation error: this endpoint takes no request body.")
        return None
    if _media_type(content_type) != JSON_MEDIA_TYPE:
        raise InvalidBody(f"Payload validation error: Content-Type must be {JSON_MEDIA_TYPE}.")
    try:
        text = raw.decode("utf-8")
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
        has_nul = _has_nul(document)
    except InvalidBody:
        raise
    except (ValueError, RecursionError):
        raise InvalidBody(_INVALID_JSON) from None
    if not isinstance(document, dict):
        raise InvalidBody("Payload validation error: the body must be a JSON object.")
    if has_nul:
        raise InvalidBody("Payload validation error: NUL characters are not allowed.")
    return document
