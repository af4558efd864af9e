"""The range endpoint as its own process, for tests of the upstream client (uvicorn)."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from passgate.breached.index import BreachedIndex
from passgate.breached.range import range_routes


def create_app() -> Starlette:
    index = BreachedIndex.open(os.environ["PASSGATE_TEST_RANGE_INDEX"])
    return Starlette(routes=range_routes(index))
