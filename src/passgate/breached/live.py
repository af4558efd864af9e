"""The index file at a path, swapped for a new one when an import replaces the file.

``passgate breached import`` writes a new file and renames it over the old one, so a
server that mapped the old file keeps reading the old corpus until it looks again.
:class:`LiveIndex` looks when :meth:`LiveIndex.refresh` is called: server processes call
it about once a second from a background thread (``Passgate.schedules``), never on the
login path. A refresh ``stat``\\ s the path; when its identity (device, inode, size,
modification time) changed, it maps the new file and swaps it in with one attribute
assignment, which lookups in other threads see whole or not at all.

The previous index is not closed: lookups that started on it hold a reference and finish
on it, and CPython unmaps it when the last of them returns. Nothing that may still be in
use is ever unmapped.

What can happen to the file, and what a refresh does:

- unchanged: nothing (one ``stat``);
- created (no index at start-up): mapped and used from then on;
- replaced by an import: the new one is mapped and swapped in;
- replaced by something that is not a valid index (a copy still being written, a damaged
  file): the error is logged once, the previous index stays in use, and the next change
  of the file is tried again;
- deleted: the index already loaded stays in use and a warning is logged once (until a
  file appears again).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import NamedTuple

from passgate.breached.errors import BreachedIndexError
from passgate.breached.index import BreachedIndex

__all__ = ["RELOAD_INTERVAL_S", "LiveIndex"]

logger = logging.getLogger("passgate.breached")

#: How often server processes look for a replaced index file.
RELOAD_INTERVAL_S = 1.0


class _Identity(NamedTuple):
    """What changes when a file is replaced or rewritten."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> _Identity:
        return cls(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


class LiveIndex:
    """The current :class:`BreachedIndex` of ``path`` (or None while there is none).

    ``required``: the file must exist and be valid at construction (raise
    :class:`BreachedIndexError` otherwise). Without it a missing file means no index yet;
    a file that exists but is not a valid index still raises at construction, so a server
    does not start on a damaged index (later replacements are only logged).
    """

    def __init__(self, path: Path | str, *, required: bool = False) -> None:
        self.path = Path(path)
        self._current: BreachedIndex | None = None
        self._identity: _Identity | None = None
        #: A replacement that could not be opened: not tried again until it changes.
        self._rejected: _Identity | None = None
        self._warned_missing = False
        #: What is wrong with the file while the loaded index is still used, if anything.
        self.problem: str | None = None
        self._lock = threading.Lock()
        try:
            identity = _Identity.of(os.stat(self.path))
        except FileNotFoundError:
            if required:
                BreachedIndex.open(self.path)  # raises the error that says what to do
            return
        except OSError as exc:
            raise BreachedIndexError(f"{self.path}: cannot open: {exc.strerror or exc}") from exc
        self._current = BreachedIndex.open(self.path)
        self._identity = identity

    def current(self) -> BreachedIndex | None:
        """The index to look up in now. Keep the returned object for a whole lookup."""
        return self._current

    def refresh(self) -> bool:
        """Swap in the file at ``path`` if it is not the one mapped; True if it did.

        Blocking (a ``stat``, and an ``mmap`` when the file changed): call it off the
        event loop. Never raises for what happens to the file; it logs instead.
        """
        with self._lock:
            try:
                identity = _Identity.of(os.stat(self.path))
            except OSError as exc:
                self._missing(exc)
                return False
            self._warned_missing = False
            if identity == self._identity:
                self.problem = None
                return False
            if identity == self._rejected:
                return False
            try:
                index = BreachedIndex.open(self.path)
            except BreachedIndexError as exc:
                self._rejected = identity
                if self._current is not None:
                    self.problem = (
                        "the index file was replaced by an invalid one; using the loaded one"
                    )
                logger.error("breached-password index not reloaded: %s", exc)
                return False
            self._current, self._identity, self._rejected = index, identity, None
            self.problem = None
        logger.info(
            "breached-password index loaded: %s, %d entries, build %s",
            self.path,
            len(index),
            index.header.build_id.hex(),
        )
        return True

    def _missing(self, exc: OSError) -> None:
        if self._current is None or self._warned_missing:
            return
        self._warned_missing = True
        gone = isinstance(exc, FileNotFoundError)
        self.problem = (
            f"the index file {'was deleted' if gone else 'cannot be read'}; using the loaded one"
        )
        reason = "was deleted" if gone else f"cannot be read: {exc}"
        logger.warning(
            "breached-password index %s %s; still using the one loaded (%d entries)",
            self.path,
            reason,
            len(self._current),
        )

    def close(self) -> None:
        """Unmap the current index (at shutdown, once no lookup runs)."""
        with self._lock:
            index, self._current = self._current, None
        if index is not None:
            index.close()
