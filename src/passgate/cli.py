"""The ``passgate`` command: it works directly on the configured database."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from passgate.settings import Settings

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """passgate: a token service for the password grant, with attack protection."""


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc


@main.command()
def migrate() -> None:
    """Apply database migrations (also done on every start)."""
    from passgate.app import open_database

    open_database(_settings()).dispose()
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the token endpoint."""
    import uvicorn

    from passgate.app import open_database

    settings = _settings()
    # Migrate once, here, before any worker starts.
    open_database(settings).dispose()
    if settings.issuer is None:
        os.environ["PASSGATE_ISSUER"] = f"http://{host}:{port}/"
    kwargs: dict[str, Any] = {}
    uvicorn.run(
        "passgate.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        **kwargs,
    )
    sys.exit(0)
