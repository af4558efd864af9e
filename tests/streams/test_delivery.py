"""The deliverer against a real receiver process, on SQLite and PostgreSQL: formats,
categories, pause and resume, a failing or absent receiver (backoff, then everything in
order), suspension, and one deliverer a stream when several run (the lease)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from passgate.domain.events import Event
from passgate.management.log_streams import LogStreamChange, LogStreamsService, NewLogStream
from passgate.storage.event_log import EventLog
from passgate.storage.log_streams import LogStreams
from passgate.streams.delivery import DeliverySettings, StreamDeliverer
from passgate.support.key_encryption import KeyEncryptionKey, KeyEncryptionKeys
from passgate.testing import ManualClock
from tests.streams.helpers import Receiver, decode, receiving

KEYS = KeyEncryptionKeys([KeyEncryptionKey.generate()], source="test")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with receiving(tmp_path) as found:
        yield found


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service(engine: sa.Engine, clock: ManualClock) -> LogStreamsService:
    return LogStreamsService(LogStreams(engine), sealer=lambda: KEYS, clock=clock)


def _deliverer(
    engine: sa.Engine, clock: ManualClock, owner: str = "one", **settings: Any
) -> StreamDeliverer:
    values: dict[str, Any] = {"batch_size": 50, "timeout_s": 2.0, "retry_max_s": 60.0}
    values.update(settings)
    return StreamDeliverer(
        LogStreams(engine),
        sealer=KEYS,
        settings=DeliverySettings(**values),
        clock=clock,
        owner=owner,
    )


def _stream(service: LogStreamsService, url: str, **fields: Any) -> dict[str, Any]:
    sink = {"httpEndpoint": url, **fields.pop("sink", {})}
    return service.create(NewLogStream.from_body({"type": "http", "sink": sink, **fields}))


def _log(engine: sa.Engine, *types: str, clock: ManualClock | None = None) -> list[str]:
    """Write one event of each type; their log ids, in order."""
    made = [
        Event(type=t, date=clock() if clock else 1_800_000_000.0, ip="203.0.113.7", details={})
        for t in types
    ]
    EventLog(engine).append(made)
    return [event.log_id for event in made]


def _drain(deliverer: StreamDeliverer, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not deliverer.run_once():
            return


@pytest.mark.parametrize("content_format", ["JSONLINES", "JSONARRAY", "JSONOBJECT"])
def test_each_format_delivers_every_event_in_order_as_auth0_shapes_it(
    engine: sa.Engine,
    service: LogStreamsService,
    clock: ManualClock,
    receiver: Receiver,
    content_format: str,
) -> None:
    stream = _stream(
        service,
        receiver.url,
        sink={
            "httpContentFormat": content_format,
            "httpContentType": "application/x-ndjson; charset=utf-8",
            "httpAuthorization": "Bearer s3cret-token",
        },
    )
    ids = _log(engine, *(["fepft", "sepft", "sapi"] * 40))
    deliverer = _deliverer(engine, clock)
    _drain(deliverer)

    requests = receiver.accepted()
    assert receiver.log_ids() == ids
    for request in requests:
        assert request["headers"]["content-type"] == "application/x-ndjson; charset=utf-8"
        assert request["headers"]["authorization"] == "Bearer s3cret-token"
    if content_format == "JSONOBJECT":
        assert len(requests) == len(ids)
        assert all(request["body"].startswith("{") for request in requests)
    elif content_format == "JSONARRAY":
        assert len(requests) == 3  # batches of 50
        assert all(isinstance(json.loads(r["body"]), list) for r in requests)
    else:
        assert len(requests) == 3
        assert all(r["body"].endswith("\n") for r in requests)
        assert all(len(r["body"].splitlines()) <= 50 for r in requests)
    item = receiver.items()[0]
    assert set(item) == {"log_id", "data"}
    assert item["data"]["log_id"] == item["log_id"]
    assert item["data"]["type"] == "fepft"
    assert item["data"]["date"] == "2027-01-15T08:00:00.000Z"
    assert item["data"]["ip"] == "203.0.113.7"
    assert "user_id" not in item["data"]  # only the fields the event has
    shown = service.get(stream["id"])
    assert shown["delivery"]["last_log_id"] == ids[-1]
    assert shown["delivery"]["failures"] == 0


def test_a_new_stream_starts_after_the_events_logged_before_it(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    _log(engine, "sepft", "fepft")
    _stream(service, receiver.url)
    later = _log(engine, "ss")
    _drain(_deliverer(engine, clock))
    assert receiver.log_ids() == later


def test_categories_choose_the_events_and_the_cursor_passes_the_others(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    stream = _stream(
        service,
        receiver.url,
        filters=[
            {"type": "category", "name": "auth.token_exchange.fail"},
            {"type": "category", "name": "auth.signup.success"},
        ],
    )
    ids = _log(engine, "fepft", "sepft", "ss", "sapi", "limit_wc", "fepft", "fs")
    _drain(_deliverer(engine, clock))
    assert receiver.log_ids() == [ids[0], ids[2], ids[5]]
    assert service.get(stream["id"])["delivery"]["last_log_id"] == ids[-1]

    service.update(
        stream["id"],
        LogStreamChange.from_body({"filters": [{"type": "category", "name": "other"}]}),
    )
    more = _log(engine, "limit_wc", "pwd_leak", "fepft", "limit_mu")
    _drain(_deliverer(engine, clock))
    assert receiver.log_ids()[3:] == [more[0], more[1], more[3]]


def test_a_paused_stream_sends_nothing_and_on_resume_sends_what_it_missed_in_order(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    stream = _stream(service, receiver.url)
    first = _log(engine, "sepft")
    deliverer = _deliverer(engine, clock)
    _drain(deliverer)
    assert service.set_status(stream["id"], "paused")["status"] == "paused"
    missed = _log(engine, "fepft", "fepft", "sepft")
    _drain(deliverer)
    assert receiver.log_ids() == first

    assert service.set_status(stream["id"], "active")["status"] == "active"
    _drain(deliverer)
    assert receiver.log_ids() == first + missed


def test_a_refusing_receiver_is_retried_with_a_doubling_capped_delay_then_gets_all_in_order(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    stream = _stream(service, receiver.url)
    receiver.refuse(503)
    ids = _log(engine, *(["fepft"] * 120))
    deliverer = _deliverer(engine, clock, retry_max_s=8.0)
    delays = []
    for _ in range(6):
        deliverer.run_once()
        shown = service.get(stream["id"])["delivery"]
        retry_at = LogStreams(engine).get(stream["id"])
        assert retry_at is not None
        delays.append(retry_at.delivery.retry_at - clock())
        assert deliverer.run_once() is False  # not tried again before its time
        clock.advance(delays[-1])
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert shown["failures"] == 6
    assert shown["last_error"] == "the receiver answered HTTP 503"
    assert len(receiver.requests()) == 6  # one try each time, the same first batch
    assert {next(iter(decode(r["body"])[0].values())) for r in receiver.requests()} == {ids[0]}

    receiver.refuse(None)
    _drain(deliverer)
    assert receiver.log_ids() == ids
    assert service.get(stream["id"])["delivery"]["failures"] == 0


def test_a_receiver_that_is_down_then_back_gets_everything_in_order(
    engine: sa.Engine,
    service: LogStreamsService,
    clock: ManualClock,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    stream = _stream(service, receiver.url)
    receiver.stop()
    ids = _log(engine, *(["sepft", "fepft"] * 30))
    deliverer = _deliverer(engine, clock)
    for _ in range(4):
        deliverer.run_once()
        clock.advance(3600)  # an hour down, and more
        ids += _log(engine, "fepft")
    assert (
        service.get(stream["id"])["delivery"]["last_error"] == "could not connect to the receiver"
    )

    back = Receiver(tmp_path, port=receiver.port)
    back.start()
    try:
        _drain(deliverer)
        assert back.log_ids() == ids
    finally:
        back.stop()


def test_a_stream_failing_past_the_limit_is_suspended_and_resumes_where_it_stopped(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    stream = _stream(service, receiver.url)
    receiver.refuse(500)
    ids = _log(engine, "fepft", "sepft")
    deliverer = _deliverer(engine, clock, suspend_after_s=600.0, retry_max_s=60.0)
    while service.get(stream["id"])["status"] == "active":
        deliverer.run_once()
        clock.advance(60)
    assert service.get(stream["id"])["status"] == "suspended"
    tries = len(receiver.requests())
    clock.advance(3600)
    deliverer.run_once()
    assert len(receiver.requests()) == tries  # a suspended stream is not tried

    receiver.refuse(None)
    resumed = service.set_status(stream["id"], "active")
    assert resumed["delivery"]["failures"] == 0
    _drain(deliverer)
    assert receiver.log_ids() == ids


def test_one_deliverer_a_stream_until_its_lease_runs_out(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    _stream(service, receiver.url)
    first, second = (_deliverer(engine, clock, owner=o, lease_s=30.0) for o in ("a", "b"))
    ids = _log(engine, "sepft")
    _drain(first)
    ids += _log(engine, "fepft")
    _drain(second)  # a holds the stream: b sends nothing
    assert receiver.log_ids() == ids[:1]
    clock.advance(20)
    _drain(first)  # a renews its lease as it delivers
    clock.advance(20)
    ids += _log(engine, "ss")
    _drain(second)
    assert receiver.log_ids() == ids[:2]

    clock.advance(31)  # a died: its lease runs out, b takes over where a stopped
    _drain(second)
    assert receiver.log_ids() == ids
    ids += _log(engine, "fs")
    _drain(first)  # now b holds it
    assert receiver.log_ids() == ids[:3]


def test_a_stopped_deliverer_gives_its_leases_up(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    _stream(service, receiver.url)
    first, second = (_deliverer(engine, clock, owner=o) for o in ("a", "b"))
    ids = _log(engine, "sepft")
    _drain(first)
    first.stop()
    ids += _log(engine, "fepft")
    _drain(second)
    assert receiver.log_ids() == ids


def test_an_authorization_that_does_not_open_is_a_failure_not_a_request(
    engine: sa.Engine, service: LogStreamsService, clock: ManualClock, receiver: Receiver
) -> None:
    stream = _stream(service, receiver.url, sink={"httpAuthorization": "Bearer x"})
    _log(engine, "sepft")
    other = KeyEncryptionKeys([KeyEncryptionKey.generate()], source="other")
    deliverer = StreamDeliverer(LogStreams(engine), sealer=other, clock=clock, owner="x")
    deliverer.run_once()
    assert receiver.requests() == []
    error = service.get(stream["id"])["delivery"]["last_error"]
    assert error.startswith("the authorization header cannot be decrypted")
    assert "Bearer" not in error
