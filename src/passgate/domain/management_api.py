"""The Management API as an API of its own: its audience and the scopes Auth0 names.

A machine-to-machine client reaches ``/api/v2/`` with a client-credentials token whose
audience is the issuer followed by ``api/v2/`` (as Auth0's ``https://TENANT/api/v2/``) and
whose scopes come from its client grant for that audience.
"""

from __future__ import annotations

__all__ = ["MANAGEMENT_API_NAME", "MANAGEMENT_SCOPES", "management_audience"]

MANAGEMENT_API_NAME = "passgate Management API"

#: Every scope the Management API checks, in Auth0's names.
MANAGEMENT_SCOPES: tuple[str, ...] = (
    "read:attack_protection",
    "update:attack_protection",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:logs",
    "read:logs_users",
    "read:anomaly_blocks",
    "delete:anomaly_blocks",
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:stats",
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:log_streams",
    "create:log_streams",
    "update:log_streams",
    "delete:log_streams",
    #: passgate's own: GET /api/v2/passgate/doctor.
    "read:doctor",
    #: passgate's own: GET /api/v2/passgate/dashboard.
    "read:dashboard",
)


def management_audience(issuer: str) -> str:
    """The Management API's identifier: the issuer with one trailing slash, then ``api/v2/``."""
    return issuer.rstrip("/") + "/api/v2/"
