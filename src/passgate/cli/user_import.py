"""``passgate users import`` and ``passgate users export``: moving users in and out.

``export`` writes JSON lines or CSV (never a password or hash) to stdout or ``--output``.

``import`` reads Auth0's bulk-import file (a JSON array of users, or JSON lines) with the
users' existing password hashes (see the README's "Moving your users in"), first checking
the whole file's structure, then importing row by row: a row that cannot be imported is
reported and the import goes on. Exit status: 0 when every row was imported, 1 when some
were not, 2 when the file or an option was refused (nothing imported).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from passgate.cli.support import BadValue, emit, json_option, open_stores
from passgate.management import user_imports
from passgate.management.errors import InvalidBody
from passgate.management.import_process import ChildReader
from passgate.management.user_exports import ExportSpec, export_lines
from passgate.management.user_imports import ImportSummary, JobError, UserImporter
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.user_import import UserImports, iter_users
from passgate.support.json_rows import FileError

__all__ = ["export_users", "import_users"]

#: The row errors kept for the report (the count goes on past them).
MAX_REPORTED = 1000
_SHOWN = 20


@contextlib.contextmanager
def _progress(path: Path, shown: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over the file's bytes on stderr when ``shown``."""
    if not shown:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:,} users"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bars:
        task = bars.add_task("importing", total=path.stat().st_size, rows=0)

        def update(rows: int, position: int) -> None:
            bars.update(task, completed=position, rows=rows)

        yield update


def _report(summary: ImportSummary, errors: list[JobError], dry_run: bool) -> str:
    verb = "would be" if dry_run else "were"
    lines = [
        f"{summary.total:,} users read: {summary.inserted:,} {verb} created, "
        f"{summary.updated:,} {verb} updated, {summary.failed:,} refused"
        + (" (dry run: nothing was written)" if dry_run else "")
    ]
    for error in errors[:_SHOWN]:
        first = error.errors[0]
        where = f" ({first.path})" if first.path else ""
        lines.append(f"  row {error.row}: {first.code}{where}: {first.message}")
    if summary.failed > _SHOWN:
        lines.append(f"  … and {summary.failed - _SHOWN:,} more (--json lists them)")
    return "\n".join(lines)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--connection",
    default=DEFAULT_CONNECTION,
    show_default=True,
    help="The database connection (its name or id) to import into.",
)
@click.option(
    "--upsert", is_flag=True, help="Update users that exist (by email) instead of refusing them."
)
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@json_option
def import_users(file: Path, connection: str, upsert: bool, dry_run: bool, as_json: bool) -> None:
    """Import users (Auth0's bulk-import JSON array, or JSON lines) with their password
    hashes: bcrypt, Django, Werkzeug/Flask, Keycloak, Auth0's custom_password_hash."""
    errors: list[JobError] = []
    summary = ImportSummary()

    def on_error(error: JobError) -> None:
        if len(errors) < MAX_REPORTED:
            errors.append(error)

    with open_stores() as stores:
        importer = UserImporter(directory=stores.directory, writer=UserImports(stores.engine))
        try:
            target = importer.connection(connection)
        except InvalidBody as exc:
            raise BadValue(exc.message) from None
        with contextlib.ExitStack() as stack:
            try:
                # A large file is read and checked by a child process while this one
                # writes; it starts now, and its first batches wait for the check.
                large = file.stat().st_size >= user_imports.PROCESS_FROM_BYTES
                reader = (
                    stack.enter_context(ChildReader(file, upsert=upsert, dry_run=dry_run))
                    if large
                    else None
                )
                with file.open("rb") as stream:
                    importer.check_file(stream)
            except OSError as exc:
                raise BadValue(f"cannot read {file}: {exc.strerror or exc}") from None
            except FileError as exc:
                raise BadValue(f"{file.name}: {exc}; nothing was imported") from None
            try:
                shown = not as_json and sys.stderr.isatty()
                with _progress(file, shown) as progress:
                    summary = importer.run_file(
                        file,
                        connection=target,
                        upsert=upsert,
                        dry_run=dry_run,
                        on_error=on_error,
                        on_progress=progress,
                        reader=iter(reader) if reader is not None else None,
                    )
            except FileError as exc:  # the file changed after its check
                raise BadValue(f"{file.name}: {exc}") from None
            except OSError as exc:
                raise BadValue(f"cannot read {file}: {exc.strerror or exc}") from None
    errors.sort(key=lambda error: error.row)
    document: dict[str, Any] = {
        "connection": target.name,
        "connection_id": target.id,
        "dry_run": dry_run,
        "summary": summary.json(),
        "errors": [error.json() for error in errors],
    }
    if summary.failed > len(errors):
        document["errors_not_listed"] = summary.failed - len(errors)
    emit(as_json, document, lambda: _report(summary, errors, dry_run))
    if summary.failed:
        sys.exit(1)


@click.command("export")
@click.option("--connection", default=None, help="Only this connection's users (name or id).")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="json: one user a line (JSON lines, Auth0's export); csv: a header row, then users.",
)
@click.option(
    "--fields",
    default=None,
    help="Comma-separated fields (default: every field but identities), e.g. "
    "email,username,user_metadata.plan; NAME=HEADER renames a column.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of stdout.",
)
@json_option
def export_users(
    connection: str | None,
    file_format: str,
    fields: str | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Export users (never a password or hash), a page at a time. With --json: one JSON
    array of the users (streamed too)."""
    if as_json:
        file_format = "json"
    body: dict[str, Any] = {"format": file_format}
    if fields is not None:
        chosen = []
        for item in fields.split(","):
            name, _, header = item.strip().partition("=")
            chosen.append({"name": name, **({"export_as": header} if header else {})})
        body["fields"] = chosen
    with open_stores() as stores:
        if connection is not None:
            importer = UserImporter(directory=stores.directory, writer=UserImports(stores.engine))
            try:
                body["connection_id"] = importer.connection(connection).id
            except InvalidBody as exc:
                raise BadValue(exc.message) from None
        try:
            spec = ExportSpec.from_body(body)
        except InvalidBody as exc:
            raise BadValue(exc.message) from None
        users = iter_users(stores.engine, connection_id=spec.connection_id)
        out = output.open("w", encoding="utf-8", newline="") if output else None
        lines = export_lines(users, spec)
        try:
            for line in _as_array(lines) if as_json else lines:
                if out is not None:
                    out.write(line)
                else:
                    click.echo(line, nl=False)
        finally:
            if out is not None:
                out.close()


def _as_array(lines: Iterator[str]) -> Iterator[str]:
    """JSON lines as one JSON array, without holding them."""
    yield "["
    for index, line in enumerate(lines):
        yield ("," if index else "") + line.rstrip("\n")
    yield "]\n"
