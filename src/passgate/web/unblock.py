"""``GET``/``POST /unblock``: the single-use link that a brute-force block emails.

``GET`` only shows a button: mail scanners that fetch links must not spend the ticket.
``POST`` redeems the ticket once and releases the block of that identifier (and IP)
through :class:`~passgate.protection.unblock.BlockReleases`, which logs ``ublkdu``.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.accounts.tickets import Tickets
from passgate.domain.login import RequestContext
from passgate.errors import InvalidRequest
from passgate.oauth.request import parse_body
from passgate.protection.notify import UNBLOCK_KIND
from passgate.protection.unblock import UNBLOCK_LINK, BlockReleases, ReleasedBy
from passgate.support.io_pool import RunIo
from passgate.web.body import read_body
from passgate.web.errors import error_status
from passgate.web.pages import message_page, page
from passgate.web.token_endpoint import ConnectingIp

__all__ = ["unblock_routes"]

_INVALID = "This unblock link is invalid, was used already, or has expired."


def unblock_routes(
    *,
    tickets: Tickets,
    releases: BlockReleases,
    connecting_ip: ConnectingIp,
    run_io: RunIo,
    max_body_bytes: int,
) -> list[Route]:
    _io = run_io

    async def show(request: Request) -> Response:
        ticket = request.query_params.get("ticket", "")
        payload = await _io(tickets.peek, UNBLOCK_KIND, ticket) if ticket else None
        if payload is None:
            return message_page("Link invalid or expired", _INVALID, 410)
        form = (
            "<p>Unblock logins to your account"
            + (f" from {escape(str(payload['ip']))}" if payload.get("ip") else "")
            + '.</p><form method="post" action="unblock">'
            + f'<input type="hidden" name="ticket" value="{escape(ticket)}">'
            + '<button type="submit">Unblock my account</button></form>'
        )
        return page("Unblock your account", form)

    def _release(ticket: str, client_ip: str, user_agent: str | None) -> bool:
        payload = tickets.redeem(UNBLOCK_KIND, ticket)
        if payload is None:
            return False
        request = RequestContext(ip=client_ip, client_ip=client_ip, user_agent=user_agent)
        releases.release_link(payload, ReleasedBy(UNBLOCK_LINK, request))
        return True

    async def release(request: Request) -> Response:
        try:
            body = await read_body(request, max_body_bytes)
            ticket = parse_body(request.headers.get("content-type"), body).get("ticket", "")
        except InvalidRequest as exc:
            return message_page("Bad request", exc.description, error_status(exc))
        peer = request.client.host if request.client else None
        client_ip = connecting_ip(peer, request.headers.getlist("x-forwarded-for"))
        released = bool(ticket) and await _io(
            _release, ticket, client_ip, request.headers.get("user-agent")
        )
        if not released:
            return message_page("Link invalid or expired", _INVALID, 410)
        return message_page(
            "Account unblocked", "Your account is unblocked. You can log in again.", 200
        )

    return [
        Route("/unblock", show, methods=["GET"]),
        Route("/unblock", release, methods=["POST"]),
    ]
