"""The Management API's log operations below HTTP: parameters as a query string gives them
(each refusal names its parameter), Auth0's log objects and envelopes, pages, checkpoints,
one event, a user's events; on every SQL backend (``sql_url``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passgate.domain.events import Event
from passgate.domain.log_query import InvalidLogRequest, Sort, Term
from passgate.management.logs import (
    LIST_PARAMETERS,
    LogListing,
    LogService,
    log_json,
    read_listing,
)
from passgate.storage.event_log import EventLog
from passgate.storage.event_search import EventSearch

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00.000Z
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def refusal(params: list[tuple[str, str]], **kwargs: Any) -> InvalidLogRequest:
    with pytest.raises(InvalidLogRequest) as refused:
        read_listing(params, **kwargs)
    return refused.value


# -- parameters ---------------------------------------------------------------------------


def test_defaults() -> None:
    assert read_listing([]) == LogListing()
    assert LogListing().per_page == 50
    assert LogListing().sort == Sort("date", descending=True)


def test_every_parameter() -> None:
    listing = read_listing(
        [("q", "type:s"), ("page", "2"), ("per_page", "100"), ("sort", "user_name:1"),
         ("fields", "type,date"), ("include_fields", "false"), ("include_totals", "TRUE")]
    )  # fmt: skip
    assert listing == LogListing(
        where=Term("type", "s"),
        sort=Sort("user_name", descending=False),
        page=2,
        per_page=100,
        include_totals=True,
        fields=frozenset({"type", "date"}),
        include_fields=False,
    )
    assert read_listing([("search", "type:s")]).where == Term("type", "s")
    assert read_listing([("q", "type:s"), ("search", "type:s")]).where == Term("type", "s")
    assert read_listing([("q", "")]).where is None
    assert read_listing([("fields", "")]).fields is None
    checkpoint = read_listing([("from", "abc"), ("take", "100"), ("q", "type:s")])
    assert (checkpoint.checkpoint, checkpoint.take, checkpoint.where) == (
        "abc", 100, Term("type", "s"),
    )  # fmt: skip
    assert read_listing([("from", "")]).checkpoint == ""
    assert read_listing([("page", "0" * 20 + "7")]).page == 7


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ([("per_page", "101")], "per_page", "per_page must be at most 100"),
        ([("take", "101"), ("from", "")], "take", "take must be at most 100"),
        ([("page", "1000000000")], "page", "page must be at most 999999999"),
        ([("page", "9" * 5000)], "page", "page must be at most"),
        ([("page", "-1")], "page", "page must be a whole number from 0, not '-1'"),
        ([("page", "+1")], "page", "whole number"),
        ([("page", " 1")], "page", "whole number"),
        ([("page", "1.0")], "page", "whole number"),
        ([("page", "1e2")], "page", "whole number"),
        ([("page", "\uff11")], "page", "whole number"),  # a fullwidth 1
        ([("page", "")], "page", "whole number"),
        ([("per_page", "ten")], "per_page", "whole number"),
        ([("include_totals", "yes")], "include_totals", "include_totals must be true or false"),
        ([("include_totals", "")], "include_totals", "true or false"),
        ([("include_fields", "1")], "include_fields", "true or false"),
        ([("sort", "date")], "sort", "sort must be a field, ':' and 1 or -1"),
        ([("sort", "date:2")], "sort", "1 or -1"),
        ([("sort", "date:-1 ")], "sort", "1 or -1"),
        ([("sort", "Date:1")], "sort", "sort: unknown field 'Date'"),
        ([("sort", "details:1")], "sort", "details has no order"),
        ([("fields", "type,foo")], "fields", "fields: unknown field 'foo'"),
        ([("fields", "type,,date")], "fields", "unknown field ''"),
        ([("fields", "type, date")], "fields", "unknown field ' date'"),
        ([("q", "type:")], "q", "q: expected a value after 'type:' (at character 6)"),
        ([("search", "(a")], "search", "search: this '(' is never closed (at character 1)"),
        ([("q", "type:s"), ("search", "type:f")], "search", "give q or search"),
        ([("q", "type:\x00")], "q", "q must not hold a NUL character"),
        ([("from", "a\x00")], "from", "from must not hold a NUL character"),
        ([("q", "type:\ud800")], "q", "q is not valid UTF-8 text"),
        ([("page", "1"), ("page", "1")], "page", "page is given more than once"),
        ([("q", "a"), ("q", "a")], "q", "q is given more than once"),
        ([("pages", "1")], "pages", "unknown parameter 'pages'"),
        ([("Page", "1")], "Page", "unknown parameter 'Page'"),
        ([("x" * 1000, "1")], "x" * 1000, "unknown parameter 'xxxxx"),
        ([("from", "a"), ("page", "1")], "page", "page does not apply to checkpoint paging"),
        ([("from", "a"), ("per_page", "5")], "per_page", "does not apply"),
        ([("from", "a"), ("sort", "date:1")], "sort", "does not apply"),
        ([("from", "a"), ("include_totals", "true")], "include_totals", "does not apply"),
        ([("take", "10")], "take", "take is for checkpoint paging: give it with from"),
    ],
)
def test_refusals_name_the_parameter(
    params: list[tuple[str, str]], parameter: str, message: str
) -> None:
    refused = refusal(params)
    assert refused.parameter == parameter
    assert message in str(refused)
    assert len(str(refused)) < 1000


def test_a_user_s_logs_take_fewer_parameters() -> None:
    assert read_listing([("page", "1")], allowed=frozenset({"page"})).page == 1
    assert refusal([("q", "type:s")], allowed=frozenset({"page"})).parameter == "q"


# -- log objects --------------------------------------------------------------------------


def test_log_objects_have_auth0_s_fields_and_no_nulls() -> None:
    event = Event(
        "fepft", date=T0 + 0.0126, log_id="L1", ip="203.0.113.5", client_ip="10.0.0.2",
        user_name="ann", details={"error": "wrong"},
    )  # fmt: skip
    assert log_json(event) == {
        "type": "fepft",
        "date": "2027-01-15T08:00:00.012Z",
        "log_id": "L1",
        "description": "Failed exchange of password for access token",
        "ip": "203.0.113.5",
        "client_ip": "10.0.0.2",
        "user_name": "ann",
        "details": {"error": "wrong"},
    }
    assert log_json(event, frozenset({"type", "ip", "hostname"})) == {
        "type": "fepft",
        "ip": "203.0.113.5",
    }
    assert log_json(event, frozenset({"details", "description"}), include=False).keys() == {
        "type", "date", "log_id", "ip", "client_ip", "user_name",
    }  # fmt: skip
    assert log_json(Event("s", date=T0))["details"] == {}


# -- with the database ------------------------------------------------------------------------


@pytest.fixture
def log(engine: sa.Engine) -> EventLog:
    return EventLog(engine)


@pytest.fixture
def logs(engine: sa.Engine, log: EventLog) -> LogService:
    log.append(
        [
            Event("fepft" if n % 3 else "sepft", date=T0 + n, log_id=f"L{n:03}",
                  ip=f"192.0.2.{n % 4}", user_id=f"auth0|u{n % 2}", details={"n": n})
            for n in range(30)
        ]
    )  # fmt: skip
    return LogService(search=EventSearch(engine))


def ids(found: Any) -> list[str]:
    items = found["logs"] if isinstance(found, dict) else found
    return [item["log_id"] for item in items]


def test_list_newest_first_by_pages(logs: LogService) -> None:
    first = logs.list_logs([])
    assert isinstance(first, list)
    assert ids(first) == [f"L{n:03}" for n in range(29, -1, -1)]
    assert all(ISO_MS.fullmatch(item["date"]) for item in first)
    assert first[0]["details"] == {"n": 29}
    assert "client_id" not in first[0]
    page = logs.list_logs([("page", "2"), ("per_page", "7"), ("sort", "date:1")])
    assert ids(page) == [f"L{n:03}" for n in range(14, 21)]
    assert logs.list_logs([("page", "5"), ("per_page", "7")]) == []
    assert logs.list_logs([("per_page", "0")]) == []


def test_include_totals_counts_the_matches(
    logs: LogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = logs.list_logs(
        [("q", "type:sepft"), ("page", "1"), ("per_page", "4"), ("include_totals", "true")]
    )
    assert isinstance(found, dict)
    assert {key: value for key, value in found.items() if key != "logs"} == {
        "start": 4, "limit": 4, "length": 4, "total": 10,
    }  # fmt: skip
    assert ids(found) == ["L015", "L012", "L009", "L006"]
    with monkeypatch.context() as patched:
        patched.setattr("passgate.management.logs.MAX_TOTAL", 7)
        capped = logs.list_logs([("per_page", "2"), ("include_totals", "true")])
    assert isinstance(capped, dict)
    assert (capped["total"], capped["length"]) == (7, 2)  # counted up to MAX_TOTAL
    empty = logs.list_logs([("q", "type:nope"), ("include_totals", "true")])
    assert empty == {"start": 0, "limit": 50, "length": 0, "total": 0, "logs": []}


def test_search_fields_and_alias(logs: LogService) -> None:
    by_ip = logs.list_logs([("search", "ip:192.0.2.1 AND NOT type:sepft"), ("fields", "log_id")])
    assert by_ip == [{"log_id": f"L{n:03}"} for n in (29, 25, 17, 13, 5, 1)]
    without = logs.list_logs([("fields", "details,date"), ("include_fields", "false")])
    assert isinstance(without, list)
    assert not {"details", "date"} & without[0].keys()


def test_one_log(logs: LogService) -> None:
    found = logs.get_log("L007")
    assert found is not None
    assert (found["log_id"], found["type"], found["details"]) == ("L007", "fepft", {"n": 7})
    for missing in ("nope", "", "L" * 65, "L007\x00", "\ud800", "L007 "):
        assert logs.get_log(missing) is None


def test_a_user_s_logs(logs: LogService) -> None:
    found = logs.list_user_logs("auth0|u1", [("per_page", "3"), ("include_totals", "true")])
    assert isinstance(found, dict)
    assert (found["total"], ids(found)) == (15, ["L029", "L027", "L025"])
    assert logs.list_user_logs("auth0|gone", []) == []
    assert ids(logs.list_user_logs("auth0|u0", [("sort", "date:1"), ("per_page", "2")])) == [
        "L000", "L002",
    ]  # fmt: skip
    with pytest.raises(InvalidLogRequest, match="unknown parameter 'q'"):
        logs.list_user_logs("auth0|u0", [("q", "type:s")])
    with pytest.raises(InvalidLogRequest, match="user_id must not hold a NUL"):
        logs.list_user_logs("auth0|\x00", [])


def test_checkpoints(logs: LogService, log: EventLog) -> None:
    assert ids(logs.list_logs([("from", ""), ("take", "3")])) == ["L000", "L001", "L002"]
    assert ids(logs.list_logs([("from", "L002"), ("take", "2")])) == ["L003", "L004"]
    assert len(logs.list_logs([("from", "L002")])) == 27  # take: 50 by default
    assert logs.list_logs([("from", "L029")]) == []
    filtered = logs.list_logs([("from", "L020"), ("q", "type:sepft"), ("fields", "log_id")])
    assert filtered == [{"log_id": "L021"}, {"log_id": "L024"}, {"log_id": "L027"}]
    log.append([Event("sepft", date=T0 - 100, log_id="late")])  # dated before, written after
    assert ids(logs.list_logs([("from", "L029")])) == ["late"]
    for unknown in ("nope", "L" * 65, "L001\ud800"):
        with pytest.raises(InvalidLogRequest) as refused:
            logs.list_logs([("from", unknown)])
        assert refused.value.parameter == "from"


def test_checkpoint_paging_reads_everything_once_as_events_arrive(
    logs: LogService, log: EventLog
) -> None:
    seen: list[str] = []
    checkpoint = ""
    for round_ in range(12):
        page = logs.list_logs([("from", checkpoint), ("take", "7"), ("q", "NOT type:sepft")])
        seen += ids(page)
        checkpoint = seen[-1] if seen else checkpoint
        log.append([Event("fepft", date=T0 - round_, log_id=f"N{round_}-{i}") for i in range(3)])
    while page := logs.list_logs([("from", checkpoint), ("take", "7"), ("q", "NOT type:sepft")]):
        seen += ids(page)
        checkpoint = seen[-1]
    expected = [f"L{n:03}" for n in range(30) if n % 3] + [
        f"N{r}-{i}" for r in range(12) for i in range(3)
    ]
    assert seen == expected


_NAMES = st.sampled_from([*sorted(LIST_PARAMETERS), "other"])
_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["0", "1", "50", "100", "101", "true", "false", "date:-1", "type:s*", ""]),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.lists(st.tuples(_NAMES, _VALUES), max_size=5))
def test_any_parameters_give_logs_or_a_refusal(
    logs: LogService, params: list[tuple[str, str]]
) -> None:
    named: str | None
    try:
        found = logs.list_logs(params)
    except InvalidLogRequest as refused:
        named = refused.parameter
    else:
        named = None
        items = found["logs"] if isinstance(found, dict) else found
        assert len(items) <= 100
    assert named in {None, "q", "search"} | {name for name, _ in params}
