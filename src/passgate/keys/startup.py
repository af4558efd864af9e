"""Opening the signing keys and fixing the issuer, once, before a server serves."""

from __future__ import annotations

import sqlalchemy as sa

from passgate.domain.clock import Clock, system_clock
from passgate.keys.issuer import tenant_issuer
from passgate.keys.ring import KeyRing
from passgate.settings import Settings
from passgate.storage.applications import Applications
from passgate.storage.setup import open_database
from passgate.storage.tenant import TenantStore
from passgate.storage.tokens import SigningKeys
from passgate.support.key_encryption import KeyEncryptionKeys, load_keys

__all__ = ["key_encryption_keys", "open_key_ring", "prepare_start"]


def key_encryption_keys(settings: Settings, store: SigningKeys) -> KeyEncryptionKeys:
    """The configured key-encryption keys (``PASSGATE_KEY_ENCRYPTION_KEY``, else the key
    file in the data directory, made at the first start of the embedded SQLite default)."""
    configured = settings.key_encryption_key
    return load_keys(
        None if configured is None else configured.get_secret_value(),
        settings.key_file,
        sealed_with={key.kek_id for key in store.all() if key.kek_id is not None},
        may_create=settings.uses_sqlite,
    )


def open_key_ring(settings: Settings, engine: sa.Engine, *, clock: Clock = system_clock) -> KeyRing:
    """The signing keys, opened: plain-text ones sealed, missing ones made (first start).
    Raises :class:`~passgate.support.key_encryption.KeyEncryptionError` without the right key."""
    store = SigningKeys(engine)
    ring = KeyRing(store, sealer=key_encryption_keys(settings, store), clock=clock)
    ring.ensure()
    return ring


def prepare_start(settings: Settings, *, first_address: str) -> tuple[str, bool]:
    """What ``serve`` does once, before any worker starts: migrate, open the signing keys,
    fix the issuer, make the Management API's identifier follow it. Returns the issuer and
    whether this start fixed it. Raises :class:`~passgate.errors.ConfigurationError` for a
    wrong key or a changed issuer, :class:`~passgate.storage.applications.InvalidConfiguration`
    when another API holds the Management API's identifier."""
    engine = open_database(settings)
    try:
        open_key_ring(settings, engine)
        tenant = TenantStore(engine)
        issuer, fixed_now = tenant_issuer(
            tenant, configured=settings.issuer, first_address=first_address
        )
        Applications(engine, tenant.digest_key()).ensure_management_api(issuer)
        return issuer, fixed_now
    finally:
        engine.dispose()
