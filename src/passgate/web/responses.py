"""JSON responses (orjson) and the headers that keep an answer out of every cache."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["NO_STORE", "JSONResponse"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
