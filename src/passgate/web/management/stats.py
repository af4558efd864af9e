"""``/api/v2/stats/daily`` and ``/api/v2/stats/active-users``, through ``management.stats``."""

from __future__ import annotations

from passgate.management.stats import MAX_DAYS, Stats
from passgate.web.management.operations import Answer, Call, Operation, QueryParam, Reply

__all__ = ["stats_operations"]

READ = ("read:stats",)
_TIME = {"type": "string", "format": "date-time"}
_DAILY = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["date", "logins", "signups", "leaked_passwords", "created_at", "updated_at"],
        "properties": {
            "date": _TIME,
            "logins": {"type": "integer"},
            "signups": {"type": "integer"},
            "leaked_passwords": {"type": "integer"},
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
}


def _day(name: str, text: str) -> QueryParam:
    return QueryParam(name, f"{text} (YYYYMMDD, UTC).", min_length=1, max_length=8)


def stats_operations(stats: Stats) -> list[Operation]:
    def daily(call: Call) -> Reply:
        start, end = call.query.get("from"), call.query.get("to")
        return Reply(
            stats.daily(None if start is None else str(start), None if end is None else str(end))
        )

    def active_users(call: Call) -> Reply:
        return Reply(stats.active_users())

    return [
        Operation(
            method="GET",
            path="/stats/daily",
            scopes=READ,
            summary="Get daily stats",
            description="Successful logins (s, sepft), sign-ups (ss) and leaked passwords "
            "(pwd_leak, signup_pwd_leak, reset_pwd_leak) per UTC day, every day of the range "
            f"(by default the last 30 days; at most {MAX_DAYS} days).",
            operation_id="get_daily",
            tag="stats",
            handler=daily,
            answer=Answer(200, "One entry per day, oldest first.", _DAILY),
            query=(_day("from", "The first day"), _day("to", "The last day")),
        ),
        Operation(
            method="GET",
            path="/stats/active-users",
            scopes=READ,
            summary="Get active users count",
            description="Users with a successful login in the last 30 days.",
            operation_id="get_active-users",
            tag="stats",
            handler=active_users,
            answer=Answer(200, "The number of active users.", {"type": "integer"}),
        ),
    ]
