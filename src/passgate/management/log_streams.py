"""Log streams, as the Management API's ``/log-streams`` and ``passgate log-streams``
manage them (Auth0's shape, type ``http``).

Bodies come in as Auth0's JSON (``NewLogStream.from_body``, ``LogStreamChange.from_body``,
checked by :mod:`passgate.management.log_stream_fields`); Auth0-shaped dicts go out, with
the authorization header masked and a ``delivery`` object of passgate's (how far the stream
got, its failures). The header is sealed under the key-encryption key before it is stored.
Every method reads or writes the database: run it off the event loop. The deliverer of
every process sees a change at its next round (within half a second).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from passgate.domain.clock import Clock, system_clock
from passgate.domain.events import log_date
from passgate.domain.log_streams import DEFAULT_CONTENT_FORMAT, DEFAULT_CONTENT_TYPE, LogStream
from passgate.errors import BadRequest, NotFound
from passgate.management.log_stream_fields import (
    MASK,
    SinkFields,
    payload_error,
    read_filters,
    read_name,
    read_sink,
    read_status,
    read_type,
    refuse_unsupported,
)
from passgate.management.payload import body_object
from passgate.storage.log_streams import LogStreams, new_stream_id
from passgate.support.key_encryption import KeyEncryptionKeys

__all__ = [
    "DEFAULT_NAME",
    "MAX_STREAMS",
    "LogStreamChange",
    "LogStreamsService",
    "NewLogStream",
    "stream_json",
]

#: At most this many streams (Auth0's limit too): each costs every process a read a round.
MAX_STREAMS = 10
DEFAULT_NAME = "HTTP log stream"
#: A stream id in a path (ours are 21 characters).
_MAX_ID = 40
_CREATE_FIELDS = ("name", "type", "status", "filters", "sink", "isPriority", "pii_config")
_CHANGE_FIELDS = ("name", "status", "filters", "sink", "isPriority", "pii_config")


def stream_json(stream: LogStream) -> dict[str, Any]:
    """``stream`` as Auth0 shows one, the authorization header masked, and passgate's
    ``delivery``: the last event handled, when a delivery last worked, the failures in a
    row, the last error and the next try."""
    sink: dict[str, Any] = {
        "httpEndpoint": stream.endpoint,
        "httpContentType": stream.content_type,
        "httpContentFormat": stream.content_format,
    }
    if stream.authorization_sealed is not None:
        sink["httpAuthorization"] = MASK
    state = stream.delivery
    return {
        "id": stream.id,
        "name": stream.name,
        "type": stream.type,
        "status": stream.status,
        "isPriority": False,
        "filters": [{"type": "category", "name": name} for name in stream.filters],
        "sink": sink,
        "delivery": {
            "last_log_id": state.cursor_log_id,
            "delivered_at": None if state.delivered_at is None else log_date(state.delivered_at),
            "failures": state.failures,
            "last_error": state.last_error,
            "retry_at": log_date(state.retry_at) if state.failures else None,
        },
    }


@dataclasses.dataclass(frozen=True, slots=True)
class NewLogStream:
    """What a ``POST /log-streams`` asks for."""

    name: str
    sink: SinkFields
    filters: tuple[str, ...] = ()
    status: str = "active"

    @classmethod
    def from_body(cls, body: object) -> NewLogStream:
        fields = body_object(body, (*_CREATE_FIELDS, "startFrom"))
        refuse_unsupported(fields)
        read_type(fields)
        if "sink" not in fields:
            raise payload_error("Missing required property: sink")
        return cls(
            name=read_name(fields["name"]) if "name" in fields else DEFAULT_NAME,
            sink=read_sink(fields["sink"], creating=True),
            filters=read_filters(fields["filters"]) if "filters" in fields else (),
            status=read_status(fields["status"]) if "status" in fields else "active",
        )


@dataclasses.dataclass(frozen=True, slots=True)
class LogStreamChange:
    """What a ``PATCH /log-streams/{id}`` changes; None: left as it is."""

    name: str | None = None
    status: str | None = None
    filters: tuple[str, ...] | None = None
    sink: SinkFields | None = None

    @classmethod
    def from_body(cls, body: object) -> LogStreamChange:
        fields = body_object(body, (*_CHANGE_FIELDS, "type", "startFrom"))
        if "type" in fields:
            raise payload_error("The type of a log stream cannot change", "type")
        refuse_unsupported(fields)
        return cls(
            name=read_name(fields["name"]) if "name" in fields else None,
            status=read_status(fields["status"]) if "status" in fields else None,
            filters=read_filters(fields["filters"]) if "filters" in fields else None,
            sink=read_sink(fields["sink"], creating=False) if "sink" in fields else None,
        )


class LogStreamsService:
    def __init__(
        self,
        store: LogStreams,
        *,
        sealer: Callable[[], KeyEncryptionKeys],
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock

    def create(self, new: NewLogStream) -> dict[str, Any]:
        if self._store.count() >= MAX_STREAMS:
            raise BadRequest(
                f"You have reached the maximum number of log streams ({MAX_STREAMS}); "
                "delete one first",
                code="too_many_entities",
            )
        now = self._clock()
        stream_id = new_stream_id(now)
        sealed, kek_id = self._sealed(stream_id, new.sink.authorization)
        stream = LogStream(
            id=stream_id,
            name=new.name,
            status=new.status,
            filters=new.filters,
            endpoint=new.sink.endpoint or "",
            content_type=new.sink.content_type or DEFAULT_CONTENT_TYPE,
            content_format=new.sink.content_format or DEFAULT_CONTENT_FORMAT,
            authorization_sealed=sealed,
            authorization_kek_id=kek_id,
            created_at=now,
            updated_at=now,
        )
        return stream_json(self._store.create(stream))

    def list_streams(self) -> list[dict[str, Any]]:
        """Every stream, oldest first (Auth0 answers a bare array, unpaged)."""
        return [stream_json(stream) for stream in self._store.all()]

    def get(self, stream_id: str) -> dict[str, Any]:
        return stream_json(self._stream(stream_id))

    def update(self, stream_id: str, change: LogStreamChange) -> dict[str, Any]:
        stream = self._stream(stream_id)
        values: dict[str, Any] = {}
        if change.name is not None:
            values["name"] = change.name
        if change.status is not None:
            values["status"] = change.status
        if change.filters is not None:
            values["filters"] = change.filters
        sink = change.sink
        if sink is not None:
            for field, attribute in (
                ("endpoint", sink.endpoint),
                ("content_type", sink.content_type),
                ("content_format", sink.content_format),
            ):
                if attribute is not None:
                    values[field] = attribute
            if sink.clear_authorization:
                values.update(authorization_sealed=None, authorization_kek_id=None)
            elif sink.authorization is not None:
                sealed, kek_id = self._sealed(stream.id, sink.authorization)
                values.update(authorization_sealed=sealed, authorization_kek_id=kek_id)
        if not values:
            return stream_json(stream)
        resumed = values.get("status") == "active" and stream.status != "active"
        changed = dataclasses.replace(stream, updated_at=self._clock(), **values)
        stored = self._store.update(changed, resumed=resumed or sink is not None)
        if stored is None:
            raise _not_found()
        return stream_json(stored)

    def set_status(self, stream_id: str, status: str) -> dict[str, Any]:
        """Pause (``paused``) or resume (``active``) a stream."""
        return self.update(stream_id, LogStreamChange(status=read_status(status)))

    def delete(self, stream_id: str) -> None:
        if len(stream_id) > _MAX_ID or not self._store.delete(stream_id):
            raise _not_found()

    def rewrap(self) -> int:
        """Seal every stream's authorization under the current key-encryption key; return
        how many were sealed under another. Raises
        :class:`~passgate.support.key_encryption.KeyEncryptionError`, changing nothing, when
        one does not open with the keys at hand."""
        sealer = self._sealer()

        def rewrapped(stream: LogStream) -> tuple[str, str] | None:
            sealed, kek_id = stream.authorization_sealed, stream.authorization_kek_id
            if sealed is None or kek_id is None or kek_id == sealer.current.id:
                return None
            plain = sealer.unseal(sealed, kek_id=kek_id, kid=stream.id, what="log stream")
            return sealer.seal(plain, kid=stream.id), sealer.current.id

        return self._store.reseal(rewrapped)

    def _stream(self, stream_id: str) -> LogStream:
        stream = self._store.get(stream_id) if len(stream_id) <= _MAX_ID else None
        if stream is None:
            raise _not_found()
        return stream

    def _sealed(self, stream_id: str, authorization: str | None) -> tuple[str | None, str | None]:
        if authorization is None:
            return None, None
        sealer = self._sealer()
        return sealer.seal(authorization, kid=stream_id), sealer.current.id


def _not_found() -> NotFound:
    return NotFound("The log stream does not exist", code="inexistent_log_stream")
