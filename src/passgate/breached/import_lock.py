"""One import at a time per index, and the removal of what a killed import left.

An import holds an exclusive ``flock`` on ``.NAME.lock`` beside the index ``NAME`` from its
start to its end (the kernel lets go of it when the process ends, however it ends). The
file records the holder's pid and the directory of its sorted runs, written before that
directory is made. So:

- a second import into the same index is refused at once, naming the running one's pid,
  and touches nothing;
- an import that gets the lock knows that no other import of this index runs, so what an
  earlier one left is garbage: the runs directory the file names (wherever ``--tmp-dir``
  put it), and the writers' ``.NAME.TAG.RANDOM.tmp`` files (and the range companion's)
  beside the index. Names are matched exactly: the files of another index in the same
  directory are never matched, whatever its name.

The import removes the lock file when it ends; only a killed one leaves it behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from passgate.breached.errors import BreachedImportError
from passgate.breached.index import range_path

__all__ = ["ImportLock", "import_lock", "lock_path"]

#: Opening the lock file and locking it are two steps; an import ending in between removes
#: the file, and the next attempt opens the new one.
_ATTEMPTS = 10
_RECORD_BYTES = 64 * 1024
#: The tags of the writers' temporary files (``writer._Writer._open``).
_WRITER_TAGS = ("build", "codes", "counts")


def lock_path(dest: Path) -> Path:
    """The lock file of an import into ``dest``."""
    return dest.with_name(f".{dest.name}.lock")


@contextlib.contextmanager
def import_lock(dest: Path) -> Iterator[ImportLock]:
    """Hold the lock of ``dest`` after removing what killed imports left; or refuse.

    Raises :class:`BreachedImportError` when another import into ``dest`` runs.
    """
    lock = ImportLock(dest, _acquire(dest))
    try:
        lock.remove_leftovers()
        yield lock
    finally:
        lock.release()


class ImportLock:
    """The lock an import holds on its index (see the module's docstring)."""

    def __init__(self, dest: Path, fd: int) -> None:
        self.dest = dest
        self._fd = fd

    @contextlib.contextmanager
    def runs_directory(self, parent: Path) -> Iterator[Path]:
        """A new directory in ``parent`` for the sorted runs, recorded before it exists."""
        path = parent.absolute() / f".{self.dest.name}.runs.{secrets.token_hex(8)}"
        self._write(runs=str(path))
        path.mkdir(mode=0o700)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def remove_leftovers(self) -> None:
        """Delete the runs the lock file names and this index's writers' temporary files."""
        runs = _read(self._fd).get("runs")
        if isinstance(runs, str):
            _remove_runs(Path(runs), self.dest)
        names = "|".join(re.escape(name) for name in (self.dest.name, range_path(self.dest).name))
        tags = "|".join(_WRITER_TAGS)
        temporary = re.compile(rf"\.(?:{names})\.(?:{tags})\.[a-z0-9_]+\.tmp")
        with os.scandir(self.dest.parent) as entries:
            for entry in entries:
                if temporary.fullmatch(entry.name) and not entry.is_dir(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        self._write()

    def release(self) -> None:
        """Remove the lock file (while still holding it), then let go of the lock."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path(self.dest))
        os.close(self._fd)

    def _write(self, **fields: str) -> None:
        record = json.dumps({"pid": os.getpid(), **fields}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, record, 0)


def _acquire(dest: Path) -> int:
    path = lock_path(dest)
    for _ in range(_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read(fd).get("pid")
            os.close(fd)
            holder = f" (pid {pid})" if isinstance(pid, int) else ""
            raise BreachedImportError(
                f"{dest}: another import into this index is running{holder}; "
                f"try again once it has finished"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _is_linked(fd, path):
            return fd
        os.close(fd)  # an import that ended removed it meanwhile: take the new one
    raise BreachedImportError(f"{path}: could not take the import lock")


def _is_linked(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _read(fd: int) -> dict[str, Any]:
    """The record in a lock file; empty when there is none or it is damaged."""
    try:
        record = json.loads(os.pread(fd, _RECORD_BYTES, 0))
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _remove_runs(path: Path, dest: Path) -> None:
    """Delete a recorded runs directory, if it is one of ``dest``'s and a real directory."""
    if not re.fullmatch(rf"\.{re.escape(dest.name)}\.runs\.[0-9a-f]+", path.name):
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
