"""The package's public API is exactly its ``__all__`` (as in httpx)."""

from __future__ import annotations

import passgate.breached

EXPECTED = {
    "COUNT_RELATIVE_ERROR",
    "TEST_PASSWORD_PREFIX",
    "BreachedChecker",
    "BreachedError",
    "BreachedImportError",
    "BreachedIndex",
    "BreachedIndexError",
    "BreachedRangeUnavailable",
    "BreachedResult",
    "BreachedUpstreamUnavailable",
    "ImportStats",
    "LiveIndex",
    "RangeClient",
    "import_corpus",
    "range_routes",
}
SUBMODULES = {
    "checker",
    "errors",
    "formats",
    "gate",
    "import_lock",
    "importer",
    "index",
    "live",
    "notify",
    "range",
    "upstream",
    "writer",
}


def test_the_public_api_is_exactly_all() -> None:
    assert set(passgate.breached.__all__) == EXPECTED
    public = {
        name
        for name in vars(passgate.breached)
        if not name.startswith("_") and name not in SUBMODULES | {"annotations", "cli"}
    }
    assert public == EXPECTED
