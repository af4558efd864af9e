"""What the stores of applications and of the system API share: their refusal and how an
API row is read (below both, so neither imports the other)."""

from __future__ import annotations

import json
from typing import Any

from passgate.domain.models import Api
from passgate.errors import InvalidValue

__all__ = ["ApiExists", "InvalidConfiguration", "api_from_row"]


class InvalidConfiguration(InvalidValue):
    """An application or API setting was refused; nothing was changed."""


class ApiExists(InvalidConfiguration):
    """Another API has that identifier; nothing was stored."""


def api_from_row(row: Any) -> Api:
    return Api(
        id=row.id,
        identifier=row.identifier,
        name=row.name,
        scopes=tuple(json.loads(row.scopes)),
        token_lifetime=row.token_lifetime,
        allow_offline_access=bool(row.allow_offline_access),
        signing_alg=row.signing_alg,
        is_system=bool(row.is_system),
    )
