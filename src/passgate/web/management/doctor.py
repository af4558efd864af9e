"""``GET /api/v2/passgate/doctor``: what is wrong with the deployment, through
``management.doctor`` (a passgate extension: Auth0 has no such endpoint)."""

from __future__ import annotations

from passgate.domain.doctor import LOGIN_EVENTS
from passgate.management.doctor import DEFAULT_SINCE, MAX_EVENTS, Doctor
from passgate.web.management.operations import Answer, Call, Operation, QueryParam, Reply

__all__ = ["DOCTOR_SCHEMA", "doctor_operations"]

READ = ("read:doctor",)
DOCTOR_SCHEMA = {
    "type": "object",
    "required": ["findings"],
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "severity", "message", "fix"],
                "properties": {
                    "code": {"type": "string"},
                    "severity": {"type": "string", "enum": ["error", "warning", "info"]},
                    "client_id": {"type": "string"},
                    "message": {"type": "string"},
                    "fix": {"type": "string"},
                },
            },
        }
    },
}


def doctor_operations(doctor: Doctor) -> list[Operation]:
    def check(call: Call) -> Reply:
        since = call.query.get("since")
        return Reply(doctor.report(None if since is None else str(since)))

    return [
        Operation(
            method="GET",
            path="/passgate/doctor",
            scopes=READ,
            summary="Check the deployment (passgate extension)",
            description="A passgate extension, not part of Auth0's Management API: what is "
            "wrong with this deployment, each finding with a stable code, a severity, the "
            "client it is about (when it is about one), what is wrong in plain words and the "
            "fix. Reads the password exchanges (" + ", ".join(LOGIN_EVENTS) + ") since "
            f"`since` (at most the newest {MAX_EVENTS:,}) and this server's configuration; "
            "the same findings as `passgate doctor --json`. Errors and warnings need "
            "action; info findings say what was checked.",
            operation_id="get_passgate_doctor",
            tag="passgate",
            handler=check,
            answer=Answer(200, "The findings, errors first.", DOCTOR_SCHEMA),
            query=(
                QueryParam(
                    "since",
                    f"How far back events are read: a duration (30m, 12h, 7d, 2w) or an ISO "
                    f"8601 date or time; default {DEFAULT_SINCE}.",
                    min_length=1,
                    max_length=64,
                ),
            ),
        ),
    ]
