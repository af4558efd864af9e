"""``/admin/logs``: the event log, searched with the Management API's query language
(``q``) and filters by type, IP, user, client and date, newest first, 50 a page; a live
tail (the page's script polls ``/admin/logs/tail`` for what is newer); and each event's
page with every field, ``ip`` beside ``client_ip`` and why a forwarded header was
ignored. Every search goes through ``management.logs.LogService`` (``GET /api/v2/logs``'s
own checks: a bad query is a message on the page, not an error)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.log_query import (
    DateSpan,
    InvalidLogRequest,
    Node,
    Term,
    all_of,
    any_of,
    format_query,
)
from passgate.management.logs import LogService, parse_search
from passgate.web.console.console import Console
from passgate.web.console.render import PAGE_HEADERS
from passgate.web.console.session import Visit
from passgate.web.responses import JSONResponse

__all__ = ["FILTERS", "logs_routes", "search_text"]

PER_PAGE = 50
MAX_PAGE = 10_000
_MAX_TEXT = 2000
#: The filter fields of the search form, by query parameter.
FILTERS = ("type", "ip", "user", "client", "from", "to")


def _moment_ms(text: str, name: str) -> int:
    """A date (``2026-12-05``) or date and time (``2026-12-05T14:30``), in UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidLogRequest(
            name, f"{name}: not a date (YYYY-MM-DD, optionally THH:MM)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def search_text(params: Mapping[str, str]) -> str:
    """The search the form's fields make, as one ``q`` of the query language."""
    nodes: list[Node | None] = []
    q = params.get("q", "").strip()
    if q:
        nodes.append(parse_search(q))
    if params.get("type", "").strip():
        types = params["type"].replace(",", " ").split()
        nodes.append(any_of(*(Term("type", kind) for kind in types)))
    if params.get("ip", "").strip():
        nodes.append(
            any_of(Term("ip", params["ip"].strip()), Term("client_ip", params["ip"].strip()))
        )
    if params.get("user", "").strip():
        user = params["user"].strip()
        nodes.append(any_of(Term("user_id", user), Term("user_name", user)))
    if params.get("client", "").strip():
        client = params["client"].strip()
        nodes.append(any_of(Term("client_id", client), Term("client_name", client)))
    start = params.get("from", "").strip()
    end = params.get("to", "").strip()
    if start or end:
        nodes.append(
            DateSpan(
                _moment_ms(start, "from") if start else None,
                _moment_ms(end, "to") if end else None,
            )
        )
    node = all_of(*nodes)
    return "" if node is None else format_query(node)


def _params(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "")[:_MAX_TEXT] for name in ("q", *FILTERS)}


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "0")
    return min(int(text), MAX_PAGE) if text.isdigit() and len(text) < 7 else 0


def _ip_reason(log: Mapping[str, Any]) -> str | None:
    details = log.get("details")
    if not isinstance(details, Mapping):
        return None
    note = details.get("ip_header") or details.get("x_forwarded_for")
    return None if note is None else str(note)


def logs_routes(console: Console) -> list[Route]:
    service: LogService = console.services.logs

    async def page(request: Request, visit: Visit) -> Response:
        params = _params(request)
        number = _page_number(request)
        error = None
        logs: list[Any] = []
        query = ""
        try:
            query = search_text(params)
            found = await console.run_io(
                service.list_logs,
                [("q", query), ("page", str(number)), ("per_page", str(PER_PAGE))],
            )
            logs = list(found) if isinstance(found, list) else list(found["logs"])
        except InvalidLogRequest as exc:
            error = str(exc)
        kept = {name: value for name, value in params.items() if value}
        context = {
            "title": "Logs",
            "current": "logs",
            "params": params,
            "logs": logs,
            "error": error,
            "query": query,
            "number": number,
            "newer": urlencode({**kept, "page": number - 1}) if number > 0 else None,
            "older": urlencode({**kept, "page": number + 1}) if len(logs) == PER_PAGE else None,
            "tail": urlencode({"q": query}),
            "reason": _ip_reason,
        }
        return console.render(
            request, visit, "logs.html", context, status_code=400 if error else 200
        )

    async def tail(request: Request, visit: Visit) -> Response:
        after = request.query_params.get("after", "")[:64]
        query = request.query_params.get("q", "")[:_MAX_TEXT]
        try:
            found = await console.run_io(
                service.list_logs, [("q", query), ("from", after), ("take", "50")]
            )
        except InvalidLogRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=dict(PAGE_HEADERS))
        logs = found if isinstance(found, list) else found["logs"]
        rows = [
            {
                "log_id": log["log_id"],
                "date": log.get("date"),
                "type": log.get("type"),
                "description": log.get("description"),
                "ip": log.get("ip"),
                "user_name": log.get("user_name"),
                "client_name": log.get("client_name"),
            }
            for log in logs
        ]
        return JSONResponse({"logs": rows}, headers=dict(PAGE_HEADERS))

    async def event(request: Request, visit: Visit) -> Response:
        log_id = request.path_params["log_id"]
        log = await console.run_io(service.get_log, log_id)
        if log is None:
            return console.error_page(
                request, visit, 404, "No such event", "No event has this log_id.", "/admin/logs"
            )
        details = log.get("details")
        context = {
            "title": f"Event {log.get('type', '')}",
            "current": "logs",
            "log": log,
            "fields": [(name, value) for name, value in log.items() if name != "details"],
            "details": json.dumps(details, indent=2, ensure_ascii=False, sort_keys=True)
            if details
            else None,
            "reason": _ip_reason(log),
        }
        return console.render(request, visit, "log_event.html", context)

    return [
        console.page("/admin/logs", page),
        console.page("/admin/logs/tail", tail, touch=False),
        console.page("/admin/logs/{log_id}", event),
    ]
