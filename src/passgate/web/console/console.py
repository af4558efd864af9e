"""What every console page and form goes through.

:meth:`Console.page` makes a ``GET`` route that needs a live session (else a redirect to
the login page). :meth:`Console.action` makes a ``POST`` route that changes something:

1. a live session, else a redirect to the login page;
2. the administrator's role must be ``admin``: a ``viewer`` gets 403 (and ``fapi``);
3. the form is read strictly (400) and must carry the session's CSRF token (403);
4. the handler runs (it calls the Management API's services) and answers; ``sapi`` is
   written with what changed, or ``fapi`` with why it was refused (a refusal shows the
   service's message on an error page, status as the Management API would answer).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from passgate.domain.clock import Clock
from passgate.domain.login import RequestContext
from passgate.domain.policy import PolicyError
from passgate.errors import ManagementError, OAuthError, PassgateError, StorageError
from passgate.management.password_resets import PasswordResets
from passgate.management.services import ManagementServices
from passgate.support.io_pool import RunIo
from passgate.web.console.audit import ConsoleAudit, actor_context
from passgate.web.console.forms import Form, read_form
from passgate.web.console.render import PAGE_HEADERS, Renderer
from passgate.web.console.session import SESSION_COOKIE, Sessions, Visit, csrf_matches
from passgate.web.errors import error_status
from passgate.web.management.attack_protection import payload_error

__all__ = ["ActionHandler", "Console", "Done", "PageHandler"]

logger = logging.getLogger("passgate.web")

ConnectingIp = Callable[[str | None, list[str]], str]
PageHandler = Callable[[Request, Visit], Awaitable[Response]]


@dataclasses.dataclass(frozen=True, slots=True)
class Done:
    """What a change did: ``changes`` for the audit event, and where to go next (a
    redirect, 303) or a ``response`` to show instead (a secret shown once)."""

    changes: Mapping[str, Any]
    redirect: str | None = None
    response: Response | None = None
    #: The entity's status for the audit event (201 for a creation, say).
    status: int = 200


ActionHandler = Callable[[Request, Visit, Form, RequestContext], Awaitable[Done]]
VIEWER_REFUSAL = "Your role (viewer) can look at everything but change nothing."
CSRF_REFUSAL = (
    "The form's security token is missing or out of date. Go back, reload the page and try again."
)


class Console:
    def __init__(
        self,
        *,
        renderer: Renderer,
        sessions: Sessions,
        audit: ConsoleAudit,
        services: ManagementServices,
        run_io: RunIo,
        connecting_ip: ConnectingIp,
        max_body_bytes: int,
        clock: Clock,
        password_resets: PasswordResets,
    ) -> None:
        self.renderer = renderer
        self.password_resets = password_resets
        self.clock = clock
        self.sessions = sessions
        self.audit = audit
        self.services = services
        self.run_io = run_io
        self._connecting_ip = connecting_ip
        self.max_body_bytes = max_body_bytes

    # -- who asks ----------------------------------------------------------------------
    def ip(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return self._connecting_ip(peer, request.headers.getlist("x-forwarded-for"))

    def context(self, request: Request, visit: Visit) -> RequestContext:
        return actor_context(visit, self.ip(request), request.headers.get("user-agent"))

    async def visit(self, request: Request, *, touch: bool = True) -> Visit | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        result: Visit | None = await self.run_io(self.sessions.visit, token, touch=touch)
        return result

    # -- answers -----------------------------------------------------------------------
    def render(
        self,
        request: Request,
        visit: Visit | None,
        template: str,
        context: Mapping[str, Any],
        *,
        status_code: int = 200,
    ) -> Response:
        shared = {"visit": visit, "csrf": visit.csrf if visit else "", "current": ""}
        return self.renderer.page(request, template, {**shared, **context}, status_code=status_code)

    def error_page(
        self,
        request: Request,
        visit: Visit | None,
        status: int,
        title: str,
        message: str,
        back: str | None = None,
    ) -> Response:
        context = {"title": title, "message": message, "back": back}
        return self.render(request, visit, "error.html", context, status_code=status)

    @staticmethod
    def to_login(request: Request) -> Response:
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        location = "/admin/login?next=" + quote(target, safe="/")
        return RedirectResponse(location, status_code=303, headers=dict(PAGE_HEADERS))

    @staticmethod
    def redirect(location: str) -> Response:
        return RedirectResponse(location, status_code=303, headers=dict(PAGE_HEADERS))

    # -- routes ------------------------------------------------------------------------
    def page(self, path: str, handler: PageHandler, *, touch: bool = True) -> Route:
        """A ``GET`` route for administrators with a live session."""

        async def endpoint(request: Request) -> Response:
            try:
                visit = await self.visit(request, touch=touch)
                if visit is None:
                    return self.to_login(request)
                return await handler(request, visit)
            except ManagementError as exc:
                return self.error_page(request, None, error_status(exc), "Refused", exc.message)
            except StorageError:
                logger.exception("a console page could not reach the database")
                return self.error_page(
                    request, None, 503, "Unavailable", "The database is not reachable now."
                )

        return Route(path, endpoint, methods=["GET"])

    def action(self, path: str, handler: ActionHandler, *, summary: str, back: str) -> Route:
        """A ``POST`` route that changes something (see the module's docstring)."""

        async def endpoint(request: Request) -> Response:
            try:
                visit = await self.visit(request)
            except StorageError:
                return self.error_page(
                    request, None, 503, "Unavailable", "The database is not reachable now."
                )
            if visit is None:
                return self.to_login(request)
            context = self.context(request, visit)

            def audit(status: int, **fields: Any) -> None:
                self.audit.record(
                    visit,
                    context,
                    summary=summary,
                    method="POST",
                    path=request.url.path,
                    status=status,
                    **fields,
                )

            if not visit.can_change:
                audit(403, error=VIEWER_REFUSAL)
                return self.error_page(request, visit, 403, "Not allowed", VIEWER_REFUSAL, back)
            try:
                form = await read_form(request, self.max_body_bytes)
                if not csrf_matches(visit, form.one("csrf")):
                    audit(403, error="missing or wrong CSRF token")
                    return self.error_page(request, visit, 403, "Refused", CSRF_REFUSAL, back)
                done = await handler(request, visit, form, context)
            except PolicyError as exc:
                message = payload_error(exc).message
                audit(400, error=message)
                return self.error_page(request, visit, 400, "Not saved", message, back)
            except ManagementError as exc:
                status = error_status(exc)
                audit(status, error=exc.message)
                return self.error_page(request, visit, status, "Not done", exc.message, back)
            except OAuthError as exc:
                status = error_status(exc)
                audit(status, error=exc.description)
                return self.error_page(request, visit, status, "Not done", exc.description, back)
            except (StorageError, PassgateError) as exc:
                logger.warning("a console change failed: %s", exc)
                audit(503, error="the service is unavailable")
                message = "The change could not be made now. Try again later."
                return self.error_page(request, visit, 503, "Unavailable", message, back)
            audit(done.status, changes=done.changes)
            if done.response is not None:
                return done.response
            return self.redirect(done.redirect or back)

        return Route(path, endpoint, methods=["POST"])
