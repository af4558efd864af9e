"""``passgate serve``: run the token service (https too), once its start-up checks pass."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from passgate.cli.support import (
    SettingsRefused,
    load_settings,
    refusals,
    sqlite_file,
    where,
)
from passgate.settings import Settings
from passgate.support.tls import TlsFile, TlsFiles, check_tls_files

__all__ = [
    "check_startup",
    "host_option",
    "local_url",
    "run_server",
    "serve",
    "tls_cert_option",
    "tls_files",
    "tls_key_option",
]


#: What a service manager (SIGTERM) or a terminal (SIGINT) sends to stop the server.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

host_option = click.option("--host", default="127.0.0.1", show_default=True)
tls_cert_option = click.option(
    "--tls-cert",
    type=click.Path(path_type=Path),
    default=None,
    help="Serve https with this PEM certificate file (the server's certificate first, then "
    "any intermediates); needs --tls-key. Default: PASSGATE_TLS_CERT.",
)
tls_key_option = click.option(
    "--tls-key",
    type=click.Path(path_type=Path),
    default=None,
    help="The certificate's unencrypted PEM private key. Default: PASSGATE_TLS_KEY.",
)


def tls_files(settings: Settings, cert: Path | None, key: Path | None) -> TlsFiles | None:
    """The certificate and key to serve https with (an option overrides its setting), checked
    here once; None for plain http. Refuses (exit 2, one line) half a pair or a bad file."""
    chosen_cert = _chosen(cert, "--tls-cert", settings.tls_cert, "PASSGATE_TLS_CERT")
    chosen_key = _chosen(key, "--tls-key", settings.tls_key, "PASSGATE_TLS_KEY")
    if chosen_cert is None and chosen_key is None:
        return None
    if chosen_cert is None or chosen_key is None:
        given = chosen_cert or chosen_key
        missing = (
            "--tls-key or PASSGATE_TLS_KEY"
            if chosen_key is None
            else ("--tls-cert or PASSGATE_TLS_CERT")
        )
        assert given is not None
        raise SettingsRefused(
            f"{given.source} is given without {missing}; expected both, to serve https: "
            "the certificate and its private key"
        )
    files = TlsFiles(cert=chosen_cert, key=chosen_key)
    with refusals():
        check_tls_files(files)
    return files


def _chosen(option: Path | None, flag: str, setting: Path | None, variable: str) -> TlsFile | None:
    if option is not None:
        return TlsFile(option, flag)
    return TlsFile(setting, variable) if setting is not None else None


def run_server(
    settings: Settings, host: str, port: int, workers: int, tls: TlsFiles | None = None
) -> None:
    """Migrate once, here, then serve (https with ``tls``) until a signal stops the server."""
    import uvicorn

    from passgate.keys.startup import prepare_start
    from passgate.support import hash_slots
    from passgate.support.logs import configure_logging
    from passgate.web.protocol import HttpProtocol

    configure_logging(settings.log_level, settings.log_format)

    # Refused here, in one line, rather than by every worker with a traceback.
    with refusals():
        issuer, fixed_now = prepare_start(
            settings, first_address=local_url(host, port, https=tls is not None)
        )
    if fixed_now and settings.issuer is None:
        _say(
            settings,
            f"the issuer is {issuer} (this first serving address), kept in the "
            f"database for every instance; change it with `passgate issuer set URL`",
        )
    metrics = _start_metrics(settings, host, port)
    _reclaim_semaphores(settings)
    slots = None
    if workers > 1:
        # Password hashing is bounded across the whole server, not per worker.
        if hash_slots.supported():
            # Every worker gets a full pool (the clients' connections may all land on one
            # worker) and they share one bound: a semaphore the workers inherit by id.
            slots = hash_slots.HashSlots.create(settings.hash_workers)
            os.environ["PASSGATE_HASH_SLOTS_ID"] = str(slots.id)
        elif "PASSGATE_HASH_WORKERS" not in os.environ:
            os.environ["PASSGATE_HASH_WORKERS"] = str(max(1, settings.hash_workers // workers))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # previous handler: ours makes that a normal exit (0 for SIGTERM) instead of a death.
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in STOP_SIGNALS}
    try:
        uvicorn.run(
            "passgate.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            log_config=None,  # every line goes through passgate's format (support/logs)
            access_log=False,
            proxy_headers=False,
            server_header=False,
            http=HttpProtocol,
            **_uvicorn_tls(tls),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if slots is not None:
            slots.remove()
            os.environ.pop("PASSGATE_HASH_SLOTS_ID", None)
        metrics.close()


class _ServerMetrics:
    """The server's metrics directory (named to its workers in the environment) and its
    own ``/metrics`` listener, if any; :meth:`close` removes both."""

    def __init__(self, directory: Path | None = None, listener: Any = None) -> None:
        self.directory = directory
        self.listener = listener

    def close(self) -> None:
        from passgate.observability.multiproc import MULTIPROC_ENV, remove_server_dir

        if self.listener is not None:
            self.listener.close()
        if self.directory is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            remove_server_dir(self.directory)


def _start_metrics(settings: Settings, host: str, port: int) -> _ServerMetrics:
    """With metrics on: a fresh directory for every process's values (the environment
    names it before any worker, or this process, imports prometheus-client), and the
    listener of ``PASSGATE_METRICS_PORT``."""
    if not settings.metrics:
        return _ServerMetrics()
    from passgate.observability.multiproc import MULTIPROC_ENV, create_server_dir

    if settings.metrics_port is not None and settings.metrics_port == port:
        raise SettingsRefused(
            f"PASSGATE_METRICS_PORT: {port} is the port passgate serves on; expected another "
            "port, or unset it to serve /metrics on the main port"
        )
    directory = create_server_dir()
    os.environ[MULTIPROC_ENV] = str(directory)
    metrics = _ServerMetrics(directory)
    if settings.metrics_port is not None:
        from passgate.observability.listener import MetricsListener

        token = settings.metrics_token
        try:
            metrics.listener = MetricsListener(
                host,
                settings.metrics_port,
                str(directory),
                token=None if token is None else token.get_secret_value(),
            )
        except OSError as exc:
            metrics.close()
            raise SettingsRefused(
                f"PASSGATE_METRICS_PORT: cannot listen on {host}:{settings.metrics_port}: "
                f"{exc.strerror or exc}; expected a free port"
            ) from None
        metrics.listener.start()
    return metrics


def _uvicorn_tls(tls: TlsFiles | None) -> dict[str, Any]:
    """uvicorn's options for ``tls``: every worker loads the files into its own context."""
    if tls is None:
        return {}
    return {
        "ssl_certfile": str(tls.cert.path),
        "ssl_keyfile": str(tls.key.path),
        # Python's defaults (TLS 1.2 and later, forward-secret AEAD suites), not the
        # "TLSv1" cipher list that uvicorn before 0.36 set.
        "ssl_ciphers": None,
    }


def check_startup(settings: Settings) -> None:
    """Refuse (exit 2) settings that every server process would refuse at start: range
    answers without a breached-password index to answer from."""
    from passgate.breached.checker import BreachedChecker
    from passgate.breached.errors import BreachedError

    if not settings.breached_range_enabled:
        return
    try:
        BreachedChecker.from_settings(settings, require_index=True).close()
    except BreachedError as exc:
        raise SettingsRefused(
            f"PASSGATE_BREACHED_RANGE_ENABLED: {exc}; expected an index built with "
            "`passgate breached import --with-range` at PASSGATE_BREACHED_INDEX, or false"
        ) from None


def _say(settings: Settings, text: str) -> None:
    """A note on stderr: ``passgate: …``, or a log line when the log is JSON (so that every
    line a JSON server writes is JSON)."""
    if settings.log_format == "json":
        import logging

        logging.getLogger("passgate.serve").info(text)
    else:
        click.echo(f"passgate: {text}", err=True)


def _reclaim_semaphores(settings: Settings) -> None:
    """Remove the hashing semaphores of servers killed with ``kill -9`` (nobody uses them)."""
    from passgate.support import hash_slots

    removed = hash_slots.reclaim_stale()
    if removed:
        ids = ", ".join(str(semaphore_id) for semaphore_id in removed)
        _say(
            settings,
            f"removed {len(removed)} hashing semaphore set(s) left by a killed "
            f"server (semid {ids})",
        )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0 if signum == signal.SIGTERM else 128 + signum)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def local_url(host: str, port: int, *, https: bool) -> str:
    """The address a server listening on ``host`` and ``port`` answers at, from here."""
    local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"{'https' if https else 'http'}://{_url_host(local)}:{port}/"


@click.command()
@host_option
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@tls_cert_option
@tls_key_option
def serve(host: str, port: int, workers: int, tls_cert: Path | None, tls_key: Path | None) -> None:
    """Serve the token endpoint (migrating the database first, creating it if need be);
    https with --tls-cert and --tls-key."""
    settings = load_settings()
    tls = tls_files(settings, tls_cert, tls_key)
    check_startup(settings)
    database = sqlite_file(settings)
    created = database is not None and not database.exists()
    if settings.log_format == "json":
        from passgate.support.logs import configure_logging

        configure_logging(settings.log_level, settings.log_format)
    _say(settings, where(settings, created=created))
    with refusals():
        run_server(settings, host, port, workers, tls)
    sys.exit(0)
