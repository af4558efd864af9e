"""Reading the console's form posts: ``application/x-www-form-urlencoded`` only, UTF-8
only, a bounded size and number of fields; repeated fields are kept (lists are sent
that way) and :meth:`Form.one` refuses a field sent twice where one is expected."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl

from starlette.requests import Request

from passgate.errors import BadRequest, BodyTooLarge, InvalidRequest
from passgate.web.body import read_body

__all__ = ["MAX_FIELDS", "Form", "read_form"]

MAX_FIELDS = 1000
#: ASCII digits only (``str.isdigit`` admits "²", which ``int`` refuses).
_WHOLE = re.compile(r"-?[0-9]{1,11}")
_FORM = "application/x-www-form-urlencoded"


class Form:
    """The fields of one post, in the order sent."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def many(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def one(self, name: str, default: str | None = None) -> str | None:
        values = self.many(name)
        if len(values) > 1:
            raise BadRequest(f"the field {name} was sent {len(values)} times")
        return values[0] if values else default

    def text(self, name: str, *, max_length: int = 2048) -> str:
        """A field's value, stripped; empty when missing."""
        value = (self.one(name) or "").strip()
        if len(value) > max_length:
            raise BadRequest(f"the field {name} is longer than {max_length} characters")
        return value

    def whole(self, name: str, label: str) -> int | None:
        """A whole-number field; None when left empty, 400 naming ``label`` otherwise."""
        text = self.text(name, max_length=12)
        if not text:
            return None
        if not _WHOLE.fullmatch(text):
            raise BadRequest(f"{label}: a whole number is expected, not {text[:20]!r}")
        return int(text)

    def flag(self, name: str) -> bool:
        """A checkbox: on when sent with any value."""
        return self.one(name) is not None

    def lines(self, name: str, *, max_items: int = 1000) -> list[str]:
        """A list given one item a line (a textarea) or as repeated fields; blank items
        are dropped."""
        items = [line.strip() for value in self.many(name) for line in value.splitlines()]
        found = [item for item in items if item]
        if len(found) > max_items:
            raise BadRequest(f"the field {name} lists more than {max_items} items")
        return found


async def read_form(request: Request, max_bytes: int) -> Form:
    """The post's form; :class:`BadRequest` for another media type, a body past
    ``max_bytes``, bytes that are not UTF-8 or too many fields."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != _FORM:
        raise BadRequest("a form post is expected (application/x-www-form-urlencoded)")
    try:
        body = await read_body(request, max_bytes)
    except BodyTooLarge:
        raise BadRequest(f"the form is larger than {max_bytes} bytes") from None
    except InvalidRequest as exc:
        raise BadRequest(exc.description) from None
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is not valid UTF-8 or has too many fields") from None
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise BadRequest("the form holds a NUL character")
    return Form(pairs)
