"""The Management API's jobs (``jobs``) and the rows an import refused (``job_errors``)."""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from passgate.storage.schema import job_errors, jobs

__all__ = ["Job", "Jobs", "new_job_id"]

_ALPHABET = string.ascii_letters + string.digits


def new_job_id() -> str:
    """``job_`` and 16 letters and digits (Auth0's pattern)."""
    return "job_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


#: A job in one of these is someone's to finish.
UNFINISHED = ("pending", "processing")


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    id: str
    type: str
    status: str
    connection_id: str | None
    options: Mapping[str, Any]
    summary: Mapping[str, Any] | None
    status_details: str | None
    created_at: float
    updated_at: float


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        type=row.type,
        status=row.status,
        connection_id=row.connection_id,
        options=json.loads(row.options),
        summary=json.loads(row.summary) if row.summary else None,
        status_details=row.status_details,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class Jobs:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def create(
        self,
        *,
        type: str,
        status: str,
        connection_id: str | None,
        options: Mapping[str, Any],
        now: float,
    ) -> Job:
        job_id = new_job_id()
        with self._engine.begin() as db:
            db.execute(
                jobs.insert().values(
                    id=job_id,
                    type=type,
                    status=status,
                    connection_id=connection_id,
                    options=json.dumps(dict(options)),
                    created_at=now,
                    updated_at=now,
                )
            )
        found = self.get(job_id)
        assert found is not None
        return found

    def get(self, job_id: str) -> Job | None:
        with self._engine.connect() as db:
            row = db.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def update(
        self,
        job_id: str,
        *,
        status: str,
        now: float,
        summary: Mapping[str, Any] | None = None,
        details: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if summary is not None:
            values["summary"] = json.dumps(dict(summary))
        if details is not None:
            values["status_details"] = details
        with self._engine.begin() as db:
            db.execute(jobs.update().where(jobs.c.id == job_id).values(**values))

    def touch(self, job_ids: Sequence[str], *, now: float) -> None:
        """The running process still has these jobs (``updated_at``: its heartbeat); a job
        ended meanwhile is left as it is."""
        if not job_ids:
            return
        with self._engine.begin() as db:
            db.execute(
                jobs.update()
                .where(jobs.c.id.in_(list(job_ids)), jobs.c.status.in_(UNFINISHED))
                .values(updated_at=now)
            )

    def fail_if_stale(self, job_id: str, *, before: float, now: float, details: str) -> bool:
        """Mark the job failed when it is unfinished and nothing touched it since
        ``before`` (the process running it stopped); whether it was."""
        with self._engine.begin() as db:
            done = db.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id,
                    jobs.c.status.in_(UNFINISHED),
                    jobs.c.updated_at < before,
                )
                .values(status="failed", status_details=details, updated_at=now)
            )
        return bool(done.rowcount)

    def add_errors(self, job_id: str, errors: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        if not errors:
            return
        rows = [
            {"job_id": job_id, "row": row, "error": json.dumps(dict(error), ensure_ascii=False)}
            for row, error in errors
        ]
        with self._engine.begin() as db:
            db.execute(job_errors.insert(), rows)

    def errors(self, job_id: str, *, limit: int) -> Iterator[dict[str, Any]]:
        """The job's refused rows, in row order (at most ``limit``)."""
        statement = (
            sa.select(job_errors.c.error)
            .where(job_errors.c.job_id == job_id)
            .order_by(job_errors.c.row)
            .limit(limit)
        )
        with self._engine.connect() as db:
            for value in db.execute(statement).scalars():
                yield json.loads(value)
