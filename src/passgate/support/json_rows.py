"""Rows of a large JSON file, one at a time, in bounded memory.

A users file is a JSON array of objects (Auth0's bulk-import format) or JSON lines (one
object a line); the first character that is not white space tells which. Each element is
decoded by the standard library's C decoder from a window of the file
(:data:`CHUNK` characters read at a time), so memory holds one window and one row, never
the file.

What can go wrong, and what it becomes:

* an element that is not valid JSON, is not an object, is larger than ``max_row_chars``,
  nests deeper than :data:`MAX_DEPTH`, holds an integer outside 64 bits, a number that is
  not finite, or is nested too deeply for the decoder: a :class:`Row` with an ``error``
  (the reader finds the element's end and goes on);
* a file that is not a JSON array or JSON lines, that ends early (truncated), or whose
  structure between elements is broken, or that is not UTF-8: :class:`FileError`, naming
  the row and the character offset where reading stopped.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from passgate.errors import InvalidValue

__all__ = ["CHUNK", "MAX_DEPTH", "FileError", "Row", "json_value_problem", "read_rows"]

CHUNK = 256 * 1024
MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'[\[\]{}"]')
_STRING_END = re.compile(r'["\\]')


class FileError(InvalidValue):
    """The file cannot be read as rows past ``row`` (1-based) at character ``offset``."""

    def __init__(self, message: str, *, row: int, offset: int) -> None:
        super().__init__(f"{message} (row {row}, character {offset})")
        self.problem = message
        self.row = row
        self.offset = offset


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    number: int  #: 1-based
    offset: int  #: the character offset where the element starts
    value: dict[str, Any] | None  #: None when ``error`` says why
    error: str | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def json_value_problem(value: dict[str, Any] | list[Any], depth: int = 0) -> str | None:
    """Why the container ``value`` cannot be (in) a row's (None: it can). Scalars are
    checked in the loop: a row has many, and a call each would cost more than the rest."""
    if depth >= MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    for child in value.values() if isinstance(value, dict) else value:
        kind = type(child)
        if kind is str or kind is bool or child is None:
            continue
        if kind is int:
            if not _INT64[0] <= child <= _INT64[1]:
                return "an integer outside the 64-bit range"
        elif kind is float:
            if child - child != 0:
                return "a number too large to represent"
        else:
            problem = json_value_problem(child, depth + 1)
            if problem is not None:
                return problem
    return None


class _Window:
    """The decoded text of the file from ``base`` on, refilled on demand."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.base = 0  # the file offset (characters) of text[0]
        self.eof = False

    def more(self, row: int) -> bool:
        """Read one more chunk; False at the end of the file."""
        if self.eof:
            return False
        data = self._stream.read(CHUNK)
        try:
            decoded = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise FileError("the file is not UTF-8 text", row=row, offset=self.base) from None
        self.eof = not data
        self.text += decoded
        return bool(decoded) or not self.eof

    def drop(self, upto: int) -> int:
        """Forget text before ``upto``; returns the new index of that position."""
        if upto > CHUNK:
            self.base += upto
            self.text = self.text[upto:]
            return 0
        return upto

    def skip_whitespace(self, pos: int, row: int) -> int:
        while True:
            match = _WHITESPACE.match(self.text, pos)
            assert match is not None
            pos = match.end()
            if pos < len(self.text) or not self.more(row):
                return pos


class _Skipper:
    """Finds the end of one JSON element, whatever it holds, across windows."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def end(self, text: str, pos: int) -> int | None:
        """The index after the element that started earlier, or None: read more."""
        while pos < len(text):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                    pos += 1
                    continue
                match = _STRING_END.search(text, pos)
                if match is None:
                    return None
                pos = match.end()
                if match[0] == "\\":
                    self.escaped = True
                    continue
                self.in_string = False
                if self.depth == 0:
                    return pos
                continue
            match = _STRUCTURE.search(text, pos)
            if match is None:
                return None
            pos = match.end()
            char = match[0]
            if char == '"':
                self.in_string = True
            elif char in "[{":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    return pos
        return None


def _skip(window: _Window, pos: int, row: int) -> int:
    """The end of the element at ``pos`` (``{``, ``[`` or a string), dropping what it
    passes; raises :class:`FileError` when the file ends first."""
    skipper = _Skipper()
    start = window.base + pos
    while True:
        end = skipper.end(window.text, pos)
        if end is not None:
            return end
        pos = window.drop(len(window.text))
        if not window.more(row):
            raise FileError("the file ends inside this row (truncated?)", row=row, offset=start)


def _decode(window: _Window, pos: int, row: int, max_chars: int, values: bool) -> tuple[Row, int]:
    """The element at ``pos``, decoded or refused, and the index after it; its values are
    checked (:func:`json_value_problem`) when ``values``."""
    offset = window.base + pos
    while True:
        try:
            value, end = _DECODER.raw_decode(window.text, pos)
        except json.JSONDecodeError as exc:
            inside = exc.pos + 64 < len(window.text) and not exc.msg.startswith("Unterminated")
            if window.eof or inside or len(window.text) - pos > max_chars:
                problem = f"not valid JSON: {exc.msg} at character {window.base + exc.pos}"
                if len(window.text) - pos > max_chars and not inside and not window.eof:
                    problem = f"larger than {max_chars:,} characters"
                if window.text[pos] not in '[{"':
                    raise FileError(problem, row=row, offset=offset) from None
                return Row(row, offset, None, problem), _skip(window, pos, row)
            window.more(row)
            continue
        except RecursionError:
            return Row(row, offset, None, "nested too deeply"), _skip(window, pos, row)
        except ValueError as exc:  # an integer of thousands of digits, NaN, Infinity
            problem = str(exc).split(":")[0]
            return Row(row, offset, None, problem), _skip(window, pos, row)
        if end == len(window.text) and not window.eof:
            window.more(row)  # a number may go on in the next chunk
            continue
        if end - pos > max_chars:
            return Row(row, offset, None, f"larger than {max_chars:,} characters"), end
        if not isinstance(value, dict):
            return Row(row, offset, None, "not a JSON object"), end
        refused = json_value_problem(value) if values else None
        if refused is not None:
            return Row(row, offset, None, refused), end
        return Row(row, offset, value), end


def read_rows(
    stream: IO[bytes], *, max_row_chars: int = 1024 * 1024, check_values: bool = True
) -> Iterator[Row]:
    """Every element of the JSON array or JSON lines in ``stream``, in order. Without
    ``check_values`` a row's values are not checked (:func:`json_value_problem`): enough
    to learn the file's structure, which they cannot break."""
    window = _Window(stream)
    pos = window.skip_whitespace(0, 1)
    if pos >= len(window.text):
        raise FileError("the file is empty: a JSON array or JSON lines", row=1, offset=0)
    lines = window.text[pos] != "["
    if window.text[pos] not in "[{":
        raise FileError("not a JSON array or JSON lines", row=1, offset=window.base + pos)
    if not lines:
        pos = window.skip_whitespace(pos + 1, 1)
        if window.text[pos : pos + 1] == "]":
            pos = window.skip_whitespace(pos + 1, 1)
            if pos < len(window.text):
                raise FileError("text after the array", row=1, offset=window.base + pos)
            return
    number = 0
    while True:
        number += 1
        pos = window.drop(pos)
        if pos >= len(window.text):
            if lines:
                return
            raise FileError(
                "the file ends before the array does (truncated?)",
                row=number,
                offset=window.base + pos,
            )
        row, pos = _decode(window, pos, number, max_row_chars, check_values)
        yield row
        pos = window.skip_whitespace(pos, number)
        if lines:
            continue
        after = window.text[pos : pos + 1]
        if after == ",":
            pos = window.skip_whitespace(pos + 1, number)
            continue
        if after == "]":
            pos = window.skip_whitespace(pos + 1, number)
            if pos < len(window.text):
                raise FileError("text after the array", row=number, offset=window.base + pos)
            return
        what = "ends" if not after else "has something else"
        raise FileError(
            f"the file {what} where a ',' or ']' should follow this row",
            row=number,
            offset=window.base + pos,
        )
