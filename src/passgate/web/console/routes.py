"""The console's routes, built from the server's parts: the login, the vendored assets,
and each page of :data:`PAGES` (a new page adds its route builder there and its entry
to ``nav.NAV``)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from passgate.accounts.service import Accounts
from passgate.breached.gate import BreachedPasswords
from passgate.domain.clock import Clock
from passgate.domain.events import EventSink
from passgate.domain.login import LoginGuard
from passgate.management.admins import AdminLogins
from passgate.management.password_resets import PasswordResets
from passgate.management.services import ManagementServices
from passgate.settings import Settings
from passgate.storage.admins import AdminStore
from passgate.storage.settings_store import LivePolicies
from passgate.support.io_pool import RunIo
from passgate.support.passwords import PasswordHasher
from passgate.web.console.applications import applications_routes
from passgate.web.console.audit import ConsoleAudit
from passgate.web.console.auth import auth_routes
from passgate.web.console.blocks import blocks_routes
from passgate.web.console.connections import connections_routes
from passgate.web.console.console import Console
from passgate.web.console.dashboard import dashboard_routes
from passgate.web.console.logs import logs_routes
from passgate.web.console.nav import NAV
from passgate.web.console.protection import protection_routes
from passgate.web.console.render import Renderer, static_file
from passgate.web.console.session import Sessions
from passgate.web.console.tenant import tenant_routes
from passgate.web.console.users import users_routes

__all__ = ["PAGES", "ConsoleParts", "console_routes"]

#: Every page's routes, by module.
PAGES: list[Callable[[Console], list[Route]]] = [
    dashboard_routes,
    logs_routes,
    blocks_routes,
    protection_routes,
    applications_routes,
    users_routes,
    connections_routes,
    tenant_routes,
]


class ConsoleParts(Protocol):
    """What the console is made of: the composition root's parts, by name."""

    @property
    def settings(self) -> Settings: ...
    @property
    def engine(self) -> sa.Engine: ...
    @property
    def digest_key(self) -> bytes: ...
    @property
    def management(self) -> ManagementServices: ...
    @property
    def events(self) -> EventSink: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def guard(self) -> LoginGuard: ...
    @property
    def hasher(self) -> PasswordHasher: ...
    @property
    def hash_pool(self) -> Executor: ...
    @property
    def breached(self) -> BreachedPasswords: ...
    @property
    def policies(self) -> LivePolicies: ...
    @property
    def public_url(self) -> str: ...
    @property
    def accounts(self) -> Accounts: ...

    def connecting_ip(self, peer: str | None, forwarded_for: list[str]) -> str: ...

    async def run_io(
        self, fn: Callable[..., object], /, *args: object, **kwargs: object
    ) -> object: ...


def console_routes(parts: ConsoleParts) -> list[Route]:
    settings = parts.settings
    store = AdminStore(parts.engine, parts.digest_key)
    hasher, pool, checker = parts.hasher, parts.hash_pool, parts.breached.checker

    def verify(password_hash: str | None, password: str) -> bool:
        return pool.submit(hasher.verify, password_hash, password).result()

    def hash_password(password: str) -> str:
        return pool.submit(hasher.hash, password).result()

    logins = AdminLogins(
        store,
        guard=parts.guard,
        verify=verify,
        needs_rehash=hasher.needs_rehash,
        hash_password=hash_password,
        breached=lambda password: checker.check(password).breached,
        breached_policy=parts.policies.get_breached_password,
        events=parts.events,
        clock=parts.clock,
    )
    sessions = Sessions(
        store,
        clock=parts.clock,
        idle_s=settings.admin_session_idle_minutes * 60.0,
        absolute_s=settings.admin_session_max_hours * 3600.0,
        secure=parts.public_url.startswith("https://"),
    )
    run_io: RunIo = parts.run_io  # type: ignore[assignment]
    console = Console(
        renderer=Renderer(NAV),
        sessions=sessions,
        audit=ConsoleAudit(parts.events, parts.clock),
        services=parts.management,
        run_io=run_io,
        connecting_ip=parts.connecting_ip,
        max_body_bytes=settings.max_body_bytes,
        clock=parts.clock,
        password_resets=PasswordResets(
            accounts=parts.accounts,
            users=parts.management.tenant.users,
            clients=parts.management.applications.clients,
        ),
    )

    async def asset(request: Request) -> Response:
        found = static_file(request.path_params["name"])
        if found is None:
            return PlainTextResponse("Not Found", status_code=404)
        data, media_type = found
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(data, media_type=media_type, headers=headers)

    routes = [
        Route("/admin/static/{name}", asset, methods=["GET"]),
        *auth_routes(console, logins),
    ]
    for page in PAGES:
        routes += page(console)
    return routes
