"""The directory where a server's processes keep their metric values.

``passgate serve`` makes one per server (``passgate-metrics-<pid>-…`` in the temporary
directory), names it in ``PROMETHEUS_MULTIPROC_DIR`` for its workers, and deletes it when
it stops; a server killed with ``kill -9`` leaves its directory behind, and the next one
started removes it. The gauges of a worker that died (and was replaced) are dropped at the
next scrape; its counters stay, so that totals never go down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

__all__ = [
    "MULTIPROC_ENV",
    "Election",
    "create_server_dir",
    "reap_dead_processes",
    "reclaim_stale_dirs",
    "remove_server_dir",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "passgate-metrics-"
_DIR_NAME = re.compile(rf"^{_PREFIX}(\d+)-")
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reclaim_stale_dirs(parent: Path | None = None) -> list[Path]:
    """Delete the directories of servers that are gone (killed before they could); return
    them. Only this user's, and only ours."""
    parent = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            match = _DIR_NAME.match(entry.name)
            if match is None or _alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink() and entry.stat().st_uid == os.getuid():
                    shutil.rmtree(entry)
                    removed.append(entry)
    return removed


def create_server_dir(parent: Path | None = None) -> Path:
    """A new, empty directory (mode 0700) for this server's metric values."""
    reclaim_stale_dirs(parent)
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=parent))


def remove_server_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def reap_dead_processes(directory: str, *, live: Iterable[int] | None = None) -> list[int]:
    """Drop the live gauges of processes that are no longer running (``live``: the pids
    known to run, when the caller knows them); return the pids dropped."""
    keep = set(live) if live is not None else None
    dead: set[int] = set()
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            match = _LIVE_GAUGE_FILE.match(name)
            if match is None:
                continue
            pid = int(match.group(1))
            if (pid not in keep) if keep is not None else not _alive(pid):
                dead.add(pid)
    if not dead:
        return []
    # Here, not at the top: ``passgate serve`` names the directory in the environment
    # before anything imports prometheus-client (see Metrics).
    from prometheus_client.multiprocess import mark_process_dead

    for pid in sorted(dead):
        with contextlib.suppress(OSError):
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    return sorted(dead)


class Election:
    """One process of a server at a time holds ``name`` (an exclusive ``flock`` on a file
    in the directory): the one that samples what every worker would read the same way
    (the active blocks). The kernel releases it when its holder dies; another takes it
    at its next :meth:`held`. Without a directory, this process is the only one."""

    def __init__(self, directory: str | None, name: str) -> None:
        self._path = None if directory is None else Path(directory) / f"{name}.lock"
        self._file: IO[bytes] | None = None

    def held(self) -> bool:
        if self._path is None or self._file is not None:
            return True
        try:
            handle = self._path.open("ab")
        except OSError:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
