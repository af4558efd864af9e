"""Every ``/api/v2`` operation, over the Management API's services: the one list the
composition root serves (a new resource adds its operations here)."""

from __future__ import annotations

from starlette.routing import Route

from passgate.domain.clock import Clock
from passgate.domain.events import EventSink
from passgate.management.services import ManagementServices
from passgate.web.management.anomaly import anomaly_operations
from passgate.web.management.applications import applications_operations
from passgate.web.management.attack_protection import attack_protection_operations
from passgate.web.management.connections import connections_operations
from passgate.web.management.dashboard import dashboard_operations
from passgate.web.management.doctor import doctor_operations
from passgate.web.management.jobs import jobs_operations
from passgate.web.management.log_streams import log_streams_operations
from passgate.web.management.logs import logs_operations
from passgate.web.management.operations import Operation
from passgate.web.management.routes import ConnectingIp, RunIo, management_routes
from passgate.web.management.signing_keys import signing_keys_operations
from passgate.web.management.stats import stats_operations
from passgate.web.management.user_blocks import user_blocks_operations
from passgate.web.management.users import users_operations

__all__ = ["management_api_routes", "management_operations"]


def management_operations(services: ManagementServices) -> list[Operation]:
    return [
        *attack_protection_operations(services.attack_protection),
        *user_blocks_operations(services.user_blocks),
        *anomaly_operations(services.ip_blocks),
        *logs_operations(services.logs),
        *users_operations(services.tenant.users),
        *jobs_operations(services.tenant.jobs),
        *stats_operations(services.tenant.stats),
        *signing_keys_operations(services.tenant.signing_keys),
        *applications_operations(services.applications, services.client_grants),
        *doctor_operations(services.doctor),
        *connections_operations(services.connections),
        *log_streams_operations(services.log_streams),
        *dashboard_operations(services.dashboard, services.security_alerts),
    ]


def management_api_routes(
    services: ManagementServices,
    *,
    events: EventSink,
    clock: Clock,
    run_io: RunIo,
    connecting_ip: ConnectingIp,
    max_body_bytes: int,
    issuer: str,
) -> list[Route]:
    """The routes of ``/api/v2`` (see ``web.management.routes``)."""
    return management_routes(
        management_operations(services),
        access=services.access,
        limiter=services.limiter,
        events=events,
        clock=clock,
        run_io=run_io,
        connecting_ip=connecting_ip,
        max_body_bytes=max_body_bytes,
        issuer=issuer,
    )
