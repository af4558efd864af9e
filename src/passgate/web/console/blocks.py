"""``/admin/blocks``: accounts blocked by brute-force protection and IPs throttled by
suspicious IP throttling, searchable by identifier or IP, each with an Unblock button
(``management.block_lists``; a release logs ``ublkdu``, every change ``sapi``)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.brute_force import block_ends_at
from passgate.domain.client_ip import ip_text
from passgate.domain.login import RequestContext
from passgate.errors import BadRequest, NotFound
from passgate.management.block_lists import BlockLists
from passgate.protection.unblock import ReleasedBy
from passgate.web.console.console import Console, Done
from passgate.web.console.forms import Form
from passgate.web.console.session import Visit

__all__ = ["RELEASED_BY", "blocks_routes"]

RELEASED_BY = "administrator (console)"
_PATH = "/admin/blocks"
_MAX_SEARCH = 320


def _back(form: Form, done: str) -> str:
    """The page again, with its search, saying what was done."""
    search = form.text("q", max_length=_MAX_SEARCH)
    return _PATH + "?" + urlencode({"q": search, "done": done} if search else {"done": done})


def blocks_routes(console: Console) -> list[Route]:
    services = console.services
    lists = BlockLists(
        user_blocks=services.user_blocks,
        ip_blocks=services.ip_blocks,
        logs=services.logs,
        clock=console.clock,
    )

    async def page(request: Request, visit: Visit) -> Response:
        search = request.query_params.get("q", "").strip()[:_MAX_SEARCH]

        def read() -> tuple[object, object]:
            return lists.accounts(search), lists.throttled_ips(search)

        accounts, ips = await console.run_io(read)
        context = {
            "title": "Blocks",
            "current": "blocks",
            "q": search,
            "accounts": accounts,
            "ips": ips,
            "ends_at": block_ends_at,
            "done": request.query_params.get("done", ""),
        }
        return console.render(request, visit, "blocks.html", context)

    async def release(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        subject = form.text("subject", max_length=64)
        connection = form.text("connection", max_length=128)
        given_ip = form.text("ip", max_length=64)
        if not subject or not connection:
            raise BadRequest("the block to release is not named (subject and connection)")
        ip = ip_text(given_ip) if given_ip else None
        if given_ip and ip is None:
            raise BadRequest(f"not an IP address: {given_ip!r}")
        by = ReleasedBy(RELEASED_BY, context)
        record = await console.run_io(lists.release, subject, ip, connection, by)
        if record is None:
            raise NotFound("This block is no longer in force (released or expired).")
        changes = {"identifier": record.identifier, "ip": record.ip, "connection": connection}
        return Done(changes=changes, redirect=_back(form, "account"))

    async def unthrottle(
        request: Request, visit: Visit, form: Form, context: RequestContext
    ) -> Done:
        given = form.text("ip", max_length=64)
        ip = ip_text(given)
        if ip is None:
            raise BadRequest(f"not an IP address: {given!r}")
        done = await console.run_io(services.ip_blocks.unblock, ip)
        changes = {"ip": ip, "throttled_stages": done.throttled_stages, "refilled": done.refilled}
        return Done(changes=changes, redirect=_back(form, "ip"))

    return [
        console.page(_PATH, page),
        console.action(_PATH + "/release", release, summary="Unblock an account", back=_PATH),
        console.action(_PATH + "/unthrottle", unthrottle, summary="Unblock an IP", back=_PATH),
    ]
