"""``POST /dbconnections/signup``, ``POST /dbconnections/change_password`` and the
password reset page (``GET``/``POST /reset-password``).

The logic lives in :class:`~passgate.accounts.service.Accounts`; this module reads bodies (JSON or
form, size-capped), answers refusals in Auth0's ``/dbconnections`` shape (through
:mod:`passgate.web.errors`) and serves the small reset page: server-rendered, every value
HTML-escaped, no external assets, never cached, no referrer. The page needs no CSRF
token: the reset ticket is the secret, and it travels back in the form body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from html import escape

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from passgate.accounts.service import (
    RESET_REQUESTED_MESSAGE,
    AccountError,
    Accounts,
    PendingReset,
    ResetForm,
    ResetTicketInvalid,
    UnreadableBody,
)
from passgate.domain.login import RequestContext
from passgate.errors import InvalidRequest
from passgate.oauth.request import parse_body, parse_json_object
from passgate.support.io_pool import run_in_pool
from passgate.web.body import read_body
from passgate.web.errors import error_response, error_status
from passgate.web.pages import message_page, page, template
from passgate.web.responses import NO_STORE, JSONResponse

__all__ = ["dbconnections_routes"]

logger = logging.getLogger("passgate.web")

ConnectingIp = Callable[[str | None, list[str]], str]


_RESET_FORM = template("reset_form.html")


# -- bodies ----------------------------------------------------------------------------
def _is_json(content_type: str | None) -> bool:
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() != "application/json":
        return False
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise InvalidRequest("Only the UTF-8 charset is supported")
    return True


def parse_fields(content_type: str | None, body: bytes) -> dict[str, object]:
    """Body fields: a JSON object (values of any JSON type) or a form (strings).

    Non-string JSON values are kept (``user_metadata`` is an object in Auth0's API); the
    fields that are read must be strings, which :mod:`passgate.accounts.service` checks.
    """
    if not _is_json(content_type):
        return dict(parse_body(content_type, body))  # a form, or a refused Content-Type
    return parse_json_object(body)


# -- pages -----------------------------------------------------------------------------
def _invalid_link(message: str | None = None) -> HTMLResponse:
    error = ResetTicketInvalid(message)
    return message_page("Link invalid or expired", error.description, error_status(error))


def _form_page(
    accounts: Accounts, form: ResetForm, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    content = _RESET_FORM.substitute(
        email=escape(form.user.email),
        ticket=escape(form.ticket),
        min_length=form.policy.minimum,
        max_length=form.policy.max_length,
        policy="<br>".join(escape(line) for line in form.policy.summary().splitlines()),
        error=f'<p class="error" role="alert">{escape(error)}</p>' if error else "",
    )
    return page("Reset your password", content, status_code)


# -- routes ----------------------------------------------------------------------------
def dbconnections_routes(
    accounts: Accounts,
    *,
    max_body_bytes: int = 16 * 1024,
    connecting_ip: ConnectingIp | None = None,
    hash_pool: Executor | None = None,
    io_pool: Executor | None = None,
) -> list[Route]:
    """The routes, given their dependencies.

    ``connecting_ip(peer, x_forwarded_for_values)`` resolves the client IP behind trusted
    proxies (``Passgate.connecting_ip``); without it the TCP peer is used. Work that
    hashes a password runs in ``hash_pool``, other blocking work in ``io_pool`` (the
    loop's default executor when not given).
    """

    def context_of(request: Request) -> RequestContext:
        peer = request.client.host if request.client else None
        if connecting_ip is not None:
            ip = connecting_ip(peer, request.headers.getlist("x-forwarded-for"))
        else:
            ip = peer or "unknown"
        return RequestContext(
            ip=ip, client_ip=ip, user_agent=request.headers.get("user-agent") or None
        )

    async def fields_of(request: Request) -> dict[str, object]:
        body = await read_body(request, max_body_bytes)
        return parse_fields(request.headers.get("content-type"), body)

    async def signup(request: Request) -> Response:
        context = context_of(request)
        try:
            fields = await fields_of(request)
        except InvalidRequest as exc:
            error = UnreadableBody(exc)
            await run_in_pool(io_pool, accounts.record_failure, "fs", error, context)
            return error_response(error)
        try:
            result = await run_in_pool(hash_pool, accounts.signup, fields, context)
        except AccountError as exc:
            return error_response(exc)
        return JSONResponse(result.body(), headers=NO_STORE)

    def deliver(pending: PendingReset) -> None:
        try:
            accounts.deliver_password_reset(pending)
        except Exception:
            logger.exception("password reset email for %s failed", pending.user.id)

    async def change_password(request: Request) -> Response:
        context = context_of(request)
        try:
            fields = await fields_of(request)
        except InvalidRequest as exc:
            error = UnreadableBody(exc)
            await run_in_pool(io_pool, accounts.record_failure, "fcpr", error, context)
            return error_response(error)
        try:
            pending = await run_in_pool(io_pool, accounts.request_password_reset, fields, context)
        except AccountError as exc:
            return error_response(exc)
        # Delivered after the answer is sent: a real and an unknown address get the same
        # answer in the same time.
        task = (
            BackgroundTask(run_in_pool, io_pool, deliver, pending) if pending is not None else None
        )
        return PlainTextResponse(RESET_REQUESTED_MESSAGE, headers=NO_STORE, background=task)

    async def reset_page(request: Request) -> Response:
        ticket = request.query_params.get("ticket", "")
        if not ticket:
            return _invalid_link("This link is incomplete. Open the link from the email again.")
        form = await run_in_pool(io_pool, accounts.reset_form, ticket)
        if form is None:
            return _invalid_link()
        return _form_page(accounts, form)

    async def reset_submit(request: Request) -> Response:
        context = context_of(request)
        try:
            fields = await fields_of(request)
        except InvalidRequest as exc:
            return message_page("Something went wrong", exc.description, error_status(exc))
        ticket = fields.get("ticket")
        password = fields.get("password")
        confirmation = fields.get("password_confirm")
        if not isinstance(ticket, str) or not ticket:
            return _invalid_link("This link is incomplete. Open the link from the email again.")
        if not isinstance(password, str) or not isinstance(confirmation, str) or not password:
            form = await run_in_pool(io_pool, accounts.reset_form, ticket)
            if form is None:
                return _invalid_link()
            return _form_page(
                accounts, form, error="Enter the new password twice.", status_code=400
            )
        try:
            await run_in_pool(
                hash_pool, accounts.reset_password, ticket, password, confirmation, context
            )
        except ResetTicketInvalid:
            return _invalid_link()
        except AccountError as exc:
            form = await run_in_pool(io_pool, accounts.reset_form, ticket)
            if form is None:
                return _invalid_link()
            return _form_page(accounts, form, error=exc.description, status_code=error_status(exc))
        return message_page(
            "Password changed",
            "Your password has been changed. You can now log in with the new password.",
            200,
        )

    return [
        Route("/dbconnections/signup", signup, methods=["POST"]),
        Route("/dbconnections/change_password", change_password, methods=["POST"]),
        Route("/reset-password", reset_page, methods=["GET"]),
        Route("/reset-password", reset_submit, methods=["POST"]),
    ]
