"""JSON responses (orjson) and OAuth error rendering."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from passgate.errors import OAuthError

__all__ = ["NO_STORE", "JSONResponse", "error_response"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: OAuthError, *, no_store: bool = True) -> JSONResponse:
    headers = dict(NO_STORE) if no_store else {}
    headers.update(error.headers())
    return JSONResponse(error.body(), status_code=error.status_code, headers=headers)
