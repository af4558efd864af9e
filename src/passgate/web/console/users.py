"""``/admin/users``: users of the database connections, searched with ``GET
/api/v2/users``'s query (``email:…``, ``username:…``, a bare word, ``alice*``), created,
blocked and unblocked, sent a password-reset email, deleted: through
``management.users`` (its checks: password policy, breached passwords, duplicates)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.login import RequestContext
from passgate.management.user_fields import NewUser, UserChange, read_search
from passgate.management.users import Actor
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.web.console.console import ActionHandler, Console, Done
from passgate.web.console.forms import Form
from passgate.web.console.session import Visit

__all__ = ["ACTOR", "users_routes"]

ACTOR = "administrator (console)"
_PATH = "/admin/users"
PER_PAGE = 50


def users_routes(console: Console) -> list[Route]:
    users = console.services.tenant.users

    async def page(request: Request, visit: Visit) -> Response:
        q = request.query_params.get("q", "").strip()[:2000]
        text = request.query_params.get("page", "0")
        number = min(int(text), 100_000) if text.isdigit() and len(text) < 7 else 0

        def read() -> object:
            found, _ = users.search(read_search(q or None), page=number, per_page=PER_PAGE)
            return list(found)

        found = await console.run_io(read)
        kept = {"q": q} if q else {}
        context = {
            "title": "Users",
            "current": "users",
            "q": q,
            "users": found,
            "number": number,
            "newer": urlencode({**kept, "page": number - 1}) if number > 0 else None,
            "older": urlencode({**kept, "page": number + 1})
            if isinstance(found, list) and len(found) == PER_PAGE
            else None,
            "done": request.query_params.get("done", ""),
            "connection": DEFAULT_CONNECTION,
        }
        return console.render(request, visit, "users.html", context)

    def back(form: Form, done: str) -> str:
        q = form.text("q", max_length=2000)
        return _PATH + "?" + urlencode({"q": q, "done": done} if q else {"done": done})

    async def create(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        body: dict[str, object] = {
            "email": form.text("email", max_length=1000),
            "password": form.one("password") or "",
            "connection": form.text("connection", max_length=200) or DEFAULT_CONNECTION,
        }
        username = form.text("username", max_length=1000)
        if username:
            body["username"] = username
        made = await console.run_io(users.create, NewUser.from_body(body), Actor(ACTOR, context))
        changes = {"user_id": made.id, "email": made.email, "connection": made.connection}
        return Done(changes=changes, redirect=back(form, "created"), status=201)

    def user_of(request: Request) -> str:
        return str(request.path_params["user_id"])

    def blocker(blocked: bool) -> ActionHandler:
        async def change(
            request: Request, visit: Visit, form: Form, context: RequestContext
        ) -> Done:
            user_id = user_of(request)
            change = UserChange.from_body({"blocked": blocked})
            await console.run_io(users.update, user_id, change, Actor(ACTOR, context))
            done = "blocked" if blocked else "unblocked"
            return Done(changes={"user_id": user_id, "blocked": blocked}, redirect=back(form, done))

        return change

    async def reset(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        user_id = user_of(request)
        client = await console.run_io(console.password_resets.send, user_id, context)
        changes = {
            "user_id": user_id,
            "password_reset_email": "sent",
            "client_id": client.client_id,
        }
        return Done(changes=changes, redirect=back(form, "reset"))

    async def delete(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        user_id = user_of(request)
        await console.run_io(users.delete, user_id)
        return Done(changes={"user_id": user_id, "deleted": True}, redirect=back(form, "deleted"))

    one = _PATH + "/{user_id}"
    return [
        console.page(_PATH, page),
        console.action(_PATH + "/create", create, summary="Create a user", back=_PATH),
        console.action(one + "/block", blocker(True), summary="Update a user", back=_PATH),
        console.action(one + "/unblock", blocker(False), summary="Update a user", back=_PATH),
        console.action(one + "/reset", reset, summary="Send a password reset email", back=_PATH),
        console.action(one + "/delete", delete, summary="Delete a user", back=_PATH),
    ]
