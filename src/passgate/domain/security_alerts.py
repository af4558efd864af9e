"""Security alerts, in the manner of Auth0's Security Center: thresholds per hour, and
which hours crossed them.

Three threats, each judged on one UTC hour's counts (``domain/rollups``' hourly metrics):

- ``credential_stuffing``: at least ``failed_logins_per_hour`` failed logins against at
  least ``min_accounts`` distinct accounts (many accounts, not one account guessed at:
  brute-force protection answers that one);
- ``signup_attack``: at least ``signups_per_hour`` sign-up attempts (``ss`` and ``fs``);
- ``breached_passwords``: at least ``hits_per_hour`` breached-password detections
  (``pwd_leak``, ``signup_pwd_leak``, ``reset_pwd_leak``).

:class:`AlertPolicy` is the tenant setting ``security_alerts`` in its Management API
shape: ``to_json``/``from_json`` (unknown fields, wrong types and out-of-range values
raise :class:`~passgate.domain.policy.PolicyError` naming the field) and :func:`patch`
(objects merged field by field; ``webhook_url`` may be set to null to remove it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from passgate.domain.policy import PolicyError

__all__ = [
    "KINDS",
    "THRESHOLD_RANGE",
    "TITLES",
    "AlertPolicy",
    "Crossing",
    "crossings",
    "patch",
]

#: Every threshold is a count per hour in this range.
THRESHOLD_RANGE = (1, 10_000_000)
#: The threats, each with its thresholds: field -> (metric counted, default).
KINDS: Mapping[str, Mapping[str, tuple[str, int]]] = {
    "credential_stuffing": {
        "failed_logins_per_hour": ("failed_logins", 100),
        "min_accounts": ("failed_accounts", 10),
    },
    "signup_attack": {"signups_per_hour": ("signup_attempts", 100)},
    "breached_passwords": {"hits_per_hour": ("breached_passwords", 10)},
}
TITLES: Mapping[str, str] = {
    "credential_stuffing": "Credential stuffing",
    "signup_attack": "Sign-up attack",
    "breached_passwords": "Breached passwords",
}
MAX_URL = 2048


def _object(value: object, path: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{path or 'body'}: must be an object")
    for name in value:
        if name not in known:
            where = f"{path}.{name}" if path else str(name)
            raise PolicyError(f"{where}: unknown field (expected one of {', '.join(known)})")
    return value


def _threshold(value: object, path: str) -> int:
    low, high = THRESHOLD_RANGE
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{path}: must be an integer")
    if not low <= value <= high:
        raise PolicyError(f"{path}: must be between {low} and {high}, not {value}")
    return value


def _flag(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{path}: must be true or false")
    return value


def _webhook(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        raise PolicyError(f"webhook_url: must be an http(s) URL of at most {MAX_URL} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise PolicyError("webhook_url: must not hold spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise PolicyError("webhook_url: malformed host or port") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PolicyError("webhook_url: must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise PolicyError("webhook_url: must not carry a user name or password")
    if parts.fragment:
        raise PolicyError("webhook_url: must not have a fragment")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class AlertPolicy:
    """The ``security_alerts`` tenant setting; defaults when never set."""

    enabled: bool = True
    #: kind -> enabled
    kinds: Mapping[str, bool] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(KINDS, True)
    )
    #: (kind, field) -> threshold
    thresholds: Mapping[tuple[str, str], int] = dataclasses.field(
        default_factory=lambda: {
            (kind, name): default
            for kind, fields in KINDS.items()
            for name, (_, default) in fields.items()
        }
    )
    webhook_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"enabled": self.enabled}
        for kind, fields in KINDS.items():
            document[kind] = {
                "enabled": self.kinds[kind],
                **{name: self.thresholds[kind, name] for name in fields},
            }
        document["webhook_url"] = self.webhook_url
        return document

    @classmethod
    def from_json(cls, value: object) -> AlertPolicy:
        document = _object(value, "", ("enabled", *KINDS, "webhook_url"))
        default = cls()
        kinds = dict(default.kinds)
        thresholds = dict(default.thresholds)
        for kind, fields in KINDS.items():
            if kind not in document:
                continue
            section = _object(document[kind], kind, ("enabled", *fields))
            if "enabled" in section:
                kinds[kind] = _flag(section["enabled"], f"{kind}.enabled")
            for name in fields:
                if name in section:
                    thresholds[kind, name] = _threshold(section[name], f"{kind}.{name}")
        return cls(
            enabled=_flag(document.get("enabled", True), "enabled"),
            kinds=kinds,
            thresholds=thresholds,
            webhook_url=_webhook(document.get("webhook_url")),
        )

    def threshold(self, kind: str) -> dict[str, int]:
        """The thresholds of ``kind``, by field."""
        return {name: self.thresholds[kind, name] for name in KINDS[kind]}

    def active(self, kind: str) -> bool:
        return self.enabled and self.kinds[kind]


def patch(current: AlertPolicy, body: object) -> AlertPolicy:
    """``current`` with a PATCH ``body`` applied (objects merged field by field); raises
    :class:`PolicyError` and changes nothing when a field is refused."""
    document = _object(body, "", ("enabled", *KINDS, "webhook_url"))
    merged = current.to_json()
    for name, value in document.items():
        if name in KINDS:
            section = _object(value, name, ("enabled", *KINDS[name]))
            for field, inner in section.items():
                if inner is None:
                    raise PolicyError(f"{name}.{field}: must not be null")
            merged[name] = {**merged[name], **section}
        elif value is None and name != "webhook_url":
            raise PolicyError(f"{name}: must not be null")
        else:
            merged[name] = value
    return AlertPolicy.from_json(merged)


@dataclasses.dataclass(frozen=True, slots=True)
class Crossing:
    """One hour in which one threat's thresholds were all reached."""

    kind: str
    hour: int
    #: metric -> the hour's count (the ones the thresholds name)
    counts: Mapping[str, int]
    #: field -> threshold
    threshold: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "hour": self.hour,
            "counts": dict(self.counts),
            "threshold": dict(self.threshold),
        }


def crossings(
    policy: AlertPolicy, hourly: Mapping[tuple[int, str], int], hours: list[int]
) -> list[Crossing]:
    """Every (threat, hour) of ``hours`` whose counts in ``hourly`` ((hour, metric) ->
    count) reach all of the threat's thresholds, oldest hour first. Disabled threats
    (and everything, when the policy is disabled) are never crossed."""
    found: list[Crossing] = []
    for hour in sorted(hours):
        for kind, fields in KINDS.items():
            if not policy.active(kind):
                continue
            counts = {metric: hourly.get((hour, metric), 0) for metric, _ in fields.values()}
            threshold = policy.threshold(kind)
            if all(counts[fields[name][0]] >= threshold[name] for name in fields):
                found.append(Crossing(kind, hour, counts, threshold))
    return found
