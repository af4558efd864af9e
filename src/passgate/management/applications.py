"""The services of ``/clients`` and ``/resource-servers``, built together over one store
and one set of caches to clear when either changes something."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from passgate.management.clients import ClientsService
from passgate.management.resource_servers import ResourceServersService
from passgate.storage.applications import Applications

__all__ = ["ApplicationsAdmin", "Clearable", "applications_admin"]


class Clearable(Protocol):
    def clear(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ApplicationsAdmin:
    clients: ClientsService
    resource_servers: ResourceServersService


def applications_admin(
    applications: Applications, *, caches: Sequence[Clearable] = ()
) -> ApplicationsAdmin:
    """The two services; each change clears ``caches`` (the token endpoint's clients, APIs
    and grants: a deleted client or API takes its grants along)."""

    def changed() -> None:
        for cache in caches:
            cache.clear()

    return ApplicationsAdmin(
        clients=ClientsService(applications, on_change=changed),
        resource_servers=ResourceServersService(applications, on_change=changed),
    )
