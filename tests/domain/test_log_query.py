"""Auth0's log search language: what each form means, where a bad query goes wrong, the
limits, and that any text gives a tree or a refusal (never another error) and every tree
written back as text parses to itself."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from passgate.domain.log_dates import MAX_MS, MIN_MS, parse_date
from passgate.domain.log_query import (
    MAX_CLAUSES,
    MAX_DEPTH,
    MAX_QUERY_LENGTH,
    SEARCHABLE_FIELDS,
    And,
    AnyCase,
    DateSpan,
    Exists,
    Node,
    Not,
    Or,
    Pattern,
    QuerySyntaxError,
    Term,
    all_of,
    any_of,
    format_query,
)
from passgate.domain.log_query_parser import parse_query

DAY = 86_400_000


def ms(text: str) -> int:
    return parse_date(text)[0]


# -- what each form means ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("type:fp", Term("type", "fp")),
        ('description:"Username invalid"', Term("description", "Username invalid")),
        ('user_id:"123"', Term("user_id", "123")),
        ("jane", Term(None, "jane")),
        ('"customer log"', Term(None, "customer log")),
        ("user_name:john*", Pattern("user_name", ("john", ""))),
        ("user_name:j*", Pattern("user_name", ("j", ""))),
        ("connection:*pass*", Pattern("connection", ("", "pass", ""))),
        ("user_name:*fred*", Pattern("user_name", ("", "fred", ""))),
        ("user_name:jane*smith", Pattern("user_name", ("jane", "smith"))),
        ("user_name:*usa", Pattern("user_name", ("", "usa"))),
        ("type:s*", Pattern("type", ("s", ""))),
        ("user_name:a**b**c", Pattern("user_name", ("a", "b", "c"))),
        ("user_id:*", Exists("user_id")),
        ("*", Exists(None)),
        ("ip:203.0.113.5", Term("ip", "203.0.113.5")),
        ("ip:2001:db8::7", Term("ip", "2001:db8::7")),
        ('ip:"::1"', Term("ip", "::1")),
        ("audience:https://api.example.com/", Term("audience", "https://api.example.com/")),
        ("details.error:wrong", Term("details.error", "wrong")),
        (
            "details.request.channel:*manage*",
            Pattern("details.request.channel", ("", "manage", "")),
        ),
        ("user_name:a\\*b", Term("user_name", "a*b")),
        ('user_name:"a*b"', Term("user_name", "a*b")),
        ('user_name:"say \\"hi\\" \\\\ bye"', Term("user_name", 'say "hi" \\ bye')),
        ("user_name:a\\ b", Term("user_name", "a b")),
        ("user_name:-bob", Term("user_name", "-bob")),
        ('user_name:""', Term("user_name", "")),
        ("strategy:auth0", Term("strategy", "auth0")),
        ("user_name:déjà", Term("user_name", "déjà")),
    ],
)
def test_terms(query: str, tree: Node) -> None:
    assert parse_query(query) == tree


S, F, U = Term("type", "s"), Term("type", "f"), Term("user_id", "u")


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("type:s AND type:f", And((S, F))),
        ("type:s type:f", And((S, F))),  # side by side: both (ours)
        ("type:s OR type:f", Or((S, F))),
        ("type:s OR type:f AND user_id:u", Or((S, And((F, U))))),
        ("type:s AND type:f OR user_id:u", Or((And((S, F)), U))),
        ("(type:s OR type:f) AND user_id:u", And((Or((S, F)), U))),
        ("NOT type:s", Not(S)),
        ("NOT type:s AND type:f", And((Not(S), F))),
        ("NOT (type:s OR type:f)", Not(Or((S, F)))),
        ("-type:s", Not(S)),
        ("-(type:s OR type:f)", Not(Or((S, F)))),
        ("+type:s -type:f", And((S, Not(F)))),
        ("type:(s OR f)", Or((S, F))),
        ("type:(s f)", And((S, F))),
        ("type:(s OR user_id:u)", Or((S, U))),
        ("NOT NOT type:s", Not(Not(S))),
        ("  type:s\t\nAND\u3000type:f  ", And((S, F))),
        ("type:s and type:f", And((S, Term(None, "and"), F))),  # operators are capitals
        ("type:s AND(type:f)", And((S, F))),
        ("(type:s)OR(type:f)", Or((S, F))),
        ("TO", Term(None, "TO")),
        ("ANDY", Term(None, "ANDY")),
        ("type:AND", Term("type", "AND")),
    ],
)
def test_operators_and_groups(query: str, tree: Node) -> None:
    assert parse_query(query) == tree


@pytest.mark.parametrize("blank", ["", " ", "\t\n", "\u00a0"])
def test_a_blank_query_is_no_query(blank: str) -> None:
    assert parse_query(blank) is None


# -- dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "span"),
    [
        ("date:[2018-12-18 TO *]", DateSpan(ms("2018-12-18"), None)),
        ("date:[* TO 2018-12-19}", DateSpan(None, ms("2018-12-19"))),
        ("date:[* TO *]", DateSpan(None, None)),
        ("date:*", DateSpan(None, None)),
        # Auth0 v3: the missing parts are zero, so an inclusive end includes one millisecond.
        ("date:[2018-12-18 TO 2018-12-19]", DateSpan(ms("2018-12-18"), ms("2018-12-19") + 1)),
        ("date:{2018-12-18 TO 2018-12-19}", DateSpan(ms("2018-12-18") + 1, ms("2018-12-19"))),
        ("date:[2018-12 TO 2019-01-01}", DateSpan(ms("2018-12-01"), ms("2019-01-01"))),
        (
            "date:[2019-01-01T01:00:00 TO 2019-01-01T12:23:45}",
            DateSpan(ms("2019-01-01T01:00:00Z"), ms("2019-01-01T12:23:45Z")),
        ),
        ("date:[ 2018 TO 2019 ]", DateSpan(ms("2018"), ms("2019") + 1)),
        # A date alone: the period it names (a day, a month, a millisecond).
        ("date:2018-12-18", DateSpan(ms("2018-12-18"), ms("2018-12-19"))),
        ('date:"2018-12"', DateSpan(ms("2018-12"), ms("2019-01"))),
        ("date:2018", DateSpan(ms("2018"), ms("2019"))),
        ("date:2018-12-18T15:23:48.123Z", DateSpan(ms("2018-12-18T15:23:48.123Z"), None)),
    ],
)
def test_dates(query: str, span: DateSpan) -> None:
    parsed = parse_query(query)
    if span.end_ms is None and span.start_ms is not None and "*" not in query:
        span = DateSpan(span.start_ms, span.start_ms + 1)  # to the millisecond
    assert parsed == span


def test_date_forms_and_offsets() -> None:
    base = parse_date("2018-12-18T12:22:00Z")[0]
    assert parse_date("2018-12-18T12:22") == (base, base + 60_000)
    assert parse_date("2018-12-18t12:22z")[0] == base
    assert parse_date("2018-12-18T13:22+01:00")[0] == base
    assert parse_date("2018-12-18T06:52-0530")[0] == base
    assert parse_date("2018-12-18T12") == (base - 22 * 60_000, base + 38 * 60_000)
    assert parse_date("2018-12-18T12:22:00.5") == (base + 500, base + 501)
    assert parse_date("2018-12-18T12:22:00.123456789")[0] == base + 123
    assert parse_date("2016-02")[1] - parse_date("2016-02")[0] == 29 * DAY
    assert parse_date("2016-02-29")[0] == parse_date("2016-03-01")[0] - DAY
    assert parse_date("1970-01-01") == (0, DAY)
    assert parse_date("0001") == (MIN_MS, parse_date("0002")[0])
    assert parse_date("9999")[1] == MAX_MS + 1


@pytest.mark.parametrize(
    "text",
    [
        "2018-13",
        "2018-02-30",
        "2018-12-18T24:00",
        "2018-12-18T12:60",
        "2018-12-18T12:00:60",
        "0000-01-01",
        "18-12-18",
        "2018-1-18",
        "2018/12/18",
        "2018-12-18 12:00",
        "2018-12-18Z",
        "2018-12-18T12:00+24:00",
        "2018-12-18T12:00.5",
        "\uff12\uff10\uff11\uff18",  # fullwidth digits
        "0001-01-01T00:30+01:00",
        "yesterday",
        "",
    ],
)
def test_what_is_not_a_date(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each says why in its message)
        parse_date(text)


# -- refusals: what is wrong and where ---------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reason", "column"),
    [
        ("type:", "expected a value after 'type:'", 6),
        ("type: s", "expected a value after 'type:'", 6),
        ("type:s AND", "expected a term, found the end", 11),
        ("type:s OR", "expected a term, found the end", 10),
        ("AND type:s", "expected a term before 'AND'", 1),
        ("type:s OR OR type:f", "expected a term before 'OR'", 11),
        ("NOT", "expected a term, found the end", 4),
        ("(type:s", "this '(' is never closed", 1),
        ("type:s)", "unexpected ')'", 7),
        ("()", "empty parentheses", 2),
        ("foo:bar", "unknown field 'foo'", 1),
        ("Type:s", "unknown field 'Type'", 1),
        ("type:s AND Ip:1", "unknown field 'Ip'", 12),
        ("details:x", "search inside details by a key's path", 1),
        ("details.a-b:x", "is not a path of keys", 1),
        ("details.a.b.c.d.e.f.g.h.i:x", "is not a path of keys", 1),
        ("2001:db8::1", "quote a value that holds ':'", 1),
        ('"abc', "this '\"' is never closed", 1),
        ('type:"abc', "this '\"' is never closed", 6),
        ('type:"a"b', "expected a space or ')' after the closing '\"'", 9),
        ('type:a"b"', "unexpected '\"' inside a value", 7),
        ("user_name:*sa", "a '*' other than at the end needs at least 3 other characters", 11),
        ("user_name:a*b", "a '*' other than at the end needs at least 3 other characters", 11),
        ("user_name:a?", "'?' wildcards are not supported", 12),
        ("user_name:bob~", "fuzzy and proximity searches", 14),
        ("type:s^2", "boosts", 7),
        ("ip:[1 TO 2]", "ranges are for dates only, not 'ip'", 4),
        ("[2018 TO 2019]", "a range needs a field", 1),
        ("date:[2018 2019]", "expected 'TO' in the range", 12),
        ("date:[2018 TO 2019", "expected ']' or '}' to close the range", 19),
        ("date:[2019 TO 2018]", "the range is empty", 6),
        ("date:{2018 TO 2018}", "the range is empty", 6),
        ("date:[yesterday TO *]", "'yesterday' is not a date", 7),
        ("date:[2018 TO 2018-02-30]", "its day is out of range", 15),
        ("date:2018-13", "its month is out of range", 6),
        ("date:2018*", "date takes a date or a range, not a wildcard", 6),
        ("date:[", "expected a date or '*' in the range", 7),
        ("type:s\\", "a '\\' at the end of the query escapes nothing", 7),
        ("a && b", "use AND instead of '&&'", 3),
        ("a || b", "use OR instead of '||'", 3),
        ("!a", "use NOT instead of '!'", 1),
    ],
)
def test_a_bad_query_says_what_and_where(query: str, reason: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as refused:
        parse_query(query)
    assert reason in refused.value.reason
    assert refused.value.column == column
    assert str(refused.value).endswith(f"(at character {column})")


def test_a_long_field_or_value_is_shown_shortened() -> None:
    with pytest.raises(QuerySyntaxError) as refused:
        parse_query("x" * 500 + ":1")
    assert len(str(refused.value)) < 500
    with pytest.raises(QuerySyntaxError) as refused:
        parse_query("date:" + "9" * 500)
    assert len(str(refused.value)) < 300


# -- limits ------------------------------------------------------------------------------


def test_query_length_at_and_past_the_limit() -> None:
    at_limit = "user_name:" + "a" * (MAX_QUERY_LENGTH - len("user_name:"))
    assert parse_query(at_limit) == Term("user_name", "a" * (MAX_QUERY_LENGTH - 10))
    with pytest.raises(QuerySyntaxError) as refused:
        parse_query(at_limit + "a")
    assert refused.value.column == MAX_QUERY_LENGTH + 1
    assert f"longer than {MAX_QUERY_LENGTH} characters" in refused.value.reason


def test_nesting_at_and_past_the_limit() -> None:
    def nested(levels: int) -> str:
        return "(" * levels + "type:s" + ")" * levels

    assert parse_query(nested(MAX_DEPTH)) == S
    with pytest.raises(QuerySyntaxError, match="nested more than 16 levels"):
        parse_query(nested(MAX_DEPTH + 1))
    assert parse_query("NOT " * MAX_DEPTH + "type:s") is not None
    with pytest.raises(QuerySyntaxError, match="nested"):
        parse_query("NOT " * (MAX_DEPTH + 1) + "type:s")
    with pytest.raises(QuerySyntaxError, match="nested"):
        parse_query("-" * (MAX_DEPTH + 1) + "type:s")
    with pytest.raises(QuerySyntaxError, match="nested"):
        parse_query("type:(" * (MAX_DEPTH + 1) + "s" + ")" * (MAX_DEPTH + 1))


def test_terms_at_and_past_the_limit() -> None:
    assert parse_query(" ".join(["type:s"] * MAX_CLAUSES)) == And((S,) * MAX_CLAUSES)
    with pytest.raises(QuerySyntaxError, match=f"more than {MAX_CLAUSES} terms"):
        parse_query(" OR ".join(["type:s"] * (MAX_CLAUSES + 1)))


# -- trees built by programs -----------------------------------------------------------------


def test_all_of_and_any_of() -> None:
    assert all_of() is None
    assert all_of(None, S, None) == S
    assert all_of(S, None, F) == And((S, F))
    assert any_of(S) == S
    assert any_of(S, F) == Or((S, F))


def test_any_case_has_no_text_form() -> None:
    with pytest.raises(ValueError, match="AnyCase"):
        format_query(And((S, AnyCase("user_name", "bob"))))


# -- any text: a tree or a refusal; every tree: text that parses back to it ---------------------

_PIECES = st.sampled_from(
    [
        "type:", "ip:", "date:", "user_name:", "details.error:", "foo:", "AND", "OR", "NOT",
        "TO", "(", ")", "[", "]", "{", "}", '"', "*", "?", "\\", "-", "+", "!", ":", " ",
        "2018-12-18", "2018", "s", "fepft", "1.2.3.4", "::1", "&&", "é", "\x00", "\ud800",
    ]
)  # fmt: skip
_QUERIES = st.one_of(st.text(max_size=200), st.lists(_PIECES, max_size=40).map("".join))


@settings(max_examples=1000, deadline=None)
@given(_QUERIES)
@example("((((((((((((((((((((((((((((((((x")
@example("NOT " * 500)
@example('"' + "\\" * 3000)
def test_any_text_gives_a_tree_or_a_refusal(text: str) -> None:
    try:
        tree = parse_query(text)
    except QuerySyntaxError as refused:
        column = refused.column
    else:
        column = 0
        if tree is not None:
            assert parse_query(format_query(tree)) == tree
    assert column <= len(text) + 1


_FIELDS = st.one_of(
    st.none(),
    st.sampled_from([f for f in SEARCHABLE_FIELDS if f != "date"]),
    st.just("details.request.channel"),
)
_TEXT = st.text(max_size=20)


@st.composite
def _patterns(draw: st.DrawFn) -> Pattern:
    inner = draw(st.lists(st.text(min_size=1, max_size=8), max_size=3))
    parts = (draw(_TEXT), *inner, draw(_TEXT))
    prefix = len(parts) == 2 and parts[1] == ""
    assume(any(parts) and (prefix or sum(map(len, parts)) >= 3))
    return Pattern(draw(_FIELDS), parts)


@st.composite
def _spans(draw: st.DrawFn) -> DateSpan:
    start = draw(st.none() | st.integers(MIN_MS, MAX_MS))
    end = draw(st.none() | st.integers(MIN_MS + 1, MAX_MS + 1))
    assume(start is None or end is None or start < end)
    return DateSpan(start, end)


_LEAVES = st.one_of(
    st.builds(Term, _FIELDS, _TEXT),
    _patterns(),
    st.builds(Exists, _FIELDS),
    _spans(),
)
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.lists(inner, min_size=2, max_size=4).map(lambda nodes: And(tuple(nodes))),
        st.lists(inner, min_size=2, max_size=4).map(lambda nodes: Or(tuple(nodes))),
    ),
    max_leaves=8,
)


def _depth(node: Node) -> int:
    match node:
        case Not(operand):
            return 1 + _depth(operand)
        case And(operands) | Or(operands):
            return max(_depth(o) + isinstance(o, And | Or) for o in operands)
    return 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_TREES)
def test_every_tree_written_as_text_parses_back_to_itself(tree: Node) -> None:
    assume(_depth(tree) <= MAX_DEPTH)
    text = format_query(tree)
    assume(len(text) <= MAX_QUERY_LENGTH)
    assert parse_query(text) == tree
