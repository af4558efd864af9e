"""What a request's handler tells the access log and the metrics about it.

The outermost layer of the web application puts a :class:`RequestNote` in the ASGI scope
(``scope["passgate.note"]``); the token endpoint fills it in. It never holds a secret: a
grant type, an outcome code, the end user's IP and a client id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["NOTE_KEY", "RequestNote", "note_of"]

NOTE_KEY = "passgate.note"


@dataclasses.dataclass(slots=True)
class RequestNote:
    #: ``grant_type`` as sent (the metrics fold unknown ones into ``other``).
    grant: str | None = None
    #: ``success`` or the OAuth error code the request was answered with.
    outcome: str | None = None
    #: The IP that attack protection counted (``auth0-forwarded-for`` when honoured).
    ip: str | None = None
    #: The IP that connected (after trusted proxies).
    client_ip: str | None = None
    client_id: str | None = None


def note_of(scope: Mapping[str, Any]) -> RequestNote | None:
    note = scope.get(NOTE_KEY)
    return note if isinstance(note, RequestNote) else None
