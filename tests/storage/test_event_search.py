"""Searching the event log, on every SQL backend (``sql_url``): each kind of term, the
characters a wildcard must take literally, NOT over missing fields, dates to the
millisecond, orders and pages, checkpoints; and any tree finds exactly the events a plain
Python reading of the same tree finds."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passgate.domain.client_ip import normalise_ip
from passgate.domain.events import Event
from passgate.domain.log_query import (
    ABSENT_FIELDS,
    BARE_FIELDS,
    And,
    AnyCase,
    DateSpan,
    Exists,
    Node,
    Not,
    Or,
    Pattern,
    Sort,
    Term,
    details_path,
)
from passgate.domain.log_query_parser import parse_query
from passgate.storage.event_log import EventLog
from passgate.storage.event_search import EventSearch

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00.000Z

EVENTS = [
    Event("sepft", date=T0, log_id="e0", ip="203.0.113.5", client_ip="10.0.0.2",
          client_id="cid-shop", client_name="Web shop", connection="Username-Password",
          user_id="auth0|alice", user_name="Alice@example.com", user_agent="curl/8.0",
          audience="https://api.example/", scope="openid profile",
          details={"error": "none", "attempts": 3, "ok": True, "nested": {"key": "deep"}}),
    Event("fepft", date=T0 + 1, log_id="e1", ip="2001:db8::7", client_id="cid-app",
          client_name="App", user_name="bob_x%", details={"error": "wrong", "ok": False}),
    Event("fepft", date=T0 + 2, log_id="e2", ip="198.51.100.1", user_name="jane*smith",
          details={"error": "wrong password"}),
    Event("limit_wc", date=T0 + 3.0004, log_id="e3", user_name="a[b]?c\\d",
          client_name="Web shop"),
    Event("ss", date=T0 + 3.0004, log_id="e4", user_name="ALICE@EXAMPLE.COM",
          description="Successful signup", connection="Pass-Connection"),
    Event("s", date=T0 - 86_400, log_id="e5"),
]  # fmt: skip


@pytest.fixture
def search(engine: sa.Engine) -> EventSearch:
    EventLog(engine).append(EVENTS)
    return EventSearch(engine)


def found(search: EventSearch, query: str | Node | None, sort: Sort | None = None) -> list[str]:
    tree = parse_query(query) if isinstance(query, str) else query
    return [e.log_id for e in search.page(tree, sort=sort or Sort(), offset=0, limit=100)]


# -- terms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type:fepft", ["e2", "e1"]),
        ("type:FEPFT", []),  # case-sensitive, as Auth0
        ("type:fep", []),  # the whole value
        ('client_name:"Web shop"', ["e3", "e0"]),
        ("user_name:alice@example.com", []),
        ("user_name:Alice@example.com", ["e0"]),
        ("user_id:auth0|alice", ["e0"]),
        ("connection:*Pass*", ["e4", "e0"]),
        ("connection:*pass*", []),
        ("user_agent:curl*", ["e0"]),
        ("audience:https://api.example/", ["e0"]),
        ('scope:"openid profile"', ["e0"]),
        ('description:"Successful signup"', ["e4"]),
        ("log_id:e3", ["e3"]),
        ("shop", []),
        ('"Web shop"', ["e3", "e0"]),  # a bare value: user_name, client_name, type, ip, …
        ("fepft", ["e2", "e1"]),
        ("e5", ["e5"]),
        ('"203.0.113.5"', ["e0"]),
        ("user_id:*", ["e0"]),
        ("NOT user_id:*", ["e4", "e3", "e2", "e1", "e5"]),
        ("NOT client_name:App", ["e4", "e3", "e2", "e0", "e5"]),  # events without a name too
        ("NOT (client_name:App OR ip:*)", ["e4", "e3", "e5"]),
        ("type:fepft AND NOT details.error:wrong", ["e2"]),
        ("hostname:x", []),
        ("hostname:*", []),
        ("NOT strategy:auth0", ["e4", "e3", "e2", "e1", "e0", "e5"]),
    ],
)
def test_terms(search: EventSearch, query: str, expected: list[str]) -> None:
    assert found(search, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ip:203.0.113.5", ["e0"]),
        ("ip:2001:DB8:0:0::7", ["e1"]),
        ('"2001:db8:0::7"', ["e1"]),
        ("ip:::ffff:198.51.100.1", ["e2"]),
        ("client_ip:10.0.0.2", ["e0"]),
        ("ip:10.0.0.2", []),  # ip is the end user's, client_ip the connecting one
        ("ip:2001:db8:*", ["e1"]),
    ],
)
def test_ips_match_in_any_notation(search: EventSearch, query: str, expected: list[str]) -> None:
    assert found(search, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user_name:bob\\_*", ["e1"]),  # _ and % are LIKE's wildcards: literal here
        ("user_name:bob_x\\%", ["e1"]),
        ("user_name:bo*x%", ["e1"]),
        ("user_name:bo*_x%", ["e1"]),
        ("user_name:bob%*", []),
        ("user_name:jane\\**", ["e2"]),  # GLOB's * and ?, [ and ] too
        ("user_name:*e\\*s*", ["e2"]),
        ('user_name:"jane*smith"', ["e2"]),
        ("user_name:jane*smith", ["e2"]),
        ("user_name:a\\[b\\]\\?c*", ["e3"]),
        ("user_name:*c\\\\d", ["e3"]),
        ("user_name:*\\]\\?c\\\\*", ["e3"]),
        ("user_name:*b\\]c*", []),
    ],
)
def test_wildcards_take_other_special_characters_literally(
    search: EventSearch, query: str, expected: list[str]
) -> None:
    assert found(search, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("details.error:wrong", ["e1"]),
        ('details.error:"wrong password"', ["e2"]),
        ("details.error:wrong*", ["e2", "e1"]),
        ("details.attempts:3", ["e0"]),
        ("details.ok:true", ["e0"]),
        ("details.ok:false", ["e1"]),
        ("details.nested.key:deep", ["e0"]),
        ("details.nested.missing:*", []),
        ("details.ok:*", ["e1", "e0"]),
        ("NOT details.error:*", ["e4", "e3", "e5"]),
    ],
)
def test_details_by_path(search: EventSearch, query: str, expected: list[str]) -> None:
    assert found(search, query) == expected


def test_any_case_is_for_programs(search: EventSearch) -> None:
    assert found(search, AnyCase("user_name", "alice@EXAMPLE.com")) == ["e4", "e0"]
    assert found(search, Not(AnyCase("user_name", "alice@example.com"))) == [
        "e3", "e2", "e1", "e5",
    ]  # fmt: skip
    assert found(search, AnyCase("hostname", "x")) == []


# -- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date:2027-01-15", ["e4", "e3", "e2", "e1", "e0"]),
        ("date:2027-01-14", ["e5"]),
        ("date:2027-01", ["e4", "e3", "e2", "e1", "e0", "e5"]),
        ("date:2027-01-15T08:00:01", ["e1"]),
        ("date:2027-01-15T08:00:03.000Z", ["e4", "e3"]),  # 3.0004 s: in that millisecond
        ("date:2027-01-15T08:00:03.001Z", []),
        ("date:[2027-01-15T08:00:01 TO 2027-01-15T08:00:02]", ["e2", "e1"]),
        ("date:[2027-01-15T08:00:01 TO 2027-01-15T08:00:02}", ["e1"]),
        ("date:{2027-01-15T08:00:01 TO 2027-01-15T08:00:02]", ["e2"]),
        ("date:[2027-01-15T08:00:03 TO *]", ["e4", "e3"]),
        ("date:[* TO 2027-01-15}", ["e5"]),
        ("date:[2027-01-15T09:00:00+01:00 TO 2027-01-15T09:00:00.999+01:00]", ["e0"]),
        ("date:[2027-01-15T08:00:01 TO *] AND type:fepft", ["e2", "e1"]),
    ],
)
def test_dates_to_the_millisecond(search: EventSearch, query: str, expected: list[str]) -> None:
    assert found(search, query) == expected


# -- order and pages --------------------------------------------------------------------------


def test_orders(search: EventSearch) -> None:
    assert found(search, None) == ["e4", "e3", "e2", "e1", "e0", "e5"]  # newest first
    assert found(search, None, Sort("date", descending=False)) == [
        "e5", "e0", "e1", "e2", "e3", "e4",
    ]  # fmt: skip
    # Equal dates (e3, e4) in the order they were written, in the same direction.
    by_name = found(search, None, Sort("client_name", descending=False))
    assert by_name == ["e1", "e0", "e3", "e2", "e4", "e5"]  # no name: last, either way
    assert found(search, None, Sort("client_name"))[:3] == ["e3", "e0", "e1"]
    assert found(search, None, Sort("strategy")) == ["e5", "e4", "e3", "e2", "e1", "e0"]


def test_pages_and_counts(search: EventSearch) -> None:
    pages = [
        [e.log_id for e in search.page(None, sort=Sort(), offset=offset, limit=4)]
        for offset in (0, 4, 8)
    ]
    assert pages == [["e4", "e3", "e2", "e1"], ["e0", "e5"], []]
    assert search.page(None, sort=Sort(), offset=0, limit=0) == []
    assert search.count(None, up_to=100) == 6
    assert search.count(None, up_to=4) == 4
    assert search.count(parse_query("type:fepft OR type:ss"), up_to=100) == 3
    assert search.count(parse_query("type:fepft OR type:ss"), up_to=3) == 3
    assert search.count(parse_query("hostname:x"), up_to=100) == 0


def test_get_and_positions(search: EventSearch) -> None:
    event = search.get("e0")
    assert event == EVENTS[0]
    assert search.get("nope") is None
    assert search.get("e0" * 100) is None
    first, last = search.position("e0"), search.position("e5")
    assert first is not None
    assert last == search.end()
    assert search.position("nope") is None


def test_checkpoints(search: EventSearch, engine: sa.Engine) -> None:
    start = search.position("e0")
    assert start is not None
    events, following = search.after(start - 1, None, limit=2)
    assert [e.log_id for e in events] == ["e0", "e1"]
    assert following == search.position("e1")
    events, following = search.after(following, parse_query("type:fepft"), limit=5)
    assert [e.log_id for e in events] == ["e2"]
    assert following == search.end()  # read to the end: no need to read e3..e5 again
    assert search.after(following, None, limit=5) == ([], following)
    assert search.after(start, None, limit=0) == ([], start)
    EventLog(engine).append([Event("fepft", date=T0 - 5, log_id="late")])
    events, _ = search.after(following, parse_query("type:fepft"), limit=5)
    assert [e.log_id for e in events] == ["late"]  # written later, dated earlier: still next


@pytest.mark.parametrize("window", [1, 2, 20])
@pytest.mark.parametrize("query", [None, "type:fepft", "NOT type:fepft", "log_id:e5", "hostname:x"])
def test_checkpoints_read_in_order_past_the_window_too(
    search: EventSearch, monkeypatch: pytest.MonkeyPatch, window: int, query: str | None
) -> None:
    """A read scans ``window`` pages' worth of positions in order, then the query's index:
    either way the events come in the order they were written."""
    monkeypatch.setattr("passgate.storage.event_search.CHECKPOINT_WINDOW", window)
    tree = None if query is None else parse_query(query)
    expected = (
        [e.log_id for e in EVENTS if reading(tree, e)] if tree else [e.log_id for e in EVENTS]
    )
    for limit in (1, 2, 100):
        seen: list[str] = []
        position = 0
        while True:
            events, position = search.after(position, tree, limit=limit)
            if not events:
                break
            seen += [e.log_id for e in events]
        assert seen == expected, limit


# -- any tree: as a plain reading of it ----------------------------------------------------------


def _text(event: Event, field: str) -> str | None:
    if field in ABSENT_FIELDS:
        return None
    keys = details_path(field)
    if keys is None:
        value = getattr(event, field)
        return None if value is None else str(value)
    value = event.details
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if value is None or isinstance(value, dict):
        return None
    return json.dumps(value) if isinstance(value, bool | int | float) else str(value)


def _leaf(node: Term | Pattern | Exists, field: str, event: Event) -> bool:
    text = _text(event, field)
    match node:
        case Term(_, value):
            return text == (normalise_ip(value) if field in ("ip", "client_ip") else value)
        case Pattern(_, parts):
            regex = ".*".join(re.escape(part) for part in parts)
            return text is not None and re.fullmatch(regex, text, re.DOTALL) is not None
    return text is not None


def reading(node: Node, event: Event) -> bool:
    """What ``node`` means for ``event``, in Python."""
    match node:
        case Term() | Pattern() | Exists():
            fields = BARE_FIELDS if node.field is None else (node.field,)
            return any(_leaf(node, field, event) for field in fields)
        case DateSpan(start, end):
            return (start is None or event.date >= start / 1000) and (
                end is None or event.date < end / 1000
            )
        case AnyCase(field, value):
            text = _text(event, field)
            return text is not None and text.lower() == value.lower()
        case Not(operand):
            return not reading(operand, event)
        case And(operands):
            return all(reading(o, event) for o in operands)
        case Or(operands):
            return any(reading(o, event) for o in operands)
    raise AssertionError(node)


_VALUES = sorted(
    {v for e in EVENTS for f in (*BARE_FIELDS, "user_id", "client_ip") if (v := _text(e, f))}
)
_FIELDS = st.sampled_from(
    [None, "type", "ip", "client_ip", "user_name", "client_name", "user_id", "connection",
     "details.error", "details.ok", "hostname"]
)  # fmt: skip
_PIECES = st.one_of(st.sampled_from(_VALUES), st.text("ab_%*?[]\\Ee.:", max_size=4))


@st.composite
def _patterns(draw: st.DrawFn) -> Pattern:
    value = draw(st.sampled_from(_VALUES))
    cut = draw(st.integers(0, len(value)))
    parts = (value[:cut], *draw(st.lists(_PIECES.filter(bool), max_size=2)), draw(_PIECES))
    return Pattern(draw(_FIELDS), parts)


_LEAVES = st.one_of(
    st.builds(Term, _FIELDS, _PIECES),
    _patterns(),
    st.builds(Exists, _FIELDS),
    st.builds(AnyCase, _FIELDS.filter(bool), _PIECES),
    st.builds(
        DateSpan,
        st.none() | st.integers(int(T0 * 1000) - 86_400_001, int(T0 * 1000) + 4000),
        st.none() | st.integers(int(T0 * 1000) - 1000, int(T0 * 1000) + 4000),
    ),
)
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda nodes: And(tuple(nodes))),
        st.lists(inner, min_size=2, max_size=3).map(lambda nodes: Or(tuple(nodes))),
    ),
    max_leaves=6,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=_TREES)
def test_any_tree_finds_what_a_plain_reading_finds(search: EventSearch, tree: Node) -> None:
    expected = [e.log_id for e in sorted(EVENTS, key=lambda e: -e.date) if reading(tree, e)]
    assert sorted(found(search, tree)) == sorted(expected)
    assert search.count(tree, up_to=100) == len(expected)


def test_a_nul_in_details_does_not_break_searches_on_details(search: EventSearch) -> None:
    """PostgreSQL's jsonb refuses the JSON escape of NUL: one such event (a value an
    attacker sent) made every search on ``details`` fail. The log keeps U+FFFD instead."""
    EventLog(search._engine).append(
        [Event("fepft", date=T0 + 5, log_id="nul", details={"error": "a\x00b", "x\x00": 1})]
    )
    assert found(search, "details.error:wrong") == ["e1"]
    assert found(search, 'details.error:"a\ufffdb"') == ["nul"]
    assert found(search, "details.error:*") == ["nul", "e2", "e1", "e0"]
    stored = EventSearch(search._engine).get("nul")
    assert stored is not None
    assert stored.details == {"error": "a\ufffdb", "x\ufffd": 1}
