"""Attack-protection policies, in the Management API's shapes (SPEC §3, §4, §5).

Each policy is a frozen dataclass holding Auth0's defaults and validating itself;
``to_json()`` gives the ``GET`` body, ``from_json()`` reads one (missing fields take their
defaults; unknown fields, wrong types and out-of-range values raise :class:`PolicyError`
naming the field), and :func:`merge_patch` applies a ``PATCH`` body: objects are merged
field by field, arrays and values replaced, and nothing changes when it fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from passgate.domain.allowlist import Allowlist, parse_network
from passgate.errors import InvalidValue

__all__ = [
    "ADMIN_FREQUENCIES",
    "BREACHED_METHODS",
    "BREACHED_SHIELDS",
    "BREACHED_STAGE_SHIELDS",
    "BRUTE_FORCE_MODES",
    "BRUTE_FORCE_SHIELDS",
    "MAX_ATTEMPTS_RANGE",
    "STAGE_LIMITS",
    "THROTTLE_SHIELDS",
    "BreachedPasswordPolicy",
    "BruteForcePolicy",
    "Policy",
    "PolicyError",
    "SuspiciousIpPolicy",
    "ThrottleStage",
    "merge_patch",
]

JsonObject = dict[str, Any]


class PolicyError(InvalidValue):
    """A policy document or patch was refused; the message names the field."""


# --- field readers ------------------------------------------------------------------


def _object(value: object, path: str, known: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{path or 'body'}: must be an object")
    for name in value:
        if name not in known:
            where = f"{path}.{name}" if path else str(name)
            raise PolicyError(f"{where}: unknown field (expected one of {', '.join(known)})")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{path}: must be true or false")
    return value


def _int(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{path}: must be an integer")
    if not low <= value <= high:
        raise PolicyError(f"{path}: must be between {low} and {high}, not {value}")
    return value


def _choice(value: object, path: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise PolicyError(f"{path}: must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _choices(value: object, path: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A list of distinct values from ``allowed`` (duplicates dropped, order kept)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PolicyError(f"{path}: must be an array")
    chosen: list[str] = []
    for index, item in enumerate(value):
        item = _choice(item, f"{path}[{index}]", allowed)
        if item not in chosen:
            chosen.append(item)
    return tuple(chosen)


def _ip_list(value: object, path: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PolicyError(f"{path}: must be an array of IP addresses or CIDR ranges")
    entries: list[str] = []
    for index, item in enumerate(value):
        try:
            parse_network(item)
        except ValueError as exc:
            raise PolicyError(f"{path}[{index}]: {exc}") from None
        entries.append(item.strip())
    return tuple(entries)


# --- brute force --------------------------------------------------------------------

BRUTE_FORCE_SHIELDS = ("block", "user_notification")
BRUTE_FORCE_MODES = ("count_per_identifier_and_ip", "count_per_identifier")
#: ``max_attempts`` bounds, inclusive.
MAX_ATTEMPTS_RANGE = (1, 100)


@dataclass(frozen=True)
class BruteForcePolicy:
    """``/api/v2/attack-protection/brute-force-protection``."""

    enabled: bool = True
    shields: tuple[str, ...] = ("block", "user_notification")
    allowlist: tuple[str, ...] = ()
    mode: str = "count_per_identifier_and_ip"
    max_attempts: int = 10

    def __post_init__(self) -> None:
        _bool(self.enabled, "enabled")
        object.__setattr__(self, "shields", _choices(self.shields, "shields", BRUTE_FORCE_SHIELDS))
        object.__setattr__(self, "allowlist", _ip_list(self.allowlist, "allowlist"))
        _choice(self.mode, "mode", BRUTE_FORCE_MODES)
        _int(self.max_attempts, "max_attempts", *MAX_ATTEMPTS_RANGE)

    @cached_property
    def ip_allowlist(self) -> Allowlist:
        return Allowlist.parse(self.allowlist)

    def to_json(self) -> JsonObject:
        return {
            "enabled": self.enabled,
            "shields": list(self.shields),
            "allowlist": list(self.allowlist),
            "mode": self.mode,
            "max_attempts": self.max_attempts,
        }

    @classmethod
    def from_json(cls, data: object) -> BruteForcePolicy:
        body = _object(data, "", ("enabled", "shields", "allowlist", "mode", "max_attempts"))
        return cls(**body)


# --- suspicious IP throttling -------------------------------------------------------

THROTTLE_SHIELDS = ("block", "admin_notification")
#: stage: (max_attempts bounds, rate bounds in ms), inclusive.
STAGE_LIMITS = {
    "pre-login": ((1, 2500), (34560, 86400000)),
    "pre-user-registration": ((1, 72000), (1200, 86400000)),
}


@dataclass(frozen=True)
class ThrottleStage:
    #: Bucket capacity.
    max_attempts: int
    #: Milliseconds for one attempt to come back.
    rate: int

    def to_json(self) -> JsonObject:
        return {"max_attempts": self.max_attempts, "rate": self.rate}


def _stage(value: object, path: str, default: ThrottleStage) -> ThrottleStage:
    if isinstance(value, ThrottleStage):
        value = value.to_json()
    body = _object(value, path, ("max_attempts", "rate"))
    (low_n, high_n), (low_r, high_r) = STAGE_LIMITS[path.rsplit(".", 1)[-1]]
    return ThrottleStage(
        max_attempts=_int(
            body.get("max_attempts", default.max_attempts), f"{path}.max_attempts", low_n, high_n
        ),
        rate=_int(body.get("rate", default.rate), f"{path}.rate", low_r, high_r),
    )


_PRE_LOGIN = ThrottleStage(max_attempts=100, rate=864000)
_PRE_USER_REGISTRATION = ThrottleStage(max_attempts=50, rate=1200)


@dataclass(frozen=True)
class SuspiciousIpPolicy:
    """``/api/v2/attack-protection/suspicious-ip-throttling``."""

    enabled: bool = True
    shields: tuple[str, ...] = ("admin_notification", "block")
    allowlist: tuple[str, ...] = ()
    pre_login: ThrottleStage = field(default=_PRE_LOGIN)
    pre_user_registration: ThrottleStage = field(default=_PRE_USER_REGISTRATION)

    def __post_init__(self) -> None:
        _bool(self.enabled, "enabled")
        object.__setattr__(self, "shields", _choices(self.shields, "shields", THROTTLE_SHIELDS))
        object.__setattr__(self, "allowlist", _ip_list(self.allowlist, "allowlist"))
        stage = "stage.pre-login"
        object.__setattr__(self, "pre_login", _stage(self.pre_login, stage, _PRE_LOGIN))
        stage = "stage.pre-user-registration"
        object.__setattr__(
            self,
            "pre_user_registration",
            _stage(self.pre_user_registration, stage, _PRE_USER_REGISTRATION),
        )

    @cached_property
    def ip_allowlist(self) -> Allowlist:
        return Allowlist.parse(self.allowlist)

    def to_json(self) -> JsonObject:
        return {
            "enabled": self.enabled,
            "shields": list(self.shields),
            "allowlist": list(self.allowlist),
            "stage": {
                "pre-login": self.pre_login.to_json(),
                "pre-user-registration": self.pre_user_registration.to_json(),
            },
        }

    @classmethod
    def from_json(cls, data: object) -> SuspiciousIpPolicy:
        body = dict(_object(data, "", ("enabled", "shields", "allowlist", "stage")))
        stages = _object(body.pop("stage", {}), "stage", ("pre-login", "pre-user-registration"))
        return cls(
            **body,
            pre_login=_stage(stages.get("pre-login", {}), "stage.pre-login", _PRE_LOGIN),
            pre_user_registration=_stage(
                stages.get("pre-user-registration", {}),
                "stage.pre-user-registration",
                _PRE_USER_REGISTRATION,
            ),
        )


# --- breached password detection ----------------------------------------------------

BREACHED_SHIELDS = ("block", "user_notification", "admin_notification")
BREACHED_STAGE_SHIELDS = ("block", "admin_notification")
ADMIN_FREQUENCIES = ("immediately", "daily", "weekly", "monthly")
BREACHED_METHODS = ("standard",)


@dataclass(frozen=True)
class BreachedPasswordPolicy:
    """``/api/v2/attack-protection/breached-password-detection``.

    ``method`` accepts only ``standard``: passgate checks a local corpus, it has no
    "enhanced" (Credential Guard) source.
    """

    enabled: bool = True
    shields: tuple[str, ...] = ("block", "user_notification", "admin_notification")
    admin_notification_frequency: tuple[str, ...] = ("immediately",)
    method: str = "standard"
    pre_user_registration_shields: tuple[str, ...] = ("block",)
    pre_change_password_shields: tuple[str, ...] = ("block",)

    def __post_init__(self) -> None:
        _bool(self.enabled, "enabled")
        object.__setattr__(self, "shields", _choices(self.shields, "shields", BREACHED_SHIELDS))
        frequency = _choices(
            self.admin_notification_frequency, "admin_notification_frequency", ADMIN_FREQUENCIES
        )
        object.__setattr__(self, "admin_notification_frequency", frequency)
        if self.method != "standard":
            raise PolicyError(f"method: only 'standard' is supported, not {self.method!r}")
        for name, path in (
            ("pre_user_registration_shields", "stage.pre-user-registration.shields"),
            ("pre_change_password_shields", "stage.pre-change-password.shields"),
        ):
            value = _choices(getattr(self, name), path, BREACHED_STAGE_SHIELDS)
            object.__setattr__(self, name, value)

    def to_json(self) -> JsonObject:
        return {
            "enabled": self.enabled,
            "shields": list(self.shields),
            "admin_notification_frequency": list(self.admin_notification_frequency),
            "method": self.method,
            "stage": {
                "pre-user-registration": {"shields": list(self.pre_user_registration_shields)},
                "pre-change-password": {"shields": list(self.pre_change_password_shields)},
            },
        }

    @classmethod
    def from_json(cls, data: object) -> BreachedPasswordPolicy:
        known = ("enabled", "shields", "admin_notification_frequency", "method", "stage")
        body = dict(_object(data, "", known))
        stages = _object(
            body.pop("stage", {}), "stage", ("pre-user-registration", "pre-change-password")
        )
        extra: dict[str, Any] = {}
        for stage, name in (
            ("pre-user-registration", "pre_user_registration_shields"),
            ("pre-change-password", "pre_change_password_shields"),
        ):
            if stage in stages:
                settings = _object(stages[stage], f"stage.{stage}", ("shields",))
                if "shields" in settings:
                    extra[name] = settings["shields"]
        return cls(**body, **extra)


# --- PATCH ----------------------------------------------------------------------------

Policy = TypeVar("Policy", BruteForcePolicy, SuspiciousIpPolicy, BreachedPasswordPolicy)


def _merge(current: Mapping[str, Any], patch: Mapping[str, Any], path: str) -> JsonObject:
    merged = dict(current)
    for name, value in patch.items():
        where = f"{path}.{name}" if path else str(name)
        if value is None:
            raise PolicyError(f"{where}: must not be null")
        old = merged.get(name)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[name] = _merge(old, value, where)
        else:
            merged[name] = value
    return merged


def merge_patch(current: Policy, patch: object) -> Policy:
    """``current`` with a ``PATCH`` body applied; :class:`PolicyError` if it is refused.

    Nested objects (``stage``) are merged field by field; arrays are replaced whole.
    """
    if not isinstance(patch, Mapping):
        raise PolicyError("body: must be an object")
    return type(current).from_json(_merge(current.to_json(), patch, ""))
