"""A database connection's ``options`` in Auth0's names: checked, and read as rules.

:func:`check_options` takes the JSON object a client sends and answers the object to
store, or raises :class:`OptionError` naming the first refused property (Auth0's limits).
Options passgate acts on:

- ``passwordPolicy``: ``none``, ``low``, ``fair``, ``good``, ``excellent`` or null
  (null or absent: ``none``, as Auth0);
- ``password_complexity_options``: ``{"min_length": 1..128}`` (raises the level's minimum);
- ``password_history``: ``{"enable": bool, "size": 1..24}`` (size 5 when not given);
- ``password_dictionary``: ``{"enable": bool, "dictionary": [up to 200 words of 1..50
  characters]}``;
- ``password_no_personal_info``: ``{"enable": bool}``;
- ``disable_signup``, ``requires_username``, ``brute_force_protection`` (booleans;
  absent: false, false, true);
- ``validation``: ``{"username": {"min": 1..128, "max": 1..128}}`` (min <= max).

Other keys (Auth0 has many: ``import_mode``, ``customScripts``...) are kept as sent and
shown back, never acted on: an options object read from Auth0 (or from ``GET``) can be
sent back as it is. They must be plain names, and the whole object at most
:data:`MAX_OPTIONS_BYTES` of JSON.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from passgate.domain.password_policy import LEVELS, StrengthPolicy
from passgate.errors import InvalidValue

__all__ = [
    "DEFAULT_HISTORY_SIZE",
    "KNOWN_OPTIONS",
    "MAX_DICTIONARY_WORDS",
    "MAX_HISTORY_SIZE",
    "MAX_OPTIONS_BYTES",
    "MIGRATED_OPTIONS",
    "ConnectionRules",
    "OptionError",
    "check_options",
    "rules_of",
]

MAX_HISTORY_SIZE = 24
DEFAULT_HISTORY_SIZE = 5
MAX_MIN_LENGTH = 128
MAX_DICTIONARY_WORDS = 200
MAX_DICTIONARY_WORD = 50
MAX_USERNAME_LENGTH = 128
#: Auth0's username bounds when ``requires_username`` is on and no ``validation`` is set.
DEFAULT_USERNAME_BOUNDS = (1, 15)
MAX_OPTIONS_BYTES = 64 * 1024
_OTHER_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
KNOWN_OPTIONS = (
    "passwordPolicy",
    "password_complexity_options",
    "password_history",
    "password_dictionary",
    "password_no_personal_info",
    "disable_signup",
    "requires_username",
    "validation",
    "brute_force_protection",
)
#: What a connection that existed before connections had options gets, and what a
#: connection created without the Management API (a fresh install's default) starts with:
#: the fixed rule passgate had (at least 8 characters), sign-up on.
MIGRATED_OPTIONS: dict[str, Any] = {
    "passwordPolicy": "low",
    "password_complexity_options": {"min_length": 8},
    "brute_force_protection": True,
    "disable_signup": False,
}

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


class OptionError(InvalidValue):
    """A refused option: ``problem`` in words, ``field`` its path (``options.x.y``)."""

    def __init__(self, problem: str, field: str) -> None:
        super().__init__(f"{problem} on property {field}")
        self.problem = problem
        self.field = field


def _type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _object(value: object, field: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise OptionError(f"Expected type object but found type {_type(value)}", field)
    extra = [str(key) for key in value if key not in allowed]
    if extra:
        raise OptionError(f"Additional properties not allowed: {', '.join(extra)}", field)
    return value


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise OptionError(f"Expected type boolean but found type {_type(value)}", field)
    return value


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"Expected type integer but found type {_type(value)}", field)
    if not low <= value <= high:
        raise OptionError(f"Value {value} is not between {low} and {high}", field)
    return value


def _enable(value: object, field: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    found = _object(value, field, ("enable", *extra))
    if "enable" not in found:
        raise OptionError("Missing required property: enable", field)
    return {"enable": _bool(found["enable"], f"{field}.enable")}


def _dictionary(value: object, field: str) -> dict[str, Any]:
    out = _enable(value, field, ("dictionary",))
    words = value["dictionary"] if isinstance(value, dict) and "dictionary" in value else None
    if words is None:
        return out
    where = f"{field}.dictionary"
    if not isinstance(words, list):
        raise OptionError(f"Expected type array but found type {_type(words)}", where)
    if len(words) > MAX_DICTIONARY_WORDS:
        raise OptionError(
            f"Array is too long ({len(words)}), maximum {MAX_DICTIONARY_WORDS}", where
        )
    for index, word in enumerate(words):
        if not isinstance(word, str):
            raise OptionError(
                f"Expected type string but found type {_type(word)}", f"{where}[{index}]"
            )
        if not 1 <= len(word) <= MAX_DICTIONARY_WORD or "\x00" in word:
            raise OptionError(
                f"String must be 1 to {MAX_DICTIONARY_WORD} characters, no NUL",
                f"{where}[{index}]",
            )
    out["dictionary"] = list(words)
    return out


def _validation(value: object, field: str) -> dict[str, Any]:
    found = _object(value, field, ("username",))
    if "username" not in found or found["username"] is None:
        return {"username": None} if "username" in found else {}
    where = f"{field}.username"
    bounds = _object(found["username"], where, ("min", "max"))
    out: dict[str, Any] = {}
    for name in ("min", "max"):
        if name in bounds:
            out[name] = _int(bounds[name], f"{where}.{name}", 1, MAX_USERNAME_LENGTH)
    if out.get("min", 1) > out.get("max", MAX_USERNAME_LENGTH):
        raise OptionError("min must not be greater than max", where)
    return {"username": out}


def check_options(options: object, field: str = "options") -> dict[str, Any]:
    """``options`` as stored: checked, the known keys in their canonical form, other keys
    kept as sent. Raises :class:`OptionError`."""
    if not isinstance(options, dict):
        raise OptionError(f"Expected type object but found type {_type(options)}", field)
    out: dict[str, Any] = {}
    for key, value in options.items():
        where = f"{field}.{key}"
        if key == "passwordPolicy":
            if value is not None and value not in LEVELS:
                raise OptionError(f"No enum match for: {str(value)[:40]!r}", where)
            out[key] = value
        elif key == "password_complexity_options":
            found = _object(value, where, ("min_length",))
            out[key] = {
                name: _int(found[name], f"{where}.{name}", 1, MAX_MIN_LENGTH) for name in found
            }
        elif key == "password_history":
            history = _enable(value, where, ("size",))
            if isinstance(value, dict) and "size" in value:
                history["size"] = _int(value["size"], f"{where}.size", 1, MAX_HISTORY_SIZE)
            out[key] = history
        elif key == "password_dictionary":
            out[key] = _dictionary(value, where)
        elif key == "password_no_personal_info":
            out[key] = _enable(value, where)
        elif key in ("disable_signup", "requires_username", "brute_force_protection"):
            out[key] = _bool(value, where)
        elif key == "validation":
            out[key] = _validation(value, where) if value is not None else None
        elif not isinstance(key, str) or not _OTHER_KEY.fullmatch(key):
            raise OptionError("Property names are letters, digits and _ (1 to 100)", where)
        else:
            out[key] = value
    size = len(json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_OPTIONS_BYTES:
        raise OptionError(f"Too large ({size} bytes of JSON), maximum {MAX_OPTIONS_BYTES}", field)
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionRules:
    """What a connection's options make passgate do."""

    strength: StrengthPolicy = dataclasses.field(default_factory=StrengthPolicy)
    #: How many recent passwords are refused, the current one included (0: no history).
    history_size: int = 0
    dictionary: bool = False
    #: The connection's own words, lower-cased.
    words: frozenset[str] = frozenset()
    no_personal_info: bool = False
    disable_signup: bool = False
    requires_username: bool = False
    #: Username length bounds, or None when not limited (beyond the column's).
    username_bounds: tuple[int, int] | None = None
    brute_force: bool = True


def _enabled(options: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = options.get(key)
    return value if isinstance(value, Mapping) and value.get("enable") is True else None


def rules_of(options: Mapping[str, Any]) -> ConnectionRules:
    """The rules of stored (checked) options."""
    level = options.get("passwordPolicy") or "none"
    complexity = options.get("password_complexity_options")
    min_length = complexity.get("min_length") if isinstance(complexity, Mapping) else None
    history = _enabled(options, "password_history")
    dictionary = _enabled(options, "password_dictionary")
    words = frozenset(str(word).lower() for word in (dictionary or {}).get("dictionary", ()) or ())
    requires_username = options.get("requires_username") is True
    validation = options.get("validation")
    bounds: tuple[int, int] | None = None
    username = validation.get("username") if isinstance(validation, Mapping) else None
    if isinstance(username, Mapping):
        low, high = DEFAULT_USERNAME_BOUNDS if requires_username else (1, MAX_USERNAME_LENGTH)
        bounds = (int(username.get("min", low)), int(username.get("max", high)))
    elif requires_username:
        bounds = DEFAULT_USERNAME_BOUNDS
    return ConnectionRules(
        strength=StrengthPolicy(level=level, min_length=min_length),
        history_size=int(history.get("size", DEFAULT_HISTORY_SIZE)) if history else 0,
        dictionary=dictionary is not None,
        words=words,
        no_personal_info=_enabled(options, "password_no_personal_info") is not None,
        disable_signup=options.get("disable_signup") is True,
        requires_username=requires_username,
        username_bounds=bounds,
        brute_force=options.get("brute_force_protection") is not False,
    )
