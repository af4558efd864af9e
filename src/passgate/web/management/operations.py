"""What an ``/api/v2`` endpoint declares, and what its handler gets and gives back.

An endpoint is an :class:`Operation`: method, path (relative to ``/api/v2``, with
``{name}`` path parameters), the scopes that admit it (any of them), its query
parameters, its body's JSON schema, its answer, and a blocking ``handler`` that the
framework runs in the I/O pool once the call is authenticated, within its rate limit,
authorized and parsed. The same declaration drives routing, validation of the query and
the body's envelope, the audit events and ``GET /api/v2/openapi.json``; the handler
validates the body's fields (with the services' own rules) and raises
:class:`~passgate.management.errors.ManagementError` to refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from passgate.domain.login import RequestContext
from passgate.management.access import Caller

__all__ = [
    "CHANGING_METHODS",
    "Answer",
    "Call",
    "Operation",
    "PathParam",
    "QueryParam",
    "Reply",
]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
#: Methods whose calls change something: each writes ``sapi`` (or ``fapi`` when refused).
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JsonSchema = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A query-string parameter: sent at most once, checked before the handler runs."""

    name: str
    description: str
    type: Literal["string", "boolean", "integer"] = "string"
    required: bool = False
    #: Strings: length bounds (characters).
    min_length: int = 0
    max_length: int | None = None
    #: Integers: value bounds.
    minimum: int | None = None
    maximum: int | None = None
    #: What the document says the value is, when the handler's service checks it rather
    #: than the framework (a ``string`` parameter whose service takes integers, say); by
    #: default the schema of ``type`` and the bounds above.
    documented: JsonSchema | None = None


@dataclass(frozen=True, slots=True)
class PathParam:
    """A ``{name}`` segment of the path; the handler validates its value (400
    ``invalid_uri``), the schema documents it."""

    name: str
    description: str
    schema: JsonSchema = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True)
class Answer:
    """The successful answer: status, description, and the body's schema (None: none)."""

    status: int
    description: str
    schema: JsonSchema | None = None
    #: The body's media type (a streamed answer's, e.g. ``application/gzip``).
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Call:
    """One admitted call, as its handler sees it."""

    caller: Caller
    path: Mapping[str, str]
    query: Mapping[str, str | bool | int]
    #: The parsed JSON body (an object) of an operation that declares one, else None.
    body: dict[str, Any] | None
    #: The connecting IP and user agent (for events the handler writes).
    ip: str
    user_agent: str | None
    #: A ``multipart/form-data`` operation's text fields and files (each sent once).
    form: Mapping[str, str] | None = None
    files: Mapping[str, IO[bytes]] | None = None

    def request_context(self) -> RequestContext:
        """Who asks, as the events a handler writes name them: the calling client, from
        the connecting IP (the Management API takes no forwarded end-user IP)."""
        return RequestContext(
            ip=self.ip,
            client_ip=self.ip,
            client_id=self.caller.client_id,
            client_name=self.caller.client_name,
            user_agent=self.user_agent,
        )


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler answers: a JSON body (None for no body, e.g. 204) and, for calls
    that change something, what changed (field -> new value; never a secret: values of
    fields named like secrets are replaced in the event anyway)."""

    body: Any = None
    status: int = 200
    changes: Mapping[str, Any] | None = None
    #: A streamed body instead of JSON: its chunks, read (in a thread) as they are sent,
    #: and headers such as ``content-disposition``. The media type is the answer's.
    stream: Iterator[bytes] | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """One endpoint of the Management API (see the module's docstring)."""

    method: Method
    #: Relative to ``/api/v2``: ``/attack-protection/brute-force-protection``.
    path: str
    #: Any one of these admits the call (Auth0's "expected any of").
    scopes: tuple[str, ...]
    summary: str
    operation_id: str
    tag: str
    handler: Callable[[Call], Reply]
    answer: Answer
    description: str = ""
    path_params: tuple[PathParam, ...] = ()
    query: tuple[QueryParam, ...] = ()
    #: The JSON schema of the request body (an object); None: the call takes no body.
    body: JsonSchema | None = None
    #: The schema of a ``multipart/form-data`` body instead (its fields; ``format:
    #: binary`` ones are files), and that body's size cap (None: the server's).
    form: JsonSchema | None = None
    max_body_bytes: int | None = None
    #: When the path can name something that does not exist: what its 404 means.
    not_found: str | None = None
    #: When the call can clash with what exists: what its 409 means.
    conflict: str | None = None

    @property
    def changes_something(self) -> bool:
        return self.method in CHANGING_METHODS
