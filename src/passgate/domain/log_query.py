"""Auth0's log search language: the fields it searches, the tree a query parses into, the
refusals, and the query written back as text.

A query is a subset of Lucene's syntax, as Auth0 documents it for ``GET /api/v2/logs``:
``field:value`` and ``field:"exact value"`` terms, a value alone (searched in the
:data:`BARE_FIELDS`), ``AND``/``OR``/``NOT`` (capitals only; ``-term`` is ``NOT term``),
parentheses, ``field:(a OR b)``, wildcards (``*``: ``user_name:jo*``, ``connection:*pass*``;
other than at the end only with 3 other characters or more, as Auth0 asks), ``field:*``
(the field has a value), date ranges ``date:[A TO B]`` and ``date:{A TO B}`` (open ends
``*``) and ``details.<path>:value``. Values match the whole field, case-sensitively (Auth0's
search engine v3: fields are not tokenized). Terms next to each other without an operator
must all match (ours: Auth0 does not say; Lucene's default would be OR).

Dates (:mod:`passgate.domain.log_dates`) are kept to the millisecond, as Auth0 shows them.
The parser is :func:`passgate.domain.log_query_parser.parse_query`; this module holds what
it produces and :func:`format_query`, which writes any tree back as a query that parses to
the same tree.
"""

from __future__ import annotations

import dataclasses
import re

from passgate.domain.events import EVENT_COLUMNS
from passgate.domain.log_dates import iso_ms
from passgate.errors import PassgateError

__all__ = [
    "ABSENT_FIELDS",
    "BARE_FIELDS",
    "DATE_FIELD",
    "DETAILS_PREFIX",
    "MAX_CLAUSES",
    "MAX_DEPTH",
    "MAX_QUERY_LENGTH",
    "SEARCHABLE_FIELDS",
    "STORED_FIELDS",
    "And",
    "AnyCase",
    "DateSpan",
    "Exists",
    "InvalidLogRequest",
    "Node",
    "Not",
    "Or",
    "Pattern",
    "QuerySyntaxError",
    "Sort",
    "Term",
    "all_of",
    "any_of",
    "details_path",
    "format_query",
]

#: The event fields a query names, as columns of the event log.
STORED_FIELDS = EVENT_COLUMNS
#: Fields Auth0 searches that passgate's events never have: a term on one matches nothing
#: (and its ``NOT`` everything), as it would on Auth0 for events without them.
ABSENT_FIELDS = ("connection_id", "hostname", "organization_id", "strategy", "strategy_type")
SEARCHABLE_FIELDS = STORED_FIELDS + ABSENT_FIELDS
#: Where a value without a field name is looked for (Auth0's list).
BARE_FIELDS = ("user_name", "connection", "client_name", "type", "ip", "log_id", "description")
DATE_FIELD = "date"
#: ``details.<key>[.<key>…]`` searches a value inside the event's details.
DETAILS_PREFIX = "details."
MAX_DETAILS_DEPTH = 8

MAX_QUERY_LENGTH = 2048
#: Parentheses, ``NOT``s and field groups inside one another.
MAX_DEPTH = 16
#: Terms in one query.
MAX_CLAUSES = 64

_DETAILS_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


class InvalidLogRequest(PassgateError, ValueError):
    """A log search refused: a parameter that is not what it should be. The message names
    the parameter and says what is wrong; nothing was read."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


class QuerySyntaxError(PassgateError, ValueError):
    """A query that is not in the language: ``reason`` says what was expected and ``column``
    (from 1) where the query goes wrong."""

    def __init__(self, reason: str, column: int) -> None:
        self.reason = reason
        self.column = column
        super().__init__(f"{reason} (at character {column})")


# -- the tree ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Term:
    """The field's whole value is ``value``. ``field`` None: any of :data:`BARE_FIELDS`."""

    field: str | None
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class Pattern:
    """The field's value is ``parts`` with anything between them (``*`` in the query):
    ``("jo", "")`` is ``jo*``, ``("", "fred", "")`` is ``*fred*``. At least two parts, no
    empty part between two others."""

    field: str | None
    parts: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Exists:
    """The field has a value (``field:*``)."""

    field: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class DateSpan:
    """The event's date is in ``[start_ms, end_ms)``, milliseconds since the epoch (None:
    unbounded on that side)."""

    start_ms: int | None
    end_ms: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class Sort:
    """The order of a search's results: by ``field`` (one of :data:`SEARCHABLE_FIELDS`),
    then by the order events were written, both in the same direction."""

    field: str = DATE_FIELD
    descending: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class AnyCase:
    """The field's value is ``value`` in any ASCII letter case. Not in the query language:
    programs build it (``passgate logs --user``)."""

    field: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclasses.dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Term | Pattern | Exists | DateSpan | AnyCase | Not | And | Or


def all_of(*nodes: Node | None) -> Node | None:
    """The given nodes (None: none), all to match."""
    given = tuple(node for node in nodes if node is not None)
    if len(given) <= 1:
        return given[0] if given else None
    return And(given)


def any_of(*nodes: Node) -> Node:
    """One of ``nodes`` (at least one) to match."""
    return nodes[0] if len(nodes) == 1 else Or(nodes)


def details_path(field: str) -> tuple[str, ...] | None:
    """The keys of a ``details.<key>…`` field, or None when ``field`` is not one (or its
    keys are not letters, digits and ``_``, at most :data:`MAX_DETAILS_DEPTH` deep)."""
    if not field.startswith(DETAILS_PREFIX):
        return None
    keys = tuple(field[len(DETAILS_PREFIX) :].split("."))
    if len(keys) > MAX_DETAILS_DEPTH or not all(_DETAILS_KEY.fullmatch(key) for key in keys):
        return None
    return keys


# -- the tree as text ----------------------------------------------------------------------

#: Characters that end or change a word; escaped with ``\`` when a value holds them.
_SPECIAL = frozenset('\\"():*?~^[]{}!+-&|/')


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _word(literal: str) -> str:
    return "".join("\\" + c if c in _SPECIAL or c.isspace() else c for c in literal)


def _clause(field: str | None, value: str) -> str:
    return value if field is None else f"{field}:{value}"


def _grouped(node: Node) -> str:
    text = format_query(node)
    return f"({text})" if isinstance(node, And | Or) else text


def format_query(node: Node) -> str:
    """``node`` as a query that parses back to ``node``.

    Raises ``ValueError`` for an :class:`AnyCase`, which the language cannot say."""
    match node:
        case Term(field, value):
            return _clause(field, _quoted(value))
        case Pattern(field, parts):
            return _clause(field, "*".join(_word(part) for part in parts))
        case Exists(field):
            return _clause(field, "*")
        case DateSpan(start, end):
            low = "*" if start is None else iso_ms(start)
            high = "*" if end is None else iso_ms(end - 1)
            return f"{DATE_FIELD}:[{low} TO {high}]"
        case Not(operand):
            return "NOT " + _grouped(operand)
        case And(operands):
            return " AND ".join(_grouped(operand) for operand in operands)
        case Or(operands):
            return " OR ".join(_grouped(operand) for operand in operands)
    raise ValueError(f"{type(node).__name__} has no form in the query language")
