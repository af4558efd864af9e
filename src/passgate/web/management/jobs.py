"""``/api/v2/jobs``: Auth0's user import and export jobs, through ``management.jobs``."""

from __future__ import annotations

from typing import Any

from passgate.management.errors import InvalidBody
from passgate.management.jobs import JobsService
from passgate.management.user_exports import ExportSpec
from passgate.web.management.operations import Answer, Call, Operation, PathParam, Reply

__all__ = ["jobs_operations"]

_TEXT = {"type": "string"}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "type", "id"],
    "properties": {
        "status": {"type": "string", "enum": ["pending", "processing", "completed", "failed"]},
        "type": {"type": "string", "enum": ["users_import", "users_export"]},
        "created_at": {"type": "string", "format": "date-time"},
        "id": _TEXT,
        "connection_id": _TEXT,
        "external_id": _TEXT,
        "location": _TEXT,
        "format": {"type": "string", "enum": ["json", "csv"]},
        "limit": {"type": "integer"},
        "fields": {"type": "array", "items": {"type": "object"}},
        "status_details": _TEXT,
        "summary": {
            "type": "object",
            "properties": {
                name: {"type": "integer"} for name in ("total", "inserted", "updated", "failed")
            },
        },
    },
}
_FLAG = {"type": "string", "enum": ["true", "false"]}
IMPORT_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["users", "connection_id"],
    "properties": {
        "users": {"type": "string", "format": "binary"},
        "connection_id": {"type": "string", "maxLength": 128},
        "upsert": _FLAG,
        "external_id": {"type": "string", "maxLength": 128},
        "send_completion_email": _FLAG,
    },
}
EXPORT_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "connection_id": _TEXT,
        "format": {"type": "string", "enum": ["json", "csv"]},
        "limit": {"type": "integer"},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _TEXT, "export_as": _TEXT},
            },
        },
    },
}
_ID = PathParam("id", "The job's id (job_ and 16 letters and digits).")
_NO_JOB = "No job has this id."
_READ = ("create:users", "read:users")


def _flag(form: dict[str, str], name: str, default: bool) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return default
    if value not in ("true", "false"):
        raise InvalidBody(f"Payload validation error: 'Expected type boolean' on property {name}.")
    return value == "true"


def _text(form: dict[str, str], name: str, *, required: bool) -> str | None:
    value = form.get(name)
    if not value:
        if required:
            raise InvalidBody(f"Payload validation error: 'Missing required property: {name}'.")
        return None
    if len(value) > 128 or "\x00" in value:
        raise InvalidBody(
            f"Payload validation error: 'String is too long or not text' on property {name}."
        )
    return value


def jobs_operations(service: JobsService) -> list[Operation]:
    def start_import(call: Call) -> Reply:
        form = dict(call.form or {})
        files = call.files or {}
        connection_id = _text(form, "connection_id", required=True)
        assert connection_id is not None
        upsert = _flag(form, "upsert", False)
        body = service.start_import(
            files["users"],
            connection_id=connection_id,
            upsert=upsert,
            external_id=_text(form, "external_id", required=False),
            send_completion_email=_flag(form, "send_completion_email", True),
        )
        changes = {"job_id": body["id"], "connection_id": body["connection_id"], "upsert": upsert}
        return Reply(body, status=202, changes=changes)

    def start_export(call: Call) -> Reply:
        body = service.start_export(ExportSpec.from_body(call.body))
        return Reply(body, status=201, changes={"job_id": body["id"], "format": body["format"]})

    def get(call: Call) -> Reply:
        return Reply(service.get(call.path["id"]))

    def errors(call: Call) -> Reply:
        return Reply(service.errors(call.path["id"]))

    def download(call: Call) -> Reply:
        chunks, name = service.export(call.path["id"])
        return Reply(
            stream=chunks, headers={"content-disposition": f'attachment; filename="{name}"'}
        )

    return [
        Operation(
            method="POST",
            path="/jobs/users-imports",
            scopes=("create:users",),
            summary="Create import users job",
            operation_id="post_users_imports",
            tag="jobs",
            handler=start_import,
            answer=Answer(
                202, "The job was created; it imports the file in the background.", JOB_SCHEMA
            ),
            description="Imports users (Auth0's bulk-import JSON array, or JSON lines) with their "
            "password hashes into a database connection. A file that cannot be read is refused "
            "at once (400, naming the row and offset); each row's refusal is listed by "
            "GET /jobs/{id}/errors.",
            form=IMPORT_FORM,
            max_body_bytes=service.max_upload_bytes,
        ),
        Operation(
            method="POST",
            path="/jobs/users-exports",
            scopes=("read:users",),
            summary="Create export users job",
            operation_id="post_users_exports",
            tag="jobs",
            handler=start_export,
            answer=Answer(201, "The job was created; its location gives the users.", JOB_SCHEMA),
            description="Exports users (JSON lines or CSV, gzip-compressed) with the fields asked "
            "for; never a password or hash.",
            body=EXPORT_BODY,
        ),
        Operation(
            method="GET",
            path="/jobs/{id}",
            scopes=_READ,
            summary="Get a job",
            operation_id="get_jobs_by_id",
            tag="jobs",
            handler=get,
            answer=Answer(200, "The job.", JOB_SCHEMA),
            path_params=(_ID,),
            not_found=_NO_JOB,
        ),
        Operation(
            method="GET",
            path="/jobs/{id}/errors",
            scopes=_READ,
            summary="Get job error details",
            operation_id="get_errors",
            tag="jobs",
            handler=errors,
            answer=Answer(
                200,
                "The rows an import refused (the first 10,000), each with Auth0's errors.",
                {"type": "array", "items": {"type": "object"}},
            ),
            path_params=(_ID,),
            not_found=_NO_JOB,
        ),
        Operation(
            method="GET",
            path="/jobs/{id}/export",
            scopes=("read:users",),
            summary="Download an export job's users",
            operation_id="get_jobs_export",
            tag="jobs",
            handler=download,
            answer=Answer(
                200,
                "The users, gzip-compressed JSON lines or CSV.",
                {"type": "string", "format": "binary"},
                media_type="application/gzip",
            ),
            path_params=(_ID,),
            not_found=_NO_JOB,
        ),
    ]
