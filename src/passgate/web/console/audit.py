"""The audit event of every change made in the console: ``sapi`` when it was made,
``fapi`` when it was refused, with the administrator as the actor (``user_id``,
``user_name`` and ``details.actor``) and the console as the client, in the shape the
Management API's own audit events have (``details.request``, ``details.response``,
``details.changes`` with values of secret-like fields replaced)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from passgate.domain.admins import ADMIN_CONNECTION
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.login import RequestContext
from passgate.management.admins import CONSOLE_CLIENT_NAME
from passgate.web.console.session import Visit
from passgate.web.management.routes import redacted

__all__ = ["ConsoleAudit", "actor_context"]

_TEXT = 300


def actor_context(visit: Visit, ip: str, user_agent: str | None) -> RequestContext:
    """Who asks, as the events a service writes name them: the console, from ``ip``."""
    return RequestContext(
        ip=ip, client_ip=ip, client_name=CONSOLE_CLIENT_NAME, user_agent=user_agent
    )


class ConsoleAudit:
    def __init__(self, events: EventSink, clock: Clock) -> None:
        self._events = events
        self._clock = clock

    def record(
        self,
        visit: Visit,
        context: RequestContext,
        *,
        summary: str,
        method: str,
        path: str,
        status: int,
        changes: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        succeeded = status < 400
        admin = visit.admin
        response: dict[str, Any] = {"statusCode": status}
        details: dict[str, Any] = {
            "request": {
                "method": method.lower(),
                "path": path[:_TEXT],
                "channel": "console",
            },
            "response": response,
            "actor": {"type": "admin", "id": admin.id, "email": admin.email, "role": admin.role},
        }
        if succeeded:
            details["changes"] = redacted(changes or {})
        else:
            response["error"] = (error or "")[:_TEXT]
        self._events.emit(
            Event(
                type="sapi" if succeeded else "fapi",
                date=self._clock(),
                description=summary,
                user_id=admin.id,
                user_name=admin.email,
                **context.event_fields(),
                details=details,
            )
        )

    def logged_out(self, visit: Visit, context: RequestContext) -> None:
        """``slo``: the administrator logged out."""
        self._events.emit(
            Event(
                type="slo",
                date=self._clock(),
                connection=ADMIN_CONNECTION,
                user_id=visit.admin.id,
                user_name=visit.admin.email,
                **context.event_fields(),
            )
        )
