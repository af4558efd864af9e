"""``passgate breached``: import a corpus, show the index, check a password.

Register with ``main.add_command(breached)``. Errors are one line on stderr and exit
status 1, never a traceback. ``check`` reads the password from stdin
(``--password-stdin``) or a hidden prompt, never from the command line, where it would
show in ``ps`` and the shell history.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from passgate.breached.checker import BreachedChecker
from passgate.breached.errors import BreachedError
from passgate.breached.formats import FORMATS, Format
from passgate.breached.importer import import_corpus
from passgate.breached.index import BreachedIndex

__all__ = ["breached"]

_INDEX_HELP = "Index file [default: the breached_index_path setting, PASSGATE_BREACHED_INDEX]."


def _settings() -> Any:
    from passgate.settings import Settings

    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError: refused environment
        raise click.ClickException(f"invalid settings: {exc}") from exc


def _index_path(index_path: Path | None) -> Path:
    if index_path is not None:
        return index_path
    path: Path = _settings().breached_index_path
    return path


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


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
        stats = import_corpus(
            paths, dest, min_count=min_count, with_range=with_range, tmp_dir=tmp_dir, fmt=fmt
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
        f"{stats.entries:,} hashes in {dest} ({stats.hashes_read:,} read, "
        f"{stats.dropped_below_min_count:,} below min count {min_count}) "
        f"in {stats.seconds:.1f} s ({stats.hashes_per_second:,.0f} hashes/s)"
    )
    if stats.range_entries is not None:
        click.echo(f"range data: {stats.range_entries:,} hashes")


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
    if as_json:
        _echo_json(stats)
        return
    for key, value in stats.items():
        click.echo(f"{key}: {value}")


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
        raise click.ClickException(
            "check takes no arguments: a password on the command line would show in ps and "
            "the shell history; use --password-stdin or answer the prompt"
        )
    if password_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise click.ClickException("no password on stdin")
    else:
        password = click.prompt("Password", hide_input=True)
    settings = _settings()
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
        raise click.ClickException(str(exc)) from exc
    del password
    if as_json:
        _echo_json({"breached": result.breached, "count": result.count, "source": result.source})
        return
    if not result.breached:
        click.echo("not found in the breached-password corpus")
    elif result.source == "test":
        click.echo("breached (AUTH0-TEST- test password)")
    else:
        click.echo(f"breached: seen about {result.count:,} times ({result.source})")
