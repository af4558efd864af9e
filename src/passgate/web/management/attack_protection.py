"""``GET/PATCH /api/v2/attack-protection/{brute-force-protection, suspicious-ip-throttling,
breached-password-detection}``: the policies, through ``management.attack_protection``.

The schemas are built from the policies' own constants (``domain.policy``), so the
document's enums and bounds are the ones the PATCH enforces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from passgate.domain.policy import (
    ADMIN_FREQUENCIES,
    BREACHED_METHODS,
    BREACHED_SHIELDS,
    BREACHED_STAGE_SHIELDS,
    BRUTE_FORCE_MODES,
    BRUTE_FORCE_SHIELDS,
    MAX_ATTEMPTS_RANGE,
    STAGE_LIMITS,
    THROTTLE_SHIELDS,
    PolicyError,
)
from passgate.management.attack_protection import (
    BREACHED_PASSWORD,
    BRUTE_FORCE,
    SUSPICIOUS_IP,
    AttackProtection,
)
from passgate.management.errors import InvalidBody
from passgate.web.management.operations import Answer, Call, Operation, Reply

__all__ = ["attack_protection_operations", "payload_error"]

READ = ("read:attack_protection",)
UPDATE = ("update:attack_protection",)
_MESSAGE_MAX = 500


def payload_error(exc: PolicyError) -> InvalidBody:
    """A refused field in Auth0's words: ``… 'what is wrong' on property FIELD.``"""
    field, _, problem = str(exc).partition(": ")
    text = f"Payload validation error: '{problem}' on property {field}."
    if len(text) > _MESSAGE_MAX:
        text = text[: _MESSAGE_MAX - 1] + "…"
    return InvalidBody(text)


def _strings(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "enum": list(values)}}


_ALLOWLIST = {
    "type": "array",
    "description": "IP addresses and CIDR ranges (host bits zero) never counted or blocked.",
    "items": {
        "type": "string",
        "anyOf": [
            {"format": "ipv4"},
            {"format": "ipv6"},
            {"format": "cidr"},
            {"format": "ipv6_cidr"},
        ],
    },
}


def _integer(bounds: tuple[int, int]) -> dict[str, Any]:
    return {"type": "integer", "minimum": bounds[0], "maximum": bounds[1]}


def _object(properties: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if complete:
        schema["required"] = list(properties)
    return schema


def _brute_force(complete: bool) -> dict[str, Any]:
    return _object(
        {
            "enabled": {"type": "boolean"},
            "shields": _strings(BRUTE_FORCE_SHIELDS),
            "allowlist": _ALLOWLIST,
            "mode": {"type": "string", "enum": list(BRUTE_FORCE_MODES)},
            "max_attempts": _integer(MAX_ATTEMPTS_RANGE),
        },
        complete=complete,
    )


def _throttle_stage(stage: str, complete: bool) -> dict[str, Any]:
    attempts, rate = STAGE_LIMITS[stage]
    return _object({"max_attempts": _integer(attempts), "rate": _integer(rate)}, complete=complete)


def _suspicious_ip(complete: bool) -> dict[str, Any]:
    stages = {stage: _throttle_stage(stage, complete) for stage in STAGE_LIMITS}
    return _object(
        {
            "enabled": {"type": "boolean"},
            "shields": _strings(THROTTLE_SHIELDS),
            "allowlist": _ALLOWLIST,
            "stage": _object(stages, complete=complete),
        },
        complete=complete,
    )


def _breached_password(complete: bool) -> dict[str, Any]:
    stage = _object({"shields": _strings(BREACHED_STAGE_SHIELDS)}, complete=complete)
    return _object(
        {
            "enabled": {"type": "boolean"},
            "shields": _strings(BREACHED_SHIELDS),
            "admin_notification_frequency": _strings(ADMIN_FREQUENCIES),
            "method": {"type": "string", "enum": list(BREACHED_METHODS)},
            "stage": _object(
                {"pre-user-registration": stage, "pre-change-password": stage},
                complete=complete,
            ),
        },
        complete=complete,
    )


_SECTIONS = (
    (BRUTE_FORCE, "Brute-force", _brute_force),
    (SUSPICIOUS_IP, "Suspicious IP Throttling", _suspicious_ip),
    (BREACHED_PASSWORD, "Breached Password Detection", _breached_password),
)


def _section_operations(
    service: AttackProtection, section: str, title: str, schema: Callable[[bool], Any]
) -> list[Operation]:
    def read(call: Call) -> Reply:
        return Reply(service.get(section).to_json())

    def update(call: Call) -> Reply:
        try:
            done = service.update(section, call.body)
        except PolicyError as exc:
            raise payload_error(exc) from None
        return Reply(done.policy.to_json(), changes=done.changes)

    path = f"/attack-protection/{section}"
    return [
        Operation(
            method="GET",
            path=path,
            scopes=READ,
            summary=f"Get {title} settings",
            operation_id=f"get_{section}",
            tag="attack-protection",
            handler=read,
            answer=Answer(200, f"The {title} settings.", schema(True)),
        ),
        Operation(
            method="PATCH",
            path=path,
            scopes=UPDATE,
            summary=f"Update {title} settings",
            description="Fields left out keep their value; objects are merged field by "
            "field, arrays replaced whole. A refused field changes nothing.",
            operation_id=f"patch_{section}",
            tag="attack-protection",
            handler=update,
            answer=Answer(200, f"The {title} settings after the change.", schema(True)),
            body=schema(False),
        ),
    ]


def attack_protection_operations(service: AttackProtection) -> list[Operation]:
    """GET and PATCH of the three attack-protection policies."""
    operations: list[Operation] = []
    for section, title, schema in _SECTIONS:
        operations += _section_operations(service, section, title, schema)
    return operations
