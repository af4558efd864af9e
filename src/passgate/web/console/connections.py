"""``/admin/connections`` (the Users area): the database connections, each with its
password policy in words, a form for the policy and sign-up options and the applications
that may use it, and a form to create one. Every change is a Management API body for
``management.connections`` (its checks, its refusals naming the option): the form's
options are laid over the stored ones (:class:`OptionEdits`), so keys the form does not
show are kept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.connection_options import MAX_HISTORY_SIZE, rules_of
from passgate.domain.login import RequestContext
from passgate.domain.models import Connection
from passgate.domain.password_policy import LEVELS
from passgate.errors import BadRequest
from passgate.management.connection_edits import OptionEdits
from passgate.management.connections import (
    MAX_NAME,
    ConnectionChange,
    ConnectionQuery,
    NewConnection,
)
from passgate.web.console.console import Console, Done
from passgate.web.console.forms import Form
from passgate.web.console.session import Visit

__all__ = ["connections_routes"]

_PATH = "/admin/connections"


def _href(connection_id: str) -> str:
    return f"{_PATH}/{quote(connection_id, safe='')}"


def _level(form: Form) -> str:
    level = form.text("password_policy", max_length=20)
    if level not in LEVELS:
        raise BadRequest(f"Password strength: unknown level {level[:20]!r}")
    return level


def _edits(form: Form) -> OptionEdits:
    """The whole form as changes: every option it shows is set from it."""
    policy = _level(form)
    min_length = form.whole("min_length", "Minimum length")
    if min_length is not None and min_length < 1:
        raise BadRequest(
            "Minimum length (min_length): from 1 to 128, or empty for the strength's own"
        )
    history = form.flag("history")
    size = form.whole("history_size", "Passwords remembered")
    if history and (size is None or size < 1):
        raise BadRequest(
            f"Passwords remembered (password_history): from 1 to {MAX_HISTORY_SIZE} when the "
            "history is on"
        )
    low = form.whole("username_min", "Shortest username")
    high = form.whole("username_max", "Longest username")
    return OptionEdits(
        password_policy=policy,
        min_length=min_length or 0,
        history_size=size if history and size else 0,
        dictionary=form.flag("dictionary"),
        dictionary_words=tuple(form.lines("dictionary_words", max_items=1000)),
        personal_info=form.flag("personal_info"),
        signup=form.flag("signup"),
        requires_username=form.flag("requires_username"),
        username_min=low,
        username_max=high,
        clear_username_bounds=low is None and high is None,
        brute_force=form.flag("brute_force"),
    )


def _view(connection: Connection) -> dict[str, Any]:
    """What the pages show of a connection: its options read as rules."""
    options = connection.options
    rules = rules_of(options)
    complexity = options.get("password_complexity_options")
    dictionary = options.get("password_dictionary")
    return {
        "connection": connection,
        "rules": rules,
        "min_length": complexity.get("min_length", "") if isinstance(complexity, Mapping) else "",
        "own_words": dictionary.get("dictionary") or [] if isinstance(dictionary, Mapping) else [],
        "level": connection.options.get("passwordPolicy") or "none",
        "policy": [line.lstrip("* ").strip() for line in rules.strength.summary().splitlines()],
    }


def connections_routes(console: Console) -> list[Route]:
    service = console.services.connections
    clients = console.services.applications.clients

    async def listing(request: Request, visit: Visit) -> Response:
        found = await console.run_io(service.find, ConnectionQuery())
        context = {
            "title": "Connections",
            "current": "connections",
            "connections": [_view(connection) for connection in found],
            "levels": LEVELS,
            "max_name": MAX_NAME,
            "done": request.query_params.get("done", ""),
        }
        return console.render(request, visit, "connections.html", context)

    async def detail(request: Request, visit: Visit) -> Response:
        connection_id = str(request.path_params["connection_id"])

        def read() -> tuple[Connection, list[Any]]:
            return service.get(connection_id), clients.all()

        connection, every_client = await console.run_io(read)
        context = {
            "title": connection.name,
            "current": "connections",
            **_view(connection),
            "clients": every_client,
            "levels": LEVELS,
            "max_history": MAX_HISTORY_SIZE,
            "href": _href(connection.id),
            "done": request.query_params.get("done", ""),
        }
        return console.render(request, visit, "connection.html", context)

    async def create(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        policy = _level(form)
        body: dict[str, Any] = {
            "name": form.text("name", max_length=MAX_NAME + 1),
            "strategy": "auth0",
            "options": {"passwordPolicy": policy},
        }
        new = NewConnection.from_body(body)
        every = form.flag("all_clients")
        made = await console.run_io(service.create, new, all_clients=every)
        changes = {**body, "id": made.id, "enabled_clients": list(made.enabled_clients)}
        return Done(changes=changes, redirect=_href(made.id) + "?done=created", status=201)

    async def save(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        connection_id = str(request.path_params["connection_id"])
        edits = _edits(form)
        chosen = form.many("enabled_clients")

        def update() -> Connection:
            current = service.get(connection_id)
            body = {"options": edits.applied(current.options), "enabled_clients": chosen}
            return service.update(connection_id, ConnectionChange.from_body(body))

        updated = await console.run_io(update)
        changes = {
            "id": updated.id,
            "options": dict(updated.options),
            "enabled_clients": list(updated.enabled_clients),
        }
        return Done(changes=changes, redirect=_href(updated.id) + "?done=saved")

    one = _PATH + "/{connection_id}"
    return [
        console.page(_PATH, listing),
        console.page(one, detail),
        console.action(_PATH + "/create", create, summary="Create a connection", back=_PATH),
        console.action(one, save, summary="Update a connection", back=_PATH),
    ]
