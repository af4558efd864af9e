"""Exporting users: ``passgate users export`` and ``POST /jobs/users-exports``.

Users are read a page at a time and written as JSON lines (Auth0's ``json`` export: one
user object a line) or CSV with a header row, with the fields asked for (Auth0's
``fields``: ``name`` and an optional ``export_as`` header) or, by default,
:data:`DEFAULT_FIELDS`. A field is a property of the user as ``GET /users`` shows it, or a
property of its metadata (``user_metadata.plan``). Passwords and hashes are never among
them: a field named like one is refused, and the users read carry none.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from passgate.domain.models import User
from passgate.management.errors import InvalidBody
from passgate.management.users import user_json

__all__ = ["DEFAULT_FIELDS", "ExportField", "ExportSpec", "export_lines"]

Format = Literal["json", "csv"]
DEFAULT_FIELDS = (
    "user_id",
    "email",
    "email_verified",
    "username",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "blocked",
    "connection",
    "created_at",
    "updated_at",
    "user_metadata",
    "app_metadata",
)
_KNOWN = frozenset({*DEFAULT_FIELDS, "last_password_reset", "identities"})
_METADATA = ("user_metadata.", "app_metadata.")
_NEVER = ("password", "hash", "secret")
MAX_FIELDS = 100
MAX_LIMIT = 100_000_000


def _invalid(problem: str, name: str | None = None) -> InvalidBody:
    where = f" on property {name}" if name else ""
    return InvalidBody(f"Payload validation error: '{problem}'{where}.")


@dataclasses.dataclass(frozen=True, slots=True)
class ExportField:
    name: str
    export_as: str

    @classmethod
    def named(cls, name: str, export_as: str | None = None) -> ExportField:
        if any(word in name.lower() for word in _NEVER):
            raise _invalid(f"The field {name[:100]} cannot be exported", "fields")
        if name not in _KNOWN and not (
            name.startswith(_METADATA) and 0 < len(name.split(".", 1)[1]) <= 100
        ):
            raise _invalid(f"Unknown field {name[:100]}", "fields")
        return cls(name, export_as or name)


def _fields(value: object) -> tuple[ExportField, ...]:
    if not isinstance(value, list) or not value:
        raise _invalid("Expected a non-empty array of {name, export_as}", "fields")
    if len(value) > MAX_FIELDS:
        raise _invalid(f"At most {MAX_FIELDS} fields", "fields")
    fields = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise _invalid("Each field is an object with a string name", "fields")
        if set(item) - {"name", "export_as"}:
            raise _invalid("A field has only name and export_as", "fields")
        export_as = item.get("export_as")
        if export_as is not None and (
            not isinstance(export_as, str) or not 0 < len(export_as) <= 100
        ):
            raise _invalid("export_as is a string of 1 to 100 characters", "fields")
        fields.append(ExportField.named(item["name"], export_as))
    return tuple(fields)


@dataclasses.dataclass(frozen=True, slots=True)
class ExportSpec:
    format: Format = "json"
    fields: tuple[ExportField, ...] = tuple(ExportField(name, name) for name in DEFAULT_FIELDS)
    connection_id: str | None = None
    limit: int | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any] | None) -> ExportSpec:
        body = body or {}
        extra = sorted(set(body) - {"connection_id", "format", "limit", "fields"})
        if extra:
            raise _invalid(f"Additional properties not allowed: {', '.join(extra)[:200]}")
        spec = cls()
        if "format" in body:
            if body["format"] not in ("json", "csv"):
                raise _invalid("No enum match for: format (json or csv)", "format")
            spec = dataclasses.replace(spec, format=body["format"])
        if "connection_id" in body:
            connection_id = body["connection_id"]
            if not isinstance(connection_id, str) or not 0 < len(connection_id) <= 40:
                raise _invalid("Expected a connection id", "connection_id")
            spec = dataclasses.replace(spec, connection_id=connection_id)
        if "limit" in body:
            limit = body["limit"]
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
                raise _invalid(f"Expected an integer from 1 to {MAX_LIMIT}", "limit")
            spec = dataclasses.replace(spec, limit=limit)
        if "fields" in body:
            spec = dataclasses.replace(spec, fields=_fields(body["fields"]))
        return spec

    def options(self) -> dict[str, Any]:
        """As a job shows it (Auth0's ``format``, ``limit``, ``fields``)."""
        fields = [
            {"name": f.name, **({"export_as": f.export_as} if f.export_as != f.name else {})}
            for f in self.fields
        ]
        options: dict[str, Any] = {"format": self.format, "fields": fields}
        if self.limit is not None:
            options["limit"] = self.limit
        return options


def _value(document: Mapping[str, Any], name: str) -> Any:
    if name in document:
        return document[name]
    for prefix in _METADATA:
        if name.startswith(prefix):
            return document.get(prefix[:-1], {}).get(name[len(prefix) :])
    return None


def _document(user: User) -> dict[str, Any]:
    document = user_json(user)
    document["connection"] = user.connection
    return document


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def export_lines(users: Iterable[User], spec: ExportSpec) -> Iterator[str]:
    """The export, a line at a time (each ends with a newline)."""
    if spec.format == "json":
        for user in users:
            document = _document(user)
            row = {}
            for field in spec.fields:
                value = _value(document, field.name)
                if value is not None:
                    row[field.export_as] = value
            yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([field.export_as for field in spec.fields])
    yield buffer.getvalue()
    for user in users:
        buffer.seek(0)
        buffer.truncate()
        document = _document(user)
        writer.writerow([_cell(_value(document, field.name)) for field in spec.fields])
        yield buffer.getvalue()
