"""Offset paging and field selection, as Auth0's list endpoints take them.

``page`` (from 0), ``per_page`` (1 to :data:`MAX_PER_PAGE`, :data:`DEFAULT_PER_PAGE` by
default) and ``include_totals`` select a page and its envelope: a bare JSON array, or with
``include_totals`` ``{start, limit, total, <name>: [...]}``. ``fields`` (comma-separated
names) with ``include_fields`` (true by default: only these; false: all but these) select
the fields of each object shown. Values arrive typed (the routes check the query string's
types and bounds; the CLI builds them directly).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["DEFAULT_PER_PAGE", "MAX_PAGE", "MAX_PER_PAGE", "FieldSelection", "Paging"]

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
#: The highest page number taken (past the last page, a page is empty).
MAX_PAGE = 10**9


def _int(query: Mapping[str, object], name: str, default: int) -> int:
    value = query.get(name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclasses.dataclass(frozen=True, slots=True)
class Paging:
    page: int = 0
    per_page: int = DEFAULT_PER_PAGE
    include_totals: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, object]) -> Paging:
        return cls(
            page=_int(query, "page", 0),
            per_page=_int(query, "per_page", DEFAULT_PER_PAGE),
            include_totals=query.get("include_totals") is True,
        )

    @property
    def start(self) -> int:
        return self.page * self.per_page

    def envelope(
        self, name: str, items: Sequence[dict[str, Any]], total: Callable[[], int]
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """``items`` bare, or in Auth0's envelope with the ``total`` count."""
        if not self.include_totals:
            return list(items)
        return {"start": self.start, "limit": self.per_page, "total": total(), name: list(items)}


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSelection:
    """Which fields of each object to show; names no object has are ignored, as Auth0
    ignores them."""

    fields: tuple[str, ...] = ()
    include: bool = True

    @classmethod
    def from_query(cls, query: Mapping[str, object]) -> FieldSelection:
        raw = query.get("fields")
        names = tuple(name.strip() for name in str(raw).split(",")) if raw is not None else ()
        return cls(tuple(name for name in names if name), query.get("include_fields") is not False)

    def apply(self, document: dict[str, Any]) -> dict[str, Any]:
        if not self.fields:
            return document
        chosen = set(self.fields)
        return {name: value for name, value in document.items() if (name in chosen) == self.include}
