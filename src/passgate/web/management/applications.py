"""``/clients``, ``/resource-servers`` and ``/client-grants``: applications, the APIs they
call, and which may call which."""

from __future__ import annotations

from passgate.management.applications import ApplicationsAdmin
from passgate.management.client_grants import ClientGrantsService
from passgate.web.management.client_grants import client_grants_operations
from passgate.web.management.clients import clients_operations
from passgate.web.management.operations import Operation
from passgate.web.management.resource_servers import resource_servers_operations

__all__ = ["applications_operations"]


def applications_operations(
    admin: ApplicationsAdmin, grants: ClientGrantsService
) -> list[Operation]:
    return [
        *clients_operations(admin.clients),
        *resource_servers_operations(admin.resource_servers),
        *client_grants_operations(grants),
    ]
