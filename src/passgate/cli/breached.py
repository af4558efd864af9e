"""``passgate breached``: import a corpus, show the index, check a password.

Register with ``main.add_command(breached)``. Errors are one line on stderr, never a
traceback: exit status 1 for ``import`` and ``stats``, 2 for ``check`` (whose 1 means
"breached", like ``grep``'s "found"); refused settings exit 2 everywhere. ``check`` reads
the password from stdin (``--password-stdin``) or a hidden prompt, never from the command
line, where it would show in ``ps`` and the shell history. ``import`` shows a progress bar
on a terminal, and nothing of the kind with ``--json`` or when stdout or stderr is not a
terminal.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from passgate.breached.checker import BreachedChecker
from passgate.breached.errors import BreachedError
from passgate.breached.formats import FORMATS, Format
from passgate.breached.importer import Progress, import_corpus
from passgate.breached.index import BreachedIndex
from passgate.cli.support import fields, iso_time, load_settings, plural

__all__ = ["breached"]

_INDEX_HELP = "Index file [default: the breached_index_path setting, PASSGATE_BREACHED_INDEX]."


class CheckError(click.ClickException):
    """A ``check`` that could not answer: exit 2 (1 means the password is breached)."""

    exit_code = 2


def _index_path(index_path: Path | None) -> Path:
    if index_path is not None:
        return index_path
    return load_settings().breached_index_path


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


_PHASES = {"read": "reading the corpus", "write": "writing the index"}


@contextlib.contextmanager
def _progress_bar(shown: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr for ``import_corpus`` when ``shown``; else None."""
    if not shown:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bars

    tasks: dict[str, TaskID] = {}
    with Bars(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bars:

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(_PHASES.get(phase, phase), total=total or None)
            bars.update(tasks[phase], completed=done)

        yield update


def _on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@click.group("breached")
def breached() -> None:
    """Breached-password corpus (Pwned Passwords formats): import, stats, check."""


@breached.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--min-count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Leave out hashes seen fewer times than this.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="sha1: SHA1HEX:COUNT lines; range-dir: ABCDE.txt files; "
    "passwords: one password per line; auto: by content.",
)
@click.option(
    "--with-range",
    is_flag=True,
    help="Also build the range companion that GET /range/{prefix} needs.",
)
@click.option("--index", "index_path", type=click.Path(path_type=Path), help=_INDEX_HELP)
@click.option(
    "--tmp-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for the sorted runs [default: the index's directory].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def import_command(
    paths: tuple[Path, ...],
    min_count: int,
    fmt: Format,
    with_range: bool,
    index_path: Path | None,
    tmp_dir: Path | None,
    as_json: bool,
) -> None:
    """Build a new index from PATHS and swap it in; on failure the old one stays."""
    dest = _index_path(index_path)
    try:
        with _progress_bar(not as_json and _on_terminal()) as progress:
            stats = import_corpus(
                paths,
                dest,
                min_count=min_count,
                with_range=with_range,
                tmp_dir=tmp_dir,
                fmt=fmt,
                progress=progress,
            )
    except BreachedError as exc:
        raise click.ClickException(f"{exc} (the previous index is unchanged)") from exc
    except OSError as exc:
        raise click.ClickException(
            f"import failed: {exc} (the previous index is unchanged)"
        ) from exc
    if as_json:
        _echo_json(stats.as_dict())
        return
    click.echo(
        f"{plural(stats.entries, 'hash', 'hashes')} in {dest} "
        f"({plural(stats.hashes_read, 'hash', 'hashes')} read, "
        f"{stats.dropped_below_min_count:,} below min count {min_count}) "
        f"in {stats.seconds:.1f} s ({stats.hashes_per_second:,.0f} hashes/s)"
    )
    if stats.range_entries is not None:
        click.echo(f"range data: {plural(stats.range_entries, 'hash', 'hashes')}")


@breached.command("stats")
@click.option("--index", "index_path", type=click.Path(path_type=Path), help=_INDEX_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats_command(index_path: Path | None, as_json: bool) -> None:
    """Show what the index holds."""
    try:
        with BreachedIndex.open(_index_path(index_path)) as index:
            stats = index.stats()
    except BreachedError as exc:
        raise click.ClickException(str(exc)) from exc
    stats["created"] = iso_time(stats["created"])
    if as_json:
        _echo_json(stats)
        return
    click.echo(_stats_text(stats))


def _stats_text(stats: dict[str, Any]) -> str:
    entries, min_count = stats["entries"], stats["min_count"]
    seen = "once" if min_count == 1 else f"{min_count:,} times"
    per_entry = f", {stats['bytes_per_hash']} per entry" if stats["bytes_per_hash"] else ""
    range_data = stats["range"]
    if "range_entries" in stats:
        range_data = (
            f"{plural(stats['range_entries'], 'entry', 'entries')}, "
            f"{plural(stats['range_bytes'], 'byte', 'bytes')}"
        )
    return fields(
        [
            ("index", stats["path"]),
            ("entries", f"{plural(entries, 'entry', 'entries')} (hashes seen at least {seen})"),
            ("size", f"{plural(stats['bytes'], 'byte', 'bytes')}{per_entry}"),
            ("created", stats["created"]),
            ("build id", stats["build_id"]),
            ("range data", range_data),
            ("false matches", f"about {stats['false_positive_rate']:.1e} of lookups"),
            ("count error", f"at most {stats['count_relative_error']:.1%}"),
        ]
    )


@breached.command(
    "check", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line).")
@click.option("--index", "index_path", type=click.Path(path_type=Path), help=_INDEX_HELP)
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.pass_context
def check_command(
    ctx: click.Context,
    password_stdin: bool,
    index_path: Path | None,
    min_count: int,
    as_json: bool,
) -> None:
    """Tell whether a password is breached (local index, then the upstream if configured)."""
    if ctx.args:
        raise CheckError(
            "check takes no arguments: a password on the command line would show in ps and "
            "the shell history; use --password-stdin or answer the prompt"
        )
    settings = load_settings()
    if password_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise CheckError("no password on stdin")
    else:
        try:
            password = click.prompt("Password", hide_input=True, err=True)
        except click.Abort:
            raise CheckError("no password given") from None
    try:
        checker = BreachedChecker.from_settings(
            settings,
            min_count=min_count,
            index_path=index_path,
            require_index=index_path is not None or not settings.breached_range_url,
        )
        try:
            result = checker.check(password)
        finally:
            checker.close()
    except BreachedError as exc:
        raise CheckError(str(exc)) from exc
    del password
    if as_json:
        _echo_json({"breached": result.breached, "count": result.count, "source": result.source})
    elif not result.breached:
        click.echo("not found in the breached-password corpus")
    elif result.source == "test":
        click.echo("breached (AUTH0-TEST- test password)")
    else:
        times = "once" if result.count == 1 else f"{result.count:,} times"
        click.echo(f"breached: seen about {times} ({result.source})")
    ctx.exit(1 if result.breached else 0)
