"""The Management API's own resource server (Auth0's system API): made and kept in step
with the issuer by every process that starts."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import sqlalchemy as sa

from passgate.domain.management_api import MANAGEMENT_API_NAME, MANAGEMENT_SCOPES
from passgate.domain.models import Api
from passgate.storage.application_rows import InvalidConfiguration, api_from_row
from passgate.storage.schema import apis
from passgate.support.crypto import new_id

__all__ = ["ensure_system_api"]

logger = logging.getLogger("passgate.storage")


def ensure_system_api(engine: sa.Engine, identifier: str) -> Api:
    """The Management API with the identifier ``identifier`` (the issuer's): created at the
    first start (or made of an API that already has its identifier), its identifier moved
    when the issuer changed, the scopes a newer passgate checks added. Several processes
    may do it at once: one insert wins, the others read it. Raises
    :class:`InvalidConfiguration` when another API holds the identifier it must take."""
    try:
        return _ensure(engine, identifier)
    except sa.exc.IntegrityError:  # another process made it meanwhile
        return _ensure(engine, identifier)


def _ensure(engine: sa.Engine, identifier: str) -> Api:
    with engine.begin() as connection:
        system = connection.execute(sa.select(apis).where(apis.c.is_system)).first()
        holder = connection.execute(sa.select(apis).where(apis.c.identifier == identifier)).first()
        if system is None and holder is None:
            connection.execute(
                apis.insert().values(
                    id=new_id("api_", 8),
                    identifier=identifier,
                    name=MANAGEMENT_API_NAME,
                    scopes=json.dumps(list(MANAGEMENT_SCOPES)),
                    token_lifetime=86400,
                    allow_offline_access=False,
                    signing_alg="RS256",
                    created_at=time.time(),
                    is_system=True,
                )
            )
        elif system is None:
            assert holder is not None
            logger.warning(
                "the API %s (%s) becomes the Management API: it has its identifier",
                identifier,
                holder.name,
            )
            _update_system_api(connection, holder, name=MANAGEMENT_API_NAME)
        else:
            if system.identifier != identifier and holder is not None:
                raise InvalidConfiguration(
                    f"the Management API's identifier follows the issuer and would be "
                    f"{identifier}, but another API ({holder.name}) has that identifier"
                )
            _update_system_api(connection, system, identifier=identifier)
        row = connection.execute(sa.select(apis).where(apis.c.identifier == identifier)).one()
    return api_from_row(row)


def _update_system_api(connection: sa.Connection, row: Any, **values: Any) -> None:
    """Mark ``row`` as the system API with ``values`` and every Management scope (its
    other scopes kept); write only what changes."""
    scopes = list(dict.fromkeys([*MANAGEMENT_SCOPES, *json.loads(row.scopes)]))
    wanted = {**values, "is_system": True, "scopes": json.dumps(scopes)}
    changed = {key: value for key, value in wanted.items() if getattr(row, key) != value}
    if changed:
        connection.execute(apis.update().where(apis.c.id == row.id).values(**changed))
