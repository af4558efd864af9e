"""``/admin/login`` and ``/admin/logout``.

The login form posts an email and a password, and a token equal to a cookie set with the
form (login CSRF). The check is :class:`~passgate.management.admins.AdminLogins`: the
server's attack protection counts the connecting IP (``PASSGATE_TRUSTED_PROXIES``
honoured), an unknown email and a wrong password get the same answer, and each attempt
is logged. A success starts a session (a new token: nothing from before the login is
kept) and goes on to the page asked for, if it is a console page.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.login import RequestContext
from passgate.errors import (
    BRUTE_FORCE_MESSAGE,
    WRONG_CREDENTIALS_MESSAGE,
    InvalidGrant,
    ManagementError,
    OAuthError,
    PasswordLeaked,
    ServiceUnavailable,
    StorageError,
    TooManyAttempts,
)
from passgate.management.admins import CONSOLE_CLIENT_NAME, AdminLogins
from passgate.support.crypto import new_secret
from passgate.web.console.console import Console
from passgate.web.console.forms import read_form
from passgate.web.console.session import (
    LOGIN_COOKIE,
    csrf_matches,
    is_https,
    login_token_matches,
)
from passgate.web.errors import error_status

__all__ = ["ADMIN_BLOCKED", "auth_routes", "safe_next"]

_LOGIN_PATH = "/admin/login"
#: What a blocked administrator reads instead of the end users' message (no unblock email
#: is sent to administrators).
ADMIN_BLOCKED = (
    "Logins to this account from your IP address are blocked after too many failed "
    "attempts. Another administrator can lift the block on the console's Blocks page."
)
_MAX_NEXT = 2000


def safe_next(target: str | None) -> str:
    """Where to go after the login: a console path, never another site."""
    if (
        not target
        or len(target) > _MAX_NEXT
        or not target.startswith("/admin")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x21 for c in target)
        or target.startswith(_LOGIN_PATH)
    ):
        return "/admin"
    return target


def auth_routes(console: Console, logins: AdminLogins) -> list[Route]:
    def form_page(
        request: Request,
        *,
        email: str = "",
        message: str | None = None,
        status: int = 200,
        next_path: str = "/admin",
    ) -> Response:
        token = new_secret(24)
        response = console.render(
            request,
            None,
            "login.html",
            {
                "title": "Log in",
                "login_token": token,
                "email": email,
                "message": message,
                "next": next_path,
            },
            status_code=status,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            path=_LOGIN_PATH,
            secure=console.sessions.secure or is_https(request),
            httponly=True,
            samesite="strict",
        )
        return response

    async def show(request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"))
        try:
            if await console.visit(request, touch=False) is not None:
                return console.redirect(next_path)
        except StorageError:
            pass
        return form_page(request, next_path=next_path)

    async def submit(request: Request) -> Response:
        try:
            form = await read_form(request, console.max_body_bytes)
            email = form.one("email") or ""
            password = form.one("password") or ""
            next_path = safe_next(form.one("next"))
            token = form.one("login_token")
        except ManagementError as exc:
            return form_page(request, message=exc.message, status=400)
        if not login_token_matches(request.cookies.get(LOGIN_COOKIE), token):
            message = "The login form was out of date. Please try again."
            return form_page(request, email=email, message=message, status=403)
        context = RequestContext(
            ip=console.ip(request),
            client_ip=console.ip(request),
            client_name=CONSOLE_CLIENT_NAME,
            user_agent=request.headers.get("user-agent"),
        )
        try:
            admin = await console.run_io(logins.login, email, password, context)
            del password
            session_token = await console.run_io(console.sessions.start, admin)
        except (InvalidGrant, TooManyAttempts, PasswordLeaked, ServiceUnavailable) as exc:
            message = exc.description or WRONG_CREDENTIALS_MESSAGE
            if message == BRUTE_FORCE_MESSAGE:
                message = ADMIN_BLOCKED
            response = form_page(
                request,
                email=email,
                message=message,
                status=error_status(exc),
                next_path=next_path,
            )
            if isinstance(exc, TooManyAttempts) and exc.retry_after is not None:
                response.headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
            return response
        except (OAuthError, StorageError):
            message = "Logging in is not possible now. Try again later."
            return form_page(request, email=email, message=message, status=503)
        response = console.redirect(next_path)
        console.sessions.set_cookie(response, request, session_token)
        response.delete_cookie(LOGIN_COOKIE, path=_LOGIN_PATH)
        return response

    async def logout(request: Request) -> Response:
        visit = await console.visit(request, touch=False)
        if visit is None:
            return console.redirect(_LOGIN_PATH)
        try:
            form = await read_form(request, console.max_body_bytes)
            csrf = form.one("csrf")
        except ManagementError:
            csrf = None
        if not csrf_matches(visit, csrf):
            message = "The form's security token is missing or out of date. Reload the page."
            return console.error_page(request, visit, 403, "Refused", message)
        await console.run_io(console.sessions.end, visit)
        console.audit.logged_out(visit, console.context(request, visit))
        response = console.redirect(_LOGIN_PATH)
        console.sessions.clear_cookie(response, request)
        return response

    return [
        Route(_LOGIN_PATH, show, methods=["GET"]),
        Route(_LOGIN_PATH, submit, methods=["POST"]),
        Route("/admin/logout", logout, methods=["POST"]),
    ]
