"""``GET /api/v2/passgate/dashboard`` (through ``management.dashboard``) and
``GET/PATCH /api/v2/passgate/security-alerts`` (through ``management.security_alerts``):
passgate extensions, Auth0 has no such endpoints."""

from __future__ import annotations

from typing import Any

from passgate.domain.policy import PolicyError
from passgate.domain.rollups import ACCOUNT_FIELDS, IP_FIELDS, SERIES, WINDOWS
from passgate.domain.security_alerts import KINDS, THRESHOLD_RANGE
from passgate.management.dashboard import DEFAULT_WINDOW, Dashboard
from passgate.management.security_alerts import AlertSettings
from passgate.web.management.attack_protection import payload_error
from passgate.web.management.operations import Answer, Call, Operation, QueryParam, Reply

__all__ = ["DASHBOARD_SCHEMA", "dashboard_operations"]

READ = ("read:dashboard",)
READ_SETTINGS = ("read:attack_protection",)
UPDATE_SETTINGS = ("update:attack_protection",)

_TIME = {"type": "string", "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}


def _counts(names: tuple[str, ...] | list[str], **extra: Any) -> dict[str, Any]:
    properties = {**extra, **{name: _COUNT for name in names}}
    return {"type": "object", "required": list(properties), "properties": properties}


_THRESHOLD = {"type": "integer", "minimum": THRESHOLD_RANGE[0], "maximum": THRESHOLD_RANGE[1]}
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "window",
        "bucket",
        "from",
        "to",
        "series",
        "totals",
        "top_ips",
        "top_accounts",
        "threats",
        "alerts",
        "rollup",
    ],
    "properties": {
        "window": {"type": "string", "enum": list(WINDOWS)},
        "bucket": {"type": "string", "enum": ["hour", "day"]},
        "from": _TIME,
        "to": _TIME,
        "series": {"type": "array", "items": _counts(list(SERIES), start=_TIME)},
        "totals": _counts(list(SERIES)),
        "top_ips": {
            "type": "array",
            "items": _counts([*IP_FIELDS, "total"], ip={"type": "string"}),
        },
        "top_accounts": {
            "type": "array",
            "items": _counts([*ACCOUNT_FIELDS, "total"], account={"type": "string"}),
        },
        "threats": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "title", "detected", "active", "hours", "peak", "threshold"],
                "properties": {
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "title": {"type": "string"},
                    "detected": {"type": "boolean"},
                    "active": {"type": "boolean"},
                    "hours": _COUNT,
                    "first": {"type": ["string", "null"], "format": "date-time"},
                    "last": {"type": ["string", "null"], "format": "date-time"},
                    "peak": {
                        "type": "object",
                        "required": ["hour"],
                        "properties": {"hour": _TIME},
                        "additionalProperties": _COUNT,
                    },
                    "threshold": {"type": "object", "additionalProperties": _THRESHOLD},
                    "alerts_enabled": {"type": "boolean"},
                    "description": {"type": ["string", "null"]},
                },
            },
        },
        "alerts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "title", "hour", "date"],
                "properties": {
                    "kind": {"type": "string"},
                    "title": {"type": "string"},
                    "hour": _TIME,
                    "date": _TIME,
                },
            },
        },
        "rollup": {
            "type": "object",
            "required": ["pending_events", "updated_at", "seq"],
            "properties": {
                "pending_events": _COUNT,
                "updated_at": {"type": ["string", "null"], "format": "date-time"},
                "seq": _COUNT,
            },
        },
    },
}


def _alerts_schema(complete: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"enabled": {"type": "boolean"}}
    for kind, fields in KINDS.items():
        inner = {"enabled": {"type": "boolean"}, **{name: _THRESHOLD for name in fields}}
        section: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": inner,
        }
        if complete:
            section["required"] = list(inner)
        properties[kind] = section
    properties["webhook_url"] = {
        "type": ["string", "null"],
        "format": "uri",
        "maxLength": 2048,
        "description": "An http(s) URL that gets each alert as a JSON POST; null for none.",
    }
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if complete:
        schema["required"] = list(properties)
    return schema


def dashboard_operations(dashboard: Dashboard, alerts: AlertSettings) -> list[Operation]:
    def read(call: Call) -> Reply:
        window = call.query.get("window")
        return Reply(dashboard.report(None if window is None else str(window)))

    def read_alerts(call: Call) -> Reply:
        return Reply(alerts.get().to_json())

    def update_alerts(call: Call) -> Reply:
        try:
            policy, changes = alerts.update(call.body)
        except PolicyError as exc:
            raise payload_error(exc) from None
        return Reply(policy.to_json(), changes=changes)

    return [
        Operation(
            method="GET",
            path="/passgate/dashboard",
            scopes=READ,
            summary="Get the attack dashboard (passgate extension)",
            description="A passgate extension, not part of Auth0's Management API: for the "
            "last 24 hours (per hour) or 7 or 30 days (per UTC day), successful logins "
            "(s, sepft), failed logins (fp, fu, and fepft refused for a wrong identifier "
            "or password), brute-force blocks (limit_wc), IP throttles (limit_mu), "
            "breached-password hits (pwd_leak, signup_pwd_leak, reset_pwd_leak) and sign-ups "
            "(ss); the IPs and accounts with the most of these; the threats whose alert "
            "thresholds an hour of the window reached. Served from hourly aggregates that "
            "every server keeps up to date within about a second.",
            operation_id="get_passgate_dashboard",
            tag="passgate",
            handler=read,
            answer=Answer(200, "The dashboard of the window.", DASHBOARD_SCHEMA),
            query=(
                QueryParam(
                    "window",
                    f"The range: {', '.join(WINDOWS)}; default {DEFAULT_WINDOW}.",
                    min_length=1,
                    max_length=8,
                    documented={"type": "string", "enum": list(WINDOWS)},
                ),
            ),
        ),
        Operation(
            method="GET",
            path="/passgate/security-alerts",
            scopes=READ_SETTINGS,
            summary="Get the security alert thresholds (passgate extension)",
            description="Per hour: failed logins against many accounts (credential "
            "stuffing), sign-up attempts, breached-password hits. When an hour reaches a "
            "threat's thresholds, the administrators (admin_emails) get one email, the "
            "webhook (if any) one POST, and the log one security_alert event, once per "
            "threat and hour whatever the number of servers.",
            operation_id="get_passgate_security_alerts",
            tag="passgate",
            handler=read_alerts,
            answer=Answer(200, "The thresholds.", _alerts_schema(True)),
        ),
        Operation(
            method="PATCH",
            path="/passgate/security-alerts",
            scopes=UPDATE_SETTINGS,
            summary="Update the security alert thresholds (passgate extension)",
            description="Fields left out keep their value; objects are merged field by "
            "field. A refused field changes nothing.",
            operation_id="patch_passgate_security_alerts",
            tag="passgate",
            handler=update_alerts,
            answer=Answer(200, "The thresholds after the change.", _alerts_schema(True)),
            body=_alerts_schema(False),
        ),
    ]
