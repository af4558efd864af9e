"""Reading a ``multipart/form-data`` body (``POST /jobs/users-imports``), strictly.

The body streams through python-multipart (Starlette's parser): a file part is spooled to
a temporary file past 1 MiB, never held whole in memory; the body is counted as it
arrives and refused (413) past the operation's cap, or at once when ``Content-Length``
says so. Each declared field is sent at most once; an undeclared one, a file where text is
expected (or the reverse), or a malformed body is a 400 ``invalid_body``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import IO, Any

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from passgate.management.errors import InvalidBody, PayloadTooLarge

__all__ = ["read_form"]

#: The longest text field (connection_id, external_id, a flag).
MAX_FIELD_BYTES = 64 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Payload content length greater than maximum allowed: {limit}")


async def _counted(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


async def read_form(
    request: Request, schema: Mapping[str, Any], limit: int
) -> tuple[FormData, dict[str, str], dict[str, IO[bytes]]]:
    """The form (close it when done), its text fields and its files."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise InvalidBody("The body must be multipart/form-data")
    properties: Mapping[str, Any] = schema.get("properties", {})
    binary = {name for name, spec in properties.items() if spec.get("format") == "binary"}
    parser = MultiPartParser(
        request.headers,
        _counted(request, limit),
        max_files=len(properties),
        max_fields=len(properties),
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidBody(f"Invalid multipart/form-data body: {str(exc)[:200]}") from None
    try:
        fields: dict[str, str] = {}
        files: dict[str, IO[bytes]] = {}
        for name in form:
            values = form.getlist(name)
            if name not in properties:
                raise InvalidBody(
                    f"Payload validation error: 'Additional properties not allowed: {name[:100]}'."
                )
            if len(values) > 1:
                raise InvalidBody(f"The field {name} is sent more than once")
            value = values[0]
            if isinstance(value, UploadFile) != (name in binary):
                kind = "a file" if name in binary else "a text field"
                raise InvalidBody(f"The field {name} must be {kind}")
            if isinstance(value, UploadFile):
                files[name] = value.file
            else:
                fields[name] = value
        for name in schema.get("required", ()):
            if name not in fields and name not in files:
                raise InvalidBody(f"Payload validation error: 'Missing required property: {name}'.")
    except BaseException:
        await form.close()
        raise
    return form, fields, files
