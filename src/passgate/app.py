"""The composition root: builds every part from :class:`~passgate.settings.Settings` once."""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.accounts.password_rules import connection_passwords
from passgate.accounts.service import Accounts
from passgate.accounts.tickets import Tickets
from passgate.breached.checker import BreachedChecker
from passgate.breached.gate import BreachedAccountHooks, BreachedPasswords
from passgate.breached.live import RELOAD_INTERVAL_S
from passgate.breached.notify import BreachedNotifier
from passgate.breached.range import range_routes
from passgate.domain.client_ip import connecting_ip
from passgate.domain.clock import Clock, system_clock
from passgate.domain.events import EventSink
from passgate.domain.login import LoginGuard
from passgate.domain.models import Api, Client
from passgate.keys.issuer import tenant_issuer
from passgate.keys.startup import open_key_ring
from passgate.mail.mailer import Mailer, mailer_from_settings
from passgate.management.applications import applications_admin
from passgate.management.client_grants import ClientGrantsService
from passgate.management.connections import connections_service
from passgate.management.dashboard import Dashboard
from passgate.management.doctor import doctor_for
from passgate.management.services import build_management
from passgate.management.tenant_services import tenant_services
from passgate.oauth.client_auth import ClientAuthenticator, end_user_ip
from passgate.oauth.minting import Minter
from passgate.oauth.password_login import PasswordLogins
from passgate.oauth.records import RequestRecords, grant_cache, record_cache
from passgate.oauth.service import TokenService
from passgate.observability.events import MeteredEvents
from passgate.observability.metrics import Metrics
from passgate.protection.account_hooks import ProtectionAccountHooks
from passgate.protection.alerts import security_alerts_for
from passgate.protection.guard import ProtectionGuard
from passgate.protection.notify import MailNotifier
from passgate.protection.subjects import older_counter_key
from passgate.protection.unblock import BlockReleases
from passgate.settings import Settings
from passgate.storage.applications import Applications
from passgate.storage.backends import adopt_older_counters, counters_from_settings
from passgate.storage.client_grants import ClientGrants
from passgate.storage.counters import AttackCounters
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.event_log import BufferedEventSink, EventLog
from passgate.storage.settings_store import POLICY_RELOAD_INTERVAL_S, LivePolicies, SettingsStore
from passgate.storage.setup import open_database
from passgate.storage.tenant import TenantStore
from passgate.storage.tokens import RefreshTokens
from passgate.streams.delivery import stream_delivery
from passgate.support.background import Background, Periodic
from passgate.support.cache import TtlCache
from passgate.support.hash_slots import HashSlots
from passgate.support.io_pool import run_in_pool
from passgate.support.passwords import PasswordHasher
from passgate.web.gauges import gauge_schedules
from passgate.web.readiness import readiness_for
from passgate.web.responses import JSONResponse

__all__ = [
    "DEFAULT_ISSUER",
    "Passgate",
    "create_app",
]

logger = logging.getLogger("passgate")
T = TypeVar("T")
DEFAULT_ISSUER = "http://127.0.0.1:8000/"
#: How often a server process sends due breached-password digests.
DIGEST_INTERVAL_S = 300.0


class Passgate:
    """Every long-lived part of one passgate process, built once."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: sa.Engine | None = None,
        clock: Clock = system_clock,
        guard: LoginGuard | None = None,
        events: EventSink | None = None,
        buffered_events: bool = True,
        mailer: Mailer | None = None,
        counters: AttackCounters | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics: Metrics | None = None
        if settings.metrics:
            self.metrics = Metrics.from_environment(max_clients=settings.metrics_max_clients)
        self.engine = engine if engine is not None else open_database(settings)
        self.tenant = TenantStore(self.engine)
        self.digest_key = digest_key = self.tenant.digest_key()
        self.directory = Directory(self.engine)
        self.applications = Applications(self.engine, digest_key)
        self.refresh_tokens = RefreshTokens(self.engine, digest_key)
        self.event_log = EventLog(self.engine)
        self._buffered: BufferedEventSink | None = None
        if events is None:
            if buffered_events:
                self._buffered = BufferedEventSink(self.event_log)
                events = self._buffered
            else:
                events = self.event_log
        if self.metrics is not None:
            events = MeteredEvents(events, self.metrics)
        self.events: EventSink = events
        self.keys = open_key_ring(settings, self.engine, clock=clock)
        self.issuer, _ = tenant_issuer(
            self.tenant, configured=settings.issuer, first_address=DEFAULT_ISSUER
        )
        self.management_api = self.applications.ensure_management_api(self.issuer)
        self.minter = Minter(self.keys, self.issuer)
        self.hasher = PasswordHasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            slots=None if settings.hash_slots_id is None else HashSlots(settings.hash_slots_id),
            observe=None if self.metrics is None else self.metrics.observe_hash,
        )
        self.hash_pool = ThreadPoolExecutor(
            settings.hash_workers, thread_name_prefix="passgate-hash"
        )
        self.io_pool = ThreadPoolExecutor(16, thread_name_prefix="passgate-io")
        self.policies = LivePolicies(SettingsStore(self.engine, clock=clock))
        self._close_counters: Callable[[], None] = lambda: None
        if counters is None:
            counters, self._close_counters = counters_from_settings(settings, self.engine)
            adopt_older_counters(counters, partial(older_counter_key, self.directory), clock())
        self.counters = counters
        self.mailer = mailer if mailer is not None else mailer_from_settings(settings)
        self.tickets = Tickets(self.engine, digest_key, clock)
        self.public_url = (settings.public_url or self.issuer).rstrip("/")
        self.notifier = MailNotifier(
            mailer=self.mailer,
            tickets=self.tickets,
            directory=self.directory,
            base_url=self.public_url,
            admin_emails=self.admin_emails,
        )
        if guard is None:
            guard = ProtectionGuard(
                counters=self.counters,
                policies=self.policies,
                events=self.events,
                notifier=self.notifier,
                clock=clock,
                login_rate_limit=settings.login_rate_limit,
            )
        # Range data needs the index: refuse to start without it rather than answer 404s.
        self.breached = BreachedPasswords(
            BreachedChecker.from_settings(settings, require_index=settings.breached_range_enabled),
            policies=self.policies.get_breached_password,
            users=self.directory,
            events=self.events,
            marks=self.counters,
            notifier=BreachedNotifier(
                engine=self.engine,
                mailer=self.mailer,
                tickets=self.tickets,
                marks=self.counters,
                public_url=self.public_url,
                admin_emails=self.admin_emails,
                clock=clock,
            ),
            clock=clock,
        )
        self.clients: TtlCache[str, Client | None] = record_cache(self.applications.get_client)
        self.apis: TtlCache[str, Api | None] = record_cache(self.applications.api_by_identifier)
        grants = ClientGrants(self.engine)
        grants_by_client = grant_cache(grants.find)
        self._client_grants = ClientGrantsService(
            applications=self.applications, grants=grants, on_change=grants_by_client.clear
        )
        connections = record_cache(self.directory.connection_by_name, ttl=5.0)
        self._record_caches = (self.clients, self.apis, grants_by_client, connections)
        self.guard = guard
        self.block_releases = BlockReleases(
            counters=self.counters,
            directory=self.directory,
            policies=self.policies,
            events=self.events,
            clock=clock,
            on_release=self.forget_refusals,
        )
        self.accounts = Accounts(
            users=self.directory,
            hasher=self.hasher,
            tickets=self.tickets,
            mailer=self.mailer,
            events=self.events,
            clients=self.clients.get,
            public_url=self.public_url,
            clock=clock,
            mail_marks=self.counters,
            passwords=connection_passwords(self.engine, self.hasher.verify),
            hooks=BreachedAccountHooks(
                self.breached,
                inner=ProtectionAccountHooks(
                    counters=self.counters,
                    policies=self.policies,
                    events=self.events,
                    clock=clock,
                    releases=self.block_releases,
                ),
            ),
        )
        self.records = records = RequestRecords(
            clients=self.clients,
            connections=connections,
            apis=self.apis,
            grants=grants_by_client,
            default_directory=TtlCache(
                lambda key: str(self.tenant.get(key, DEFAULT_CONNECTION)), ttl=5.0
            ),
        )
        self.readiness, self._close_redis_probe = readiness_for(
            settings, self.engine, self.breached.checker
        )
        self.alerts = security_alerts_for(self)
        self._management(settings, clock)
        self.tokens = TokenService(
            authenticator=ClientAuthenticator(self.applications.secret_digest),
            records=records,
            refresh_tokens=self.refresh_tokens,
            minter=self.minter,
            logins=PasswordLogins(
                directory=self.directory,
                hasher=self.hasher,
                guard=guard,
                breached=self.breached,
                hash_pool=self.hash_pool,
                io_pool=self.io_pool,
            ),
            events=self.events,
            clock=clock,
            resolve_ip=end_user_ip,
            io_pool=self.io_pool,
        )

    def _management(self, settings: Settings, clock: Clock) -> None:
        """The Management API's services (``/api/v2`` and the CLI use the same ones)."""
        self.management = build_management(
            engine=self.engine,
            keys=self.keys,
            issuer=self.issuer,
            clients=self.clients.get,
            counters=self.counters,
            policies=self.policies,
            directory=self.directory,
            releases=self.block_releases,
            client_grants=self._client_grants,
            tenant=tenant_services(self),
            applications=applications_admin(self.applications, caches=self._record_caches),
            doctor=doctor_for(
                settings, self.engine, clients=self.applications.list_clients, clock=clock
            ),
            connections=connections_service(self.engine, self.tenant, self.records),
            sealer=self.keys.sealer,
            dashboard=Dashboard.of(self.alerts, clock=clock),
            rate_limit_per_minute=settings.management_rate_limit,
            clock=clock,
            on_release=self.forget_refusals,
        )

    def schedules(self) -> list[Background]:
        """What a server process runs in the background (not started): twice a second, a
        read of the protection policies; every second, a look for a newly imported
        breached-password index and a rollup of new events (``protection.alerts``); every
        few minutes, the breached-password digests and the purge; log streams (a lease
        each). Several processes may run them at once: digest periods are claimed, and a
        purge only deletes what holds no state. With metrics on, the gauges' sampling."""
        background = stream_delivery(self.settings, self.engine, self.keys.sealer)
        if self.metrics is not None:
            background += gauge_schedules(
                self.metrics,
                hash_pool=self.hash_pool,
                events=self._buffered,
                counters=self.counters,
                breached=self.breached.checker,
                policies=self.policies,
            )
        return [
            *background,
            Periodic(
                "passgate-policies",
                self.policies.reload,
                interval_s=POLICY_RELOAD_INTERVAL_S,
                what="reading the protection policies",
            ),
            Periodic(
                "passgate-breached-index",
                self.breached.checker.refresh,
                interval_s=RELOAD_INTERVAL_S,
                what="looking for a new breached-password index",
            ),
            Periodic(
                "passgate-digests",
                lambda: self.breached.notifier.send_due_digests(self.clock()),
                interval_s=DIGEST_INTERVAL_S,
                what="sending breached-password digests",
            ),
            self.alerts.schedule(),
            Periodic(
                "passgate-purge",
                self.purge,
                interval_s=self.settings.purge_interval_s,
                what="purging stale protection records, tickets and old events",
            ),
        ]

    def purge(self) -> int:
        """Delete protection records that no longer hold state and long-expired tickets
        (the tables would otherwise grow by about a row per new user and IP), and events
        older than ``events_retention_days``; return how many went."""
        now = self.clock()
        removed = self.counters.purge(now) + self.tickets.purge() + self.alerts.purge(now)
        days = self.settings.events_retention_days
        if days > 0:
            removed += self.event_log.purge(now - days * 24 * 3600.0)
        logger.debug("purge removed %d records", removed)
        return removed

    def forget_refusals(self) -> None:
        """After a block is released in this process, stop refusing from memory."""
        getattr(self.guard, "forget_refusals", lambda: None)()

    def admin_emails(self) -> list[str]:
        value = self.tenant.get("admin_emails", [])
        return [str(item) for item in value] if isinstance(value, list) else []

    def connecting_ip(self, peer: str | None, forwarded_for: list[str]) -> str:
        return connecting_ip(peer, forwarded_for, self.settings.trusted_proxy_networks)

    async def run_io(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking call in the I/O pool and await it (what routes get as ``RunIo``)."""
        return await run_in_pool(self.io_pool, fn, *args, **kwargs)

    def close(self) -> None:
        self.hash_pool.shutdown(wait=True)
        self.tokens.logins.close()
        self.io_pool.shutdown(wait=True)
        if self._buffered is not None:
            self._buffered.close()
            self._buffered = None
        self.breached.close()
        self._close_redis_probe()
        self._close_counters()
        self.engine.dispose()


def create_app(
    passgate: Passgate | None = None,
    settings: Settings | None = None,
    *,
    access_log: Any | None = None,
) -> Starlette:
    """The ASGI application. Builds a :class:`Passgate` from settings unless given one;
    ``access_log`` (a structlog logger) gets one line per request."""
    from passgate.web.console import console_routes
    from passgate.web.dbconnections import dbconnections_routes
    from passgate.web.management.api import management_api_routes
    from passgate.web.oauth_routes import oauth_routes
    from passgate.web.observe import Observer, metrics_routes
    from passgate.web.token_endpoint import PassgateApp, TokenEndpoint
    from passgate.web.unblock import unblock_routes

    if passgate is None:
        passgate = Passgate(settings or Settings())
    owned = passgate
    token_endpoint = TokenEndpoint(
        service=passgate.tokens,
        connecting_ip=passgate.connecting_ip,
        max_body_bytes=passgate.settings.max_body_bytes,
        server_timing=passgate.settings.server_timing,
        trusts_proxies=bool(passgate.settings.trusted_proxies),
        metrics=passgate.metrics,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        schedules = owned.schedules()
        for schedule in schedules:
            schedule.start()
        try:
            yield
        finally:
            for schedule in schedules:
                schedule.stop()
            owned.close()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        status, body = await passgate.readiness.check()
        return JSONResponse(body, status_code=status, headers={"cache-control": "no-store"})

    routes = [
        *oauth_routes(
            service=passgate.tokens,
            token_endpoint=token_endpoint,
            connecting_ip=passgate.connecting_ip,
            keys=passgate.keys,
            minter=passgate.minter,
            issuer=passgate.issuer,
            directory=passgate.directory,
            run_io=passgate.run_io,
            max_body_bytes=passgate.settings.max_body_bytes,
        ),
        *dbconnections_routes(
            passgate.accounts,
            max_body_bytes=passgate.settings.max_body_bytes,
            connecting_ip=passgate.connecting_ip,
            hash_pool=passgate.hash_pool,
            io_pool=passgate.io_pool,
        ),
        *unblock_routes(
            tickets=passgate.tickets,
            releases=passgate.block_releases,
            connecting_ip=passgate.connecting_ip,
            run_io=passgate.run_io,
            max_body_bytes=passgate.settings.max_body_bytes,
        ),
        *management_api_routes(
            passgate.management,
            events=passgate.events,
            clock=passgate.clock,
            run_io=passgate.run_io,
            connecting_ip=passgate.connecting_ip,
            max_body_bytes=passgate.settings.max_body_bytes,
            issuer=passgate.issuer,
        ),
        *console_routes(passgate),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ]
    live = passgate.breached.checker.live
    if passgate.settings.breached_range_enabled and live is not None:
        routes += range_routes(live.current, run=passgate.run_io)
    metrics = passgate.metrics
    if metrics is not None and passgate.settings.metrics_port is None:
        token = passgate.settings.metrics_token
        secret = None if token is None else token.get_secret_value()
        routes += metrics_routes(metrics, token=secret, run_io=passgate.run_io)
    observer = None
    if access_log is not None:
        observer = Observer(connecting_ip=passgate.connecting_ip, access_log=access_log)
    app = PassgateApp(
        routes=routes,
        lifespan=lifespan,
        token_endpoint=token_endpoint,
        observer=observer,
        metrics=metrics,
    )
    app.state.passgate = passgate
    return app


def app_from_env() -> Starlette:
    """Factory for ASGI servers: ``uvicorn --factory passgate.app:app_from_env``."""
    from passgate.support.logs import access_logger, configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    # A login's hashing thread takes the GIL back after the hash and after each database
    # call; while the event loop is busy (many requests, a flood) the interpreter's default
    # 5 ms switch interval makes it wait that long each time. 1 ms keeps logins flowing.
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)
    access = None
    if settings.access_log and settings.log_level in ("info", "debug"):
        access = access_logger(settings.log_format)
    app = create_app(Passgate(settings, guard=None), access_log=access)
    # What is built by now lives as long as the server: kept out of the collector's sight,
    # a full collection no longer walks it (with it, each paused the loop 70-150 ms under a
    # flood; bench/bench_loop_lag.py). Only here: a process that builds many apps (tests)
    # must keep collecting them.
    gc.collect()
    gc.freeze()
    return app
