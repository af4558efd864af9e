"""The log search language (:mod:`passgate.domain.log_query`) parsed into its tree.

Recursive descent over the characters, from the loosest binding to the tightest::

    query    := or? END
    or       := and ("OR" and)*
    and      := unary (["AND"] unary)*
    unary    := ("NOT" | "-" | "+") unary | primary
    primary  := "(" or ")" | [FIELD ":"] value
    value    := QUOTED | WORD | range | "(" or ")"      (the group after a field: its default)
    range    := ("[" | "{") BOUND "TO" BOUND ("]" | "}")

Any text gives a tree, None (a blank query) or a :class:`QuerySyntaxError` saying where it
goes wrong; nesting and the number of terms are bounded, so the recursion is too.
"""

from __future__ import annotations

import re

from passgate.domain.log_dates import parse_date
from passgate.domain.log_query import (
    DATE_FIELD,
    DETAILS_PREFIX,
    MAX_CLAUSES,
    MAX_DEPTH,
    MAX_QUERY_LENGTH,
    SEARCHABLE_FIELDS,
    And,
    DateSpan,
    Exists,
    Node,
    Not,
    Or,
    Pattern,
    QuerySyntaxError,
    Term,
    details_path,
)

__all__ = ["parse_query"]

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*:")
#: Lucene syntax Auth0 does not take, refused rather than searched for as text.
_UNSUPPORTED = {
    "?": "'?' wildcards are not supported (use '*')",
    "~": "fuzzy and proximity searches ('~') are not supported",
    "^": "boosts ('^') are not supported",
    "[": "a range needs a field, as in date:[2018-12-18 TO *]",
    "]": "unexpected ']'",
    "{": "a range needs a field, as in date:{2018-12-18 TO *}",
    "}": "unexpected '}'",
    '"': "unexpected '\"' inside a value (quote the whole value)",
}
_OPERATORS = {"AND", "OR", "NOT"}
_SHOWN = 40
#: Fewest characters besides the ``*`` in a wildcard that is not a plain prefix (Auth0's).
_MIN_INNER_LITERAL = 3


def _known_field(field: str) -> bool:
    return field in SEARCHABLE_FIELDS or details_path(field) is not None


def _field_refusal(field: str) -> str:
    if field == "details":
        return 'search inside details by a key\'s path, as in details.error:"…"'
    if field.startswith(DETAILS_PREFIX):
        return f"{field!r} is not a path of keys (letters, digits, '_'; at most 8 deep)"
    return (
        f"unknown field {_shown(field)} (searchable: {', '.join(SEARCHABLE_FIELDS)}, "
        "details.<key>; quote a value that holds ':')"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.clauses = 0

    # -- helpers ---------------------------------------------------------------------

    def fail(self, reason: str, at: int | None = None) -> QuerySyntaxError:
        return QuerySyntaxError(reason, (self.pos if at is None else at) + 1)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def ends_word(self, index: int) -> bool:
        return index >= len(self.text) or self.text[index].isspace() or self.text[index] in "()"

    def peek_word(self) -> str:
        """The text up to the next space or parenthesis (not consumed)."""
        end = self.pos
        while not self.ends_word(end):
            end += 1
        return self.text[self.pos : end]

    def deeper(self, depth: int) -> int:
        if depth >= MAX_DEPTH:
            raise self.fail(f"the query is nested more than {MAX_DEPTH} levels deep")
        return depth + 1

    def counted(self, node: Node, at: int) -> Node:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise self.fail(f"the query has more than {MAX_CLAUSES} terms", at)
        return node

    # -- grammar -----------------------------------------------------------------------

    def query(self) -> Node | None:
        self.skip_spaces()
        if self.at_end():
            return None
        node = self.disjunction(0, None)
        self.skip_spaces()
        if not self.at_end():
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        return node

    def disjunction(self, depth: int, field: str | None) -> Node:
        operands = [self.conjunction(depth, field)]
        while True:
            self.skip_spaces()
            if self.peek_word() != "OR":
                break
            self.pos += 2
            operands.append(self.conjunction(depth, field))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self, depth: int, field: str | None) -> Node:
        operands = [self.unary(depth, field)]
        while True:
            self.skip_spaces()
            if self.at_end() or self.text[self.pos] == ")" or self.peek_word() == "OR":
                break
            if self.peek_word() == "AND":
                self.pos += 3
            operands.append(self.unary(depth, field))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self, depth: int, field: str | None) -> Node:
        self.skip_spaces()
        if self.at_end():
            raise self.fail("expected a term, found the end of the query")
        word = self.peek_word()
        if word == "NOT":
            self.pos += 3
            return Not(self.unary(self.deeper(depth), field))
        sign = self.text[self.pos]
        following = self.text[self.pos + 1 : self.pos + 2]
        if sign in "-+" and following and not following.isspace() and following != ")":
            self.pos += 1
            operand = self.unary(self.deeper(depth), field)
            return Not(operand) if sign == "-" else operand
        if word in ("AND", "OR"):
            raise self.fail(f"expected a term before {word!r}")
        if word in ("&&", "||"):
            raise self.fail(f"use {'AND' if word == '&&' else 'OR'} instead of {word!r}")
        if sign == "!":
            raise self.fail("use NOT instead of '!'")
        return self.primary(depth, field)

    def primary(self, depth: int, field: str | None) -> Node:
        start = self.pos
        if self.text[start] == "(":
            return self.group(depth, field)
        if self.text[start] == ")":
            raise self.fail("expected a term before ')'")
        named = _FIELD.match(self.text, start)
        if named is None:
            return self.value(field, start, depth, explicit=False)
        name = named.group()[:-1]
        if not _known_field(name):
            raise self.fail(_field_refusal(name), start)
        self.pos = named.end()
        if self.ends_word(self.pos) and (self.at_end() or self.text[self.pos] != "("):
            raise self.fail(f"expected a value after '{name}:'")
        return self.value(name, start, depth, explicit=True)

    def group(self, depth: int, field: str | None) -> Node:
        opening = self.pos
        self.pos += 1
        depth = self.deeper(depth)
        self.skip_spaces()
        if not self.at_end() and self.text[self.pos] == ")":
            raise self.fail("empty parentheses")
        node = self.disjunction(depth, field)
        self.skip_spaces()
        if self.at_end():
            raise self.fail("this '(' is never closed", opening)
        self.pos += 1  # the ")": disjunction stops only at the end or there
        return node

    def value(self, field: str | None, start: int, depth: int, *, explicit: bool) -> Node:
        at = self.pos  # where the value starts, for the refusals about it
        char = self.text[at]
        if char == "(" and explicit:
            return self.group(depth, field)
        if char == '"':
            text = self.quoted()
            if not self.ends_word(self.pos):
                raise self.fail("expected a space or ')' after the closing '\"'")
            return self.counted(self.term(field, text, at), start)
        if char in "[{":
            if field is None:
                raise self.fail("a range needs a field, as in date:[2018-12-18 TO *]")
            if field != DATE_FIELD:
                raise self.fail(f"ranges are for dates only, not {field!r}")
            return self.counted(self.date_range(), start)
        return self.counted(self.word(field, at), start)

    # -- values --------------------------------------------------------------------------

    def quoted(self) -> str:
        opening = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                self.pos += 1
                if self.at_end():
                    break
                char = self.text[self.pos]
            chars.append(char)
            self.pos += 1
        raise self.fail("this '\"' is never closed", opening)

    def raw_word(self, stops: str = "") -> list[tuple[str, bool]]:
        """The characters up to a space or parenthesis (or one of ``stops``), each with
        whether it was escaped with ``\\``."""
        chars: list[tuple[str, bool]] = []
        while not self.ends_word(self.pos) and self.text[self.pos] not in stops:
            char = self.text[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self.fail("a '\\' at the end of the query escapes nothing")
                chars.append((self.text[self.pos + 1], True))
                self.pos += 2
                continue
            if char in _UNSUPPORTED:
                raise self.fail(_UNSUPPORTED[char])
            chars.append((char, False))
            self.pos += 1
        return chars

    def word(self, field: str | None, start: int) -> Node:
        chars = self.raw_word()
        colons = [i for i, (c, escaped) in enumerate(chars) if c == ":" and not escaped]
        if field is None and colons:
            name = "".join(c for c, _ in chars[: colons[0]])
            if name.startswith("details"):
                raise self.fail(_field_refusal(name), start)
            raise self.fail("quote a value that holds ':' (or escape it as '\\:')", start)
        parts = [""]
        for char, escaped in chars:
            if char == "*" and not escaped:
                parts.append("")
            else:
                parts[-1] += char
        if len(parts) == 1:
            return self.term(field, parts[0], start)
        return self.wildcard(field, parts, start)

    def wildcard(self, field: str | None, parts: list[str], start: int) -> Node:
        inner = [part for part in parts[1:-1] if part]
        parts = [parts[0], *inner, parts[-1]]
        if field == DATE_FIELD:
            if any(parts):
                raise self.fail("date takes a date or a range, not a wildcard", start)
            return DateSpan(None, None)
        if not any(parts):
            return Exists(field)
        prefix = len(parts) == 2 and parts[1] == ""
        if not prefix and sum(map(len, parts)) < _MIN_INNER_LITERAL:
            raise self.fail("a '*' other than at the end needs at least 3 other characters", start)
        return Pattern(field, tuple(parts))

    def term(self, field: str | None, value: str, start: int) -> Node:
        if field != DATE_FIELD:
            return Term(field, value)
        try:
            begin, end = parse_date(value)
        except ValueError as exc:
            raise self.fail(f"{_shown(value)} is not a date: {exc}", start) from None
        return DateSpan(begin, end)

    def bound(self, closing: str) -> tuple[str, int]:
        self.skip_spaces()
        at = self.pos
        text = "".join(c for c, _ in self.raw_word(stops=closing))
        if not text:
            raise self.fail("expected a date or '*' in the range")
        return text, at

    def date_range(self) -> DateSpan:
        opening = self.pos
        inclusive_low = self.text[opening] == "["
        self.pos += 1
        low, low_at = self.bound("")
        self.skip_spaces()
        if self.peek_word() != "TO":
            raise self.fail("expected 'TO' in the range")
        self.pos += 2
        high, high_at = self.bound("]}")
        self.skip_spaces()
        if self.at_end() or self.text[self.pos] not in "]}":
            raise self.fail("expected ']' or '}' to close the range")
        inclusive_high = self.text[self.pos] == "]"
        self.pos += 1
        start = None if low == "*" else self.instant(low, low_at) + (not inclusive_low)
        end = None if high == "*" else self.instant(high, high_at) + inclusive_high
        if start is not None and end is not None and start >= end:
            raise self.fail("the range is empty: it ends before it starts", opening)
        return DateSpan(start, end)

    def instant(self, text: str, at: int) -> int:
        try:
            return parse_date(text)[0]
        except ValueError as exc:
            raise self.fail(f"{_shown(text)} is not a date: {exc}", at) from None


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def parse_query(text: str) -> Node | None:
    """The tree of ``text`` (None when it is blank).

    Raises :class:`QuerySyntaxError` for anything else than the language, a query longer
    than :data:`MAX_QUERY_LENGTH` characters, nested deeper than :data:`MAX_DEPTH` or with
    more than :data:`MAX_CLAUSES` terms."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH + 1
        )
    return _Parser(text).query()
