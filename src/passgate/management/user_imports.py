"""Importing users from a file: ``passgate users import`` and ``POST /jobs/users-imports``.

The file is read twice, in bounded memory (:mod:`passgate.support.json_rows`): first
only its structure, so that a truncated or malformed file imports nobody (the
:class:`~passgate.support.json_rows.FileError` names the row and offset); then row by row,
each user checked (:mod:`passgate.management.import_rows`) into batches
(:func:`prepare`), which are written (:mod:`passgate.storage.user_import`). A row that
cannot be imported becomes a :class:`JobError` and the import goes on. ``dry_run`` makes
every decision and writes nothing.

Reading and checking cost about as much as writing, so for a large file
(:meth:`UserImporter.run_file`) they run in a process of their own
(:mod:`passgate.management.import_process`) while this one writes: two cores, where a
thread would share one interpreter lock with the writer.

Imported hashes are kept as they are until the user's first successful login, which
replaces them with passgate's argon2id (:mod:`passgate.support.passwords`).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

from passgate.domain.models import Connection
from passgate.management.errors import InvalidBody
from passgate.management.import_rows import RowError, echo, read_row
from passgate.storage.directory import Directory
from passgate.storage.user_import import ImportedUser, Outcome, UserImports
from passgate.support.json_rows import Row, read_rows

__all__ = ["BATCH", "PROCESS_FROM_BYTES", "Batch", "ImportSummary", "JobError", "UserImporter"]

BATCH = 2000
#: A file at least this large is read and checked in a process of its own.
PROCESS_FROM_BYTES = 8 * 1024 * 1024
_OUTCOME_ERRORS = {
    "duplicate": RowError("DUPLICATED_USER", "The user already exists and upsert is false"),
    "conflict": RowError(
        "DUPLICATED_USER", "The username or user_id belongs to another user", "username"
    ),
}


@dataclasses.dataclass(slots=True)
class ImportSummary:
    total: int = 0
    inserted: int = 0
    updated: int = 0
    failed: int = 0

    def json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class JobError:
    """One row that was not imported: Auth0's job error, plus where the row is."""

    row: int
    offset: int
    user: dict[str, Any]
    errors: tuple[RowError, ...]

    def json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "errors": [
                {"code": e.code, "message": e.message, **({"path": e.path} if e.path else {})}
                for e in self.errors
            ],
            "row": self.row,
            "offset": self.offset,
        }


class Batch(NamedTuple):
    """Consecutive rows of the file, read and checked: at most ``BATCH`` of them."""

    rows: int  #: how many rows it covers
    position: int  #: how far into the file (bytes) reading has gone
    users: list[tuple[int, int, ImportedUser]]  #: (row number, offset, user) to write
    refused: list[JobError]  #: the rows refused on reading, in order


def prepare(
    stream: IO[bytes], *, upsert: bool, dry_run: bool, batch: int = BATCH
) -> Iterator[Batch]:
    """The file's rows, each read and checked, in batches; no database."""
    users: list[tuple[int, int, ImportedUser]] = []
    refused: list[JobError] = []
    rows = 0
    # A dry run writes nothing, so the file's own duplicates are remembered here.
    seen: set[str] | None = set() if dry_run else None
    for row in read_rows(stream):
        rows += 1
        user = read_row(row.value) if row.value is not None else None
        if row.error is not None or not isinstance(user, ImportedUser):
            error = user if isinstance(user, RowError) else _invalid_json(row)
            refused.append(JobError(row.number, row.offset, echo(row.value), (error,)))
        elif seen is not None and _seen_before(seen, user) and not upsert:
            duplicate = (_OUTCOME_ERRORS["duplicate"],)
            refused.append(JobError(row.number, row.offset, echo(row.value), duplicate))
        else:
            users.append((row.number, row.offset, user))
        if len(users) + len(refused) >= batch:
            yield Batch(rows, stream.tell(), users, refused)
            users, refused, rows = [], [], 0
    if rows:
        yield Batch(rows, stream.tell(), users, refused)


class UserImporter:
    def __init__(self, *, directory: Directory, writer: UserImports, batch: int = BATCH) -> None:
        self._directory = directory
        self._writer = writer
        self._batch = batch

    def connection(self, name_or_id: str) -> Connection:
        """The database connection named ``name_or_id`` (its name or its ``con_`` id)."""
        for connection in self._directory.list_connections():
            if name_or_id in (connection.name, connection.id):
                return connection
        raise InvalidBody(f"The connection does not exist: {name_or_id[:128]}")

    @staticmethod
    def check_file(stream: IO[bytes]) -> int:
        """Read the file's structure only; the number of rows, or a ``FileError``."""
        count = 0
        for count, _ in enumerate(read_rows(stream, check_values=False), start=1):  # noqa: B007
            pass
        return count

    def run(
        self,
        stream: IO[bytes],
        *,
        connection: Connection,
        upsert: bool,
        dry_run: bool,
        on_error: Callable[[JobError], None],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> ImportSummary:
        """Import the rows of ``stream``, read in this process. ``on_progress`` is told
        the rows and bytes read so far after each batch."""
        batches = prepare(stream, upsert=upsert, dry_run=dry_run, batch=self._batch)
        return self._write(batches, connection, upsert, dry_run, on_error, on_progress)

    def run_file(
        self,
        path: Path,
        *,
        connection: Connection,
        upsert: bool,
        dry_run: bool,
        on_error: Callable[[JobError], None],
        on_progress: Callable[[int, int], None] | None = None,
        reader: Iterator[Batch] | None = None,
    ) -> ImportSummary:
        """Import the file at ``path``: as :meth:`run`, with the batches of ``reader``
        when given (:func:`~passgate.management.import_process.read_in_child`)."""
        if reader is not None:
            return self._write(reader, connection, upsert, dry_run, on_error, on_progress)
        with path.open("rb") as stream:
            return self.run(
                stream,
                connection=connection,
                upsert=upsert,
                dry_run=dry_run,
                on_error=on_error,
                on_progress=on_progress,
            )

    def _write(
        self,
        batches: Iterable[Batch],
        connection: Connection,
        upsert: bool,
        dry_run: bool,
        on_error: Callable[[JobError], None],
        on_progress: Callable[[int, int], None] | None,
    ) -> ImportSummary:
        summary = ImportSummary()
        # A dry run writes nothing: with upsert, the users earlier batches would have
        # created are remembered here (without upsert, ``prepare`` refuses repeats).
        created: _DryRunUsers | None = _DryRunUsers() if dry_run and upsert else None
        with self._writer.session() as writer:
            for batch in batches:
                summary.total += batch.rows
                users = [user for _, _, user in batch.users]
                outcomes = writer.write(connection.id, users, upsert=upsert, dry_run=dry_run)
                if created is not None:
                    outcomes = created.outcomes(users, outcomes)
                failed: list[JobError] = []
                for (number, offset, user), outcome in zip(batch.users, outcomes, strict=True):
                    if outcome == "inserted":
                        summary.inserted += 1
                    elif outcome == "updated":
                        summary.updated += 1
                    else:
                        errors = (_OUTCOME_ERRORS[outcome],)
                        failed.append(JobError(number, offset, _echo(user), errors))
                summary.failed += len(batch.refused) + len(failed)
                for error in heapq.merge(batch.refused, failed, key=_row_of):
                    on_error(error)
                if on_progress is not None:
                    on_progress(summary.total, batch.position)
        return summary


class _DryRunUsers:
    """The users an upsert dry run has counted as inserted, by their keys: a later batch's
    user with the same email would be updated, one with another user's username or
    user_id would be refused, as a real run decides once the earlier batch is written."""

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}

    def outcomes(self, users: Sequence[ImportedUser], decided: Sequence[Outcome]) -> list[Outcome]:
        found: list[Outcome] = []
        for user, outcome in zip(users, decided, strict=True):
            if outcome == "inserted":
                outcome = self._after_earlier_batches(user)
            found.append(outcome)
        return found

    def _after_earlier_batches(self, user: ImportedUser) -> Outcome:
        email = user.email_key
        keys = _keys(user)  # the email's first
        if self._owner.get(keys[0]) == email:
            return "updated"
        if any(self._owner.get(key, email) != email for key in keys[1:]):
            return "conflict"
        for key in keys:
            self._owner[key] = email
        return "inserted"


def _row_of(error: JobError) -> int:
    return error.row


def _echo(user: ImportedUser) -> dict[str, Any]:
    """:func:`~passgate.management.import_rows.echo` of the row ``user`` was read from."""
    return echo({"email": user.email, "user_id": user.given_user_id, "username": user.username})


def _invalid_json(row: Row) -> RowError:
    return RowError("INVALID_JSON", row.error or "not a JSON object")


def _keys(user: ImportedUser) -> list[str]:
    """What makes a user unique in a connection: its email, username and user id."""
    keys = ["e:" + user.email_key]
    if user.username_key is not None:
        keys.append("u:" + user.username_key)
    if user.user_id:
        keys.append("i:" + user.user_id)
    return keys


def _seen_before(seen: set[str], user: ImportedUser) -> bool:
    keys = _keys(user)
    duplicate = any(key in seen for key in keys)
    seen.update(keys)
    return duplicate
