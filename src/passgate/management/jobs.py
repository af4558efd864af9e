"""Auth0's ``/jobs``: user imports and exports as long-running jobs.

``POST /jobs/users-imports`` copies the uploaded file aside, checks its structure (a
truncated or malformed file is a 400 naming the row and offset: no job, nobody imported),
and answers 202 with a ``pending`` job; the process's I/O pool imports the jobs it
received, one at a time (its shutdown waits for them), recording each refused row
(``GET /jobs/{id}/errors``) and the counts (``summary``). ``POST /jobs/users-exports``
records what to export and is ``completed`` at once: its ``location`` streams the users as
they are when it is read (JSON lines or CSV, gzip-compressed), a page at a time. Every
method is blocking.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from passgate.domain.clock import Clock
from passgate.errors import NotFound
from passgate.mail.mailer import Mailer, MailError, OutgoingMail
from passgate.management.errors import InvalidBody, InvalidUri
from passgate.management.user_exports import ExportSpec, export_lines
from passgate.management.user_imports import JobError, UserImporter
from passgate.storage.directory import Directory
from passgate.storage.jobs import UNFINISHED, Job, Jobs
from passgate.storage.user_import import UserImports, iter_users
from passgate.support.json_rows import FileError

__all__ = ["MAX_ERRORS_SHOWN", "JobsService"]

logger = logging.getLogger("passgate.jobs")

#: The most refused rows ``GET /jobs/{id}/errors`` lists (all are kept).
MAX_ERRORS_SHOWN = 10_000
_JOB_ID = re.compile(r"job_[A-Za-z0-9]{16}")
_ERRORS_PER_WRITE = 500
#: How often a process marks the jobs it holds as alive, and after how long without that
#: an unfinished job is taken for interrupted (its process stopped: kill -9, a crash).
HEARTBEAT_S = 5.0
STALE_AFTER_S = 60.0
INTERRUPTED = (
    "interrupted: the process running the import stopped; the users imported before are "
    "kept (import the file again with upsert to finish)"
)
_NO_JOB = "The job does not exist."
_BAD_ID = (
    "Path validation error: 'String does not match pattern ^job_[A-Za-z0-9]{16}$' "
    "on property id (ID of the job)."
)


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class JobsService:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        directory: Directory,
        spool: Path,
        issuer: str,
        clock: Clock,
        max_upload_bytes: int = 500 * 1024,
        pool: Executor | None = None,
        mailer: Mailer | None = None,
        admin_emails: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        #: The largest upload ``POST /jobs/users-imports`` takes.
        self.max_upload_bytes = max_upload_bytes
        self._jobs = Jobs(engine)
        self._engine = engine
        self._directory = directory
        self._importer = UserImporter(directory=directory, writer=UserImports(engine))
        self._spool = spool
        self._base = issuer.rstrip("/") + "/api/v2/jobs/"
        self._clock = clock
        # Imports run in ``pool`` (the server's I/O pool: its shutdown waits for them), one
        # at a time; without a pool (the CLI), in a thread of their own.
        self._pool = pool
        self._one_at_a_time = threading.Lock()
        self._own: ThreadPoolExecutor | None = None
        self._mailer = mailer
        self._admin_emails = admin_emails
        self._held = _Held(self._jobs, clock)

    def close(self) -> None:
        """Wait for the jobs this service started in a thread of its own."""
        if self._own is not None:
            self._own.shutdown(wait=True)
        self._held.stop()

    def _submit(self, job_id: str, work: Callable[[], None]) -> None:
        self._held.add(job_id)

        def serialized() -> None:
            try:
                with self._one_at_a_time:
                    work()
            finally:
                self._held.discard(job_id)

        pool = self._pool
        if pool is None:
            if self._own is None:
                self._own = ThreadPoolExecutor(1, thread_name_prefix="passgate-jobs")
            pool = self._own
        try:
            pool.submit(serialized)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self._held.discard(job_id)
            raise

    # -- reading -------------------------------------------------------------------
    def _find(self, job_id: str) -> Job:
        if not _JOB_ID.fullmatch(job_id):
            raise InvalidUri(_BAD_ID)
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(_NO_JOB, code="inexistent_job")
        if job.status in UNFINISHED and job.id not in self._held:
            now = self._clock()
            stale = now - STALE_AFTER_S
            if self._jobs.fail_if_stale(job.id, before=stale, now=now, details=INTERRUPTED):
                logger.warning("users import job %s was interrupted: marked failed", job.id)
                (self._spool / f"{job.id}.json").unlink(missing_ok=True)
                job = self._jobs.get(job_id) or job
        return job

    def json(self, job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": job.status,
            "type": job.type,
            "created_at": _iso(job.created_at),
            "id": job.id,
        }
        if job.connection_id is not None:
            body["connection_id"] = job.connection_id
        options = dict(job.options)
        if job.type == "users_import":
            if options.get("external_id") is not None:
                body["external_id"] = options["external_id"]
            if job.summary is not None:
                body["summary"] = dict(job.summary)
        else:
            body.update(options)
            if job.status == "completed":
                body["location"] = self._base + job.id + "/export"
        if job.status_details:
            body["status_details"] = job.status_details
        return body

    def get(self, job_id: str) -> dict[str, Any]:
        return self.json(self._find(job_id))

    def errors(self, job_id: str) -> list[dict[str, Any]]:
        job = self._find(job_id)
        if job.type != "users_import":
            return []
        return list(self._jobs.errors(job.id, limit=MAX_ERRORS_SHOWN))

    # -- imports -------------------------------------------------------------------
    def start_import(
        self,
        users: IO[bytes],
        *,
        connection_id: str,
        upsert: bool,
        external_id: str | None,
        send_completion_email: bool,
    ) -> dict[str, Any]:
        connection = self._importer.connection(connection_id)
        self._spool.mkdir(parents=True, exist_ok=True)
        job = self._jobs.create(
            type="users_import",
            status="pending",
            connection_id=connection.id,
            options={
                "upsert": upsert,
                "external_id": external_id,
                "send_completion_email": send_completion_email,
            },
            now=self._clock(),
        )
        path = self._spool / f"{job.id}.json"
        try:
            with path.open("wb") as copy:
                shutil.copyfileobj(users, copy, 1024 * 1024)
            with path.open("rb") as stream:
                UserImporter.check_file(stream)
        except FileError as exc:
            path.unlink(missing_ok=True)
            self._jobs.update(job.id, status="failed", now=self._clock(), details=str(exc))
            raise InvalidBody(f"The users file cannot be read: {exc}") from None
        except BaseException:
            path.unlink(missing_ok=True)
            self._jobs.update(job.id, status="failed", now=self._clock(), details="not stored")
            raise

        def run() -> None:
            self._run_import(job.id, path, connection.id, upsert)
            if send_completion_email:
                self._send_completion_email(job.id)

        self._submit(job.id, run)
        return self.json(job)

    def _run_import(self, job_id: str, path: Path, connection_id: str, upsert: bool) -> None:
        pending: list[tuple[int, dict[str, Any]]] = []

        def on_error(error: JobError) -> None:
            pending.append((error.row, error.json()))
            if len(pending) >= _ERRORS_PER_WRITE:
                self._jobs.add_errors(job_id, pending)
                pending.clear()

        try:
            self._jobs.update(job_id, status="processing", now=self._clock())
            connection = next(
                c for c in self._directory.list_connections() if c.id == connection_id
            )
            with path.open("rb") as stream:
                summary = self._importer.run(
                    stream, connection=connection, upsert=upsert, dry_run=False, on_error=on_error
                )
            self._jobs.add_errors(job_id, pending)
            self._jobs.update(job_id, status="completed", now=self._clock(), summary=summary.json())
        except Exception as exc:
            logger.exception("users import job %s failed", job_id)
            self._jobs.update(
                job_id, status="failed", now=self._clock(), details=type(exc).__name__
            )
        finally:
            path.unlink(missing_ok=True)

    def _send_completion_email(self, job_id: str) -> None:
        """Auth0's ``send_completion_email``: the administrators (``admin_emails``, as
        the other administrator notifications) hear how the import ended."""
        job = self._jobs.get(job_id)
        if job is None or self._mailer is None:
            return
        for address in self._admin_emails():
            try:
                self._mailer.send(completion_mail(address, job, self._base))
            except (MailError, ValueError) as exc:
                logger.warning("the completion email of job %s was not sent: %s", job_id, exc)

    # -- exports -------------------------------------------------------------------
    def start_export(self, spec: ExportSpec) -> dict[str, Any]:
        if spec.connection_id is not None:
            self._importer.connection(spec.connection_id)
        job = self._jobs.create(
            type="users_export",
            status="completed",
            connection_id=spec.connection_id,
            options=spec.options(),
            now=self._clock(),
        )
        return self.json(job)

    def export(self, job_id: str) -> tuple[Iterator[bytes], str]:
        """The export's gzip-compressed bytes (read as they are sent) and a file name."""
        job = self._find(job_id)
        if job.type != "users_export":
            raise NotFound(_NO_JOB, code="inexistent_job")
        spec = ExportSpec.from_body(
            {**job.options, **({"connection_id": job.connection_id} if job.connection_id else {})}
        )
        users = iter_users(self._engine, connection_id=spec.connection_id, limit=spec.limit)
        return _gzipped(export_lines(users, spec)), f"{job.id}.{spec.format}.gz"


def _gzipped(lines: Iterator[str]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    buffered: list[str] = []
    size = 0
    for line in lines:
        buffered.append(line)
        size += len(line)
        if size >= 64 * 1024:
            yield compressor.compress("".join(buffered).encode("utf-8"))
            buffered.clear()
            size = 0
    yield compressor.compress("".join(buffered).encode("utf-8")) + compressor.flush()


def completion_mail(address: str, job: Job, base: str) -> OutgoingMail:
    """What an import's completion email says: the outcome and the counts, never a row."""
    summary = dict(job.summary or {})
    counts = ", ".join(f"{name} {summary.get(name, 0)}" for name in _COUNTS)
    lines = [
        f"The users import {job.id} into connection {job.connection_id} ended: {job.status}.",
        f"Users: {counts}." if summary else "",
        f"Why: {job.status_details}" if job.status_details else "",
        f"Refused rows: GET {base}{job.id}/errors" if summary.get("failed") else "",
    ]
    text = "\n".join(line for line in lines if line) + "\n"
    return OutgoingMail(to=address, subject=f"passgate: users import {job.status}", text=text)


_COUNTS = ("total", "inserted", "updated", "failed")


class _Held:
    """The jobs this process holds (queued or running), touched every
    :data:`HEARTBEAT_S` by a thread of its own while there are any."""

    def __init__(self, jobs: Jobs, clock: Clock) -> None:
        self._jobs = jobs
        self._clock = clock
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __contains__(self, job_id: object) -> bool:
        with self._lock:
            return job_id in self._ids

    def add(self, job_id: str) -> None:
        with self._lock:
            self._ids.add(job_id)
            if self._thread is None or not self._thread.is_alive():
                self._wake.clear()
                self._thread = threading.Thread(
                    target=self._beat, name="passgate-job-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._ids.discard(job_id)

    def stop(self) -> None:
        self._wake.set()

    def _beat(self) -> None:
        while not self._wake.wait(HEARTBEAT_S):
            with self._lock:
                held = sorted(self._ids)
                if not held:
                    self._thread = None
                    return
            try:
                self._jobs.touch(held, now=self._clock())
            except sa.exc.SQLAlchemyError as exc:
                logger.warning("could not mark the running jobs alive: %s", type(exc).__name__)
