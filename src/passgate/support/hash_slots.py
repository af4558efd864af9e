"""A bound on password hashes running at once across the worker processes of one server.

``passgate serve --workers N`` runs N processes. Each gives its hashing pool one thread
per core, so that whichever worker the clients' connections land on can use every core;
what keeps the whole server to one argon2 hash per core (the memory and CPU DESIGN.md
budgets) is this: a System V semaphore, created by the serving process before it starts
the workers, taken around every hash. The kernel gives back what a process still holds
when it ends (``SEM_UNDO``), so a worker killed in the middle of a hash (even with
SIGKILL) does not leak its slot.

A ``kill -9`` of the serving process leaves its semaphore behind (the kernel keeps a
System V semaphore until someone removes it), so every start takes back the stale ones
(:func:`reclaim_stale`). Each set says itself whether it is passgate's and whether anyone
still uses it:

- it is passgate's when its key is ``KEY_PREFIX`` plus 16 random bits, it has three
  semaphores, mode 0600, this user as owner and creator, and the third holds ``MARKER``;
- the second counts its users: the creator and every worker add one with ``SEM_UNDO``, so
  the kernel takes each back when that process ends, however it ends. A set whose count is
  zero has nobody left (the kernel counts, so neither a reused pid nor a process in another
  pid namespace can fool it; semaphores do not record their creator's pid anyway).

Reclaiming is one atomic ``semop`` (the count must be zero, and the marker is taken away),
and so is joining (the marker must be there, and the count goes up): a set is never
removed under a process that uses it, nor joined once claimed, and of two starts racing for
one stale set exactly one removes it. A set whose creator died between ``semget`` and its
first ``semop`` carries no marker yet and stays (``ipcrm`` removes it).

Linux only (the semaphore calls go through ``ctypes``); elsewhere, and with one worker,
the hashing pool's own size is the bound.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import NoReturn

__all__ = ["KEY_PREFIX", "MARKER", "HashSlots", "reclaim_stale", "supported"]

#: The key of every set passgate creates: "pg" in the high 16 bits, random bits below.
KEY_PREFIX = 0x7067_0000
_KEY_MASK = 0xFFFF_0000
#: What the third semaphore of a passgate set holds (a semaphore holds at most 32767).
MARKER = 0x7067
_MODE = 0o600
_SLOTS, _HOLDERS, _MARK, _SEMAPHORES = 0, 1, 2, 3
_KEY_ATTEMPTS = 64
_PROC_LIST = Path("/proc/sysvipc/sem")

_IPC_CREAT = 0o1000
_IPC_EXCL = 0o2000
_IPC_NOWAIT = 0o4000
_IPC_RMID = 0
_GETVAL = 12
_GETALL = 13
_SEM_UNDO = 0x1000


class _SemBuf(ctypes.Structure):
    _fields_ = (
        ("sem_num", ctypes.c_ushort),
        ("sem_op", ctypes.c_short),
        ("sem_flg", ctypes.c_short),
    )


def _ops(*ops: tuple[int, int, int]) -> ctypes.Array[_SemBuf]:
    return (_SemBuf * len(ops))(*(_SemBuf(*op) for op in ops))


#: The marker must be there (it is put back at once), and this process becomes a user.
_JOIN = _ops((_MARK, -MARKER, _IPC_NOWAIT), (_MARK, MARKER, 0), (_HOLDERS, 1, _SEM_UNDO))
#: Nobody may use the set, and the marker goes (it comes back if this process dies before
#: removing the set, so that a later start can try again).
_CLAIM = _ops((_HOLDERS, 0, _IPC_NOWAIT), (_MARK, -MARKER, _IPC_NOWAIT | _SEM_UNDO))


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
        """Use the set ``semaphore_id`` (a worker): it stays while this process lives."""
        self._bind(semaphore_id)
        self.available()  # fails now, not at the first login, if the id is wrong
        if self._quick.semop(self.id, _JOIN, len(_JOIN)) != 0:
            error = ctypes.get_errno()
            if error in (errno.EAGAIN, errno.EFBIG):  # no marker, or too few semaphores
                raise OSError(
                    errno.EINVAL, f"semaphore {semaphore_id} is not passgate's hash slots"
                )
            _raise("semop")

    def _bind(self, semaphore_id: int) -> None:
        if not supported():
            raise OSError(errno.ENOSYS, "hash slots need Linux System V semaphores")
        self.id = semaphore_id
        self._blocking = _libc(release_gil=True)
        self._quick = _libc(release_gil=False)
        self._take = _ops((_SLOTS, -1, _SEM_UNDO))
        self._try_take = _ops((_SLOTS, -1, _SEM_UNDO | _IPC_NOWAIT))
        self._give = _ops((_SLOTS, 1, _SEM_UNDO))

    @classmethod
    def create(cls, slots: int) -> HashSlots:
        """A new set (readable and writable by this user only) with ``slots``, used by
        this process until it removes it or ends."""
        if not supported():
            raise OSError(errno.ENOSYS, "hash slots need Linux System V semaphores")
        libc = _libc(release_gil=False)
        semaphore_id = _new_set(libc)
        # The slots, the marker and the creator's use at once: while the creator lives,
        # no start ever sees a marked set that nobody uses.
        start = _ops((_SLOTS, slots, 0), (_MARK, MARKER, 0), (_HOLDERS, 1, _SEM_UNDO))
        if libc.semop(semaphore_id, start, len(start)) != 0:
            error = ctypes.get_errno()
            libc.semctl(semaphore_id, 0, _IPC_RMID)
            raise OSError(error, f"semop: {os.strerror(error)}")
        created = cls.__new__(cls)
        created._bind(semaphore_id)
        return created

    def remove(self) -> None:
        """Delete the semaphore (the serving process, once its workers have stopped)."""
        if self._quick.semctl(self.id, 0, _IPC_RMID) < 0:
            _raise("semctl(IPC_RMID)")

    def available(self) -> int:
        value: int = self._quick.semctl(self.id, 0, _GETVAL)
        if value < 0:
            _raise("semctl(GETVAL)")
        return value

    def holders(self) -> int:
        """How many live processes use the set (its creator and the workers)."""
        value: int = self._quick.semctl(self.id, _HOLDERS, _GETVAL)
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


def reclaim_stale() -> list[int]:
    """Remove this user's passgate sets that no live process uses; their ids.

    Never touches a set that is not passgate's (see the module's docstring), another
    user's, or one that any process still uses.
    """
    if not supported():
        return []
    libc = _libc(release_gil=False)
    removed = []
    for semaphore_id in _passgate_sets():
        values = (ctypes.c_ushort * _SEMAPHORES)()
        if libc.semctl(semaphore_id, 0, _GETALL, values) < 0:
            continue  # removed meanwhile
        if values[_MARK] != MARKER or values[_HOLDERS] != 0:
            continue
        if libc.semop(semaphore_id, _CLAIM, len(_CLAIM)) != 0:
            continue  # used or claimed meanwhile
        if libc.semctl(semaphore_id, 0, _IPC_RMID) == 0:
            removed.append(semaphore_id)
    return removed


def _passgate_sets() -> Iterator[int]:
    """The ids of this user's sets that have a passgate key, three semaphores and mode 0600."""
    try:
        lines = _PROC_LIST.read_text().splitlines()[1:]
    except OSError:
        return
    user = os.geteuid()
    for line in lines:
        fields = line.split()
        try:
            key, semaphore_id, owner, creator = (int(fields[i]) for i in (0, 1, 4, 6))
            perms, semaphores = int(fields[2], 8), int(fields[3])
        except (ValueError, IndexError):
            continue
        if (
            key & 0xFFFF_FFFF & _KEY_MASK == KEY_PREFIX
            and semaphores == _SEMAPHORES
            and perms & 0o777 == _MODE
            and owner == creator == user
        ):
            yield semaphore_id


def _new_set(libc: ctypes.CDLL) -> int:
    """A new set of three semaphores (all zero) under a free passgate key."""
    for _ in range(_KEY_ATTEMPTS):
        key = KEY_PREFIX | secrets.randbits(16)
        semaphore_id: int = libc.semget(key, _SEMAPHORES, _IPC_CREAT | _IPC_EXCL | _MODE)
        if semaphore_id >= 0:
            return semaphore_id
        if ctypes.get_errno() != errno.EEXIST:
            _raise("semget")
    raise OSError(errno.EEXIST, "semget: no free passgate key; remove stale sets (ipcrm)")


def _raise(call: str) -> NoReturn:
    error = ctypes.get_errno()
    raise OSError(error, f"{call}: {os.strerror(error)}")
