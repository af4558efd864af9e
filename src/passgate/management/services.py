"""The Management API's services, built together: what ``/api/v2`` serves and the CLI
shares. The composition root builds one :class:`ManagementServices` with
:func:`build_management` and hands it to ``web.management.api``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from passgate.domain.clock import Clock
from passgate.domain.models import Client
from passgate.management.access import ManagementAccess, TokenVerifier
from passgate.management.applications import ApplicationsAdmin
from passgate.management.attack_protection import AttackProtection
from passgate.management.client_grants import ClientGrantsService
from passgate.management.connections import ConnectionsService
from passgate.management.dashboard import Dashboard
from passgate.management.doctor import Doctor
from passgate.management.ip_blocks import IpBlocks
from passgate.management.log_streams import LogStreamsService
from passgate.management.logs import LogService
from passgate.management.rate_limit import RateLimiter
from passgate.management.security_alerts import AlertSettings
from passgate.management.tenant_services import TenantServices
from passgate.management.user_blocks import UserBlocks
from passgate.protection.unblock import BlockReleases
from passgate.storage.counters import AttackCounters
from passgate.storage.directory import Directory
from passgate.storage.event_search import EventSearch
from passgate.storage.log_streams import LogStreams
from passgate.storage.settings_store import LivePolicies
from passgate.support.key_encryption import KeyEncryptionKeys

__all__ = ["ManagementServices", "build_management"]


@dataclass(frozen=True, slots=True)
class ManagementServices:
    """One service per resource, and who may call (``access``, ``limiter``)."""

    access: ManagementAccess
    limiter: RateLimiter
    attack_protection: AttackProtection
    user_blocks: UserBlocks
    ip_blocks: IpBlocks
    client_grants: ClientGrantsService
    logs: LogService
    #: Users, stats and signing keys.
    tenant: TenantServices
    #: Clients and resource servers.
    applications: ApplicationsAdmin
    #: What is wrong with the deployment (a passgate extension).
    doctor: Doctor
    #: Database connections and their password policies.
    connections: ConnectionsService
    log_streams: LogStreamsService
    #: The attack dashboard and the security alerts' thresholds (passgate extensions).
    dashboard: Dashboard
    security_alerts: AlertSettings


def build_management(
    *,
    engine: sa.Engine,
    keys: TokenVerifier,
    issuer: str,
    clients: Callable[[str], Client | None],
    counters: AttackCounters,
    policies: LivePolicies,
    directory: Directory,
    releases: BlockReleases,
    client_grants: ClientGrantsService,
    tenant: TenantServices,
    applications: ApplicationsAdmin,
    doctor: Doctor,
    connections: ConnectionsService,
    sealer: KeyEncryptionKeys,
    dashboard: Dashboard,
    rate_limit_per_minute: int,
    clock: Clock,
    on_release: Callable[[], None],
) -> ManagementServices:
    """The services over a process's long-lived parts; a policy changed through them is
    read again by ``policies`` at once, a release makes the guard forget (``on_release``)."""
    return ManagementServices(
        access=ManagementAccess(keys=keys, issuer=issuer, clients=clients, clock=clock),
        limiter=RateLimiter(counters, per_minute=rate_limit_per_minute, clock=clock),
        attack_protection=AttackProtection(policies.store, on_change=policies.reload),
        user_blocks=UserBlocks(
            directory=directory,
            counters=counters,
            policy=policies.get_brute_force,
            releases=releases,
            clock=clock,
        ),
        ip_blocks=IpBlocks(
            counters=counters,
            policy=policies.get_suspicious_ip,
            clock=clock,
            on_release=on_release,
        ),
        client_grants=client_grants,
        logs=LogService(search=EventSearch(engine)),
        tenant=tenant,
        applications=applications,
        doctor=doctor,
        connections=connections,
        log_streams=LogStreamsService(LogStreams(engine), sealer=lambda: sealer, clock=clock),
        dashboard=dashboard,
        security_alerts=AlertSettings(policies.store),
    )
