"""A bound on password hashes running at once across the worker processes of one server.

``passgate serve --workers N`` runs N processes. Each gives its hashing pool one thread
per core, so that whichever worker the clients' connections land on can use every core;
what keeps the whole server to one argon2 hash per core (the memory and CPU DESIGN.md
budgets) is this: a System V semaphore, created by the serving process before it starts
the workers, taken around every hash. The kernel gives back what a process still holds
when it ends (``SEM_UNDO``), so a worker killed in the middle of a hash (even with
SIGKILL) does not leak its slot.

Linux only (the semaphore calls go through ``ctypes``); elsewhere, and with one worker,
the hashing pool's own size is the bound.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from types import TracebackType
from typing import NoReturn

__all__ = ["HashSlots", "supported"]

_IPC_PRIVATE = 0
_IPC_CREAT = 0o1000
_IPC_EXCL = 0o2000
_IPC_NOWAIT = 0o4000
_IPC_RMID = 0
_GETVAL = 12
_SETVAL = 16
_SEM_UNDO = 0x1000


class _SemBuf(ctypes.Structure):
    _fields_ = (
        ("sem_num", ctypes.c_ushort),
        ("sem_op", ctypes.c_short),
        ("sem_flg", ctypes.c_short),
    )


def supported() -> bool:
    return sys.platform == "linux"


def _libc(*, release_gil: bool) -> ctypes.CDLL:
    # A call that may block must let other threads run; one that never blocks keeps the
    # GIL (dropping and taking it back costs more than the call).
    if release_gil:
        return ctypes.CDLL(None, use_errno=True)
    return ctypes.PyDLL(None, use_errno=True)


class HashSlots:
    """``slots`` hashes at once, machine-wide, for every process holding the same id."""

    def __init__(self, semaphore_id: int) -> None:
        if not supported():
            raise OSError(errno.ENOSYS, "hash slots need Linux System V semaphores")
        self.id = semaphore_id
        self._blocking = _libc(release_gil=True)
        self._quick = _libc(release_gil=False)
        self._take = (_SemBuf * 1)(_SemBuf(0, -1, _SEM_UNDO))
        self._try_take = (_SemBuf * 1)(_SemBuf(0, -1, _SEM_UNDO | _IPC_NOWAIT))
        self._give = (_SemBuf * 1)(_SemBuf(0, 1, _SEM_UNDO))
        self.available()  # fails now, not at the first login, if the id is wrong

    @classmethod
    def create(cls, slots: int) -> HashSlots:
        """A new semaphore (readable and writable by this user only) with ``slots``."""
        if not supported():
            raise OSError(errno.ENOSYS, "hash slots need Linux System V semaphores")
        libc = _libc(release_gil=False)
        semaphore_id = libc.semget(_IPC_PRIVATE, 1, _IPC_CREAT | _IPC_EXCL | 0o600)
        if semaphore_id < 0:
            _raise("semget")
        if libc.semctl(semaphore_id, 0, _SETVAL, ctypes.c_int(slots)) < 0:
            error = ctypes.get_errno()
            libc.semctl(semaphore_id, 0, _IPC_RMID)
            raise OSError(error, f"semctl(SETVAL): {os.strerror(error)}")
        return cls(semaphore_id)

    def remove(self) -> None:
        """Delete the semaphore (the serving process, once its workers have stopped)."""
        if self._quick.semctl(self.id, 0, _IPC_RMID) < 0:
            _raise("semctl(IPC_RMID)")

    def available(self) -> int:
        value: int = self._quick.semctl(self.id, 0, _GETVAL)
        if value < 0:
            _raise("semctl(GETVAL)")
        return value

    def try_acquire(self) -> bool:
        if self._quick.semop(self.id, self._try_take, 1) == 0:
            return True
        if ctypes.get_errno() == errno.EAGAIN:
            return False
        _raise("semop")

    def acquire(self) -> None:
        if self.try_acquire():
            return
        while self._blocking.semop(self.id, self._take, 1) != 0:
            if ctypes.get_errno() != errno.EINTR:
                _raise("semop")

    def release(self) -> None:
        if self._quick.semop(self.id, self._give, 1) != 0:
            _raise("semop")

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _raise(call: str) -> NoReturn:
    error = ctypes.get_errno()
    raise OSError(error, f"{call}: {os.strerror(error)}")
