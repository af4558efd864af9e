"""The Management API's users, stats and signing-key operations, together."""

from __future__ import annotations

from passgate.management.tenant_services import TenantServices
from passgate.web.management.operations import Operation
from passgate.web.management.signing_keys import signing_keys_operations
from passgate.web.management.stats import stats_operations
from passgate.web.management.users import users_operations

__all__ = ["tenant_operations"]


def tenant_operations(services: TenantServices) -> list[Operation]:
    return [
        *users_operations(services.users),
        *stats_operations(services.stats),
        *signing_keys_operations(services.signing_keys),
    ]
