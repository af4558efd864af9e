"""The machine-wide bound on password hashes of a multi-worker server (System V semaphore)."""

from __future__ import annotations

import ctypes
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from passgate.support.hash_slots import KEY_PREFIX, MARKER, HashSlots, reclaim_stale, supported
from passgate.support.passwords import PasswordHasher

pytestmark = pytest.mark.skipif(not supported(), reason="System V semaphores: Linux only")


def live_semaphore_ids() -> set[int]:
    lines = Path("/proc/sysvipc/sem").read_text().splitlines()[1:]
    return {int(line.split()[1]) for line in lines}


@pytest.fixture
def slots() -> Iterator[HashSlots]:
    created = HashSlots.create(2)
    try:
        yield created
    finally:
        created.remove()


def test_at_most_the_given_number_are_held(slots: HashSlots) -> None:
    assert slots.available() == 2
    assert slots.try_acquire()
    assert slots.try_acquire()
    assert not slots.try_acquire()
    assert slots.available() == 0
    slots.release()
    assert slots.try_acquire()
    slots.release()
    slots.release()
    assert slots.available() == 2


def test_a_waiting_thread_gets_the_slot_when_it_is_given_back(slots: HashSlots) -> None:
    slots.acquire()
    slots.acquire()
    got = threading.Event()

    def wait_for_slot() -> None:
        slots.acquire()
        got.set()
        slots.release()

    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    assert not got.wait(0.3)  # both slots are held
    slots.release()
    assert got.wait(5)
    waiter.join(5)
    slots.release()
    assert slots.available() == 2


def test_another_process_shares_the_bound_by_id(slots: HashSlots) -> None:
    code = (
        "import sys; from passgate.support.hash_slots import HashSlots; "
        f"s = HashSlots({slots.id}); s.acquire(); s.acquire(); "
        "print(s.available(), flush=True); sys.stdin.readline(); s.release(); s.release()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().strip() == "0"
        assert not slots.try_acquire()  # the other process holds both
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(10) == 0
        assert slots.available() == 2
    finally:
        child.kill()


def test_a_process_killed_while_hashing_does_not_keep_its_slot(slots: HashSlots) -> None:
    code = (
        "import time; from passgate.support.hash_slots import HashSlots; "
        f"s = HashSlots({slots.id}); s.acquire(); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert slots.available() == 1
        child.kill()  # SIGKILL: no cleanup in the process, the kernel undoes its hold
        child.wait(10)
        deadline = time.monotonic() + 5
        while slots.available() != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slots.available() == 2
    finally:
        child.kill()


def test_a_wrong_id_is_refused_at_once() -> None:
    doomed = HashSlots.create(1)
    doomed.remove()
    with pytest.raises(OSError, match="semctl"):
        HashSlots(doomed.id)
    assert doomed.id not in live_semaphore_ids()


def test_the_hasher_holds_a_slot_for_each_hash_and_only_then(slots: HashSlots) -> None:
    held_during: list[int] = []

    class Watching:
        def __enter__(self) -> None:
            slots.acquire()
            held_during.append(slots.available())

        def __exit__(self, *exc: object) -> None:
            slots.release()

    hasher = PasswordHasher(memory_kib=64, time_cost=1, slots=Watching())
    held_during.clear()  # the decoy hash made at construction
    stored = hasher.hash("pw")
    assert hasher.verify(stored, "pw")
    assert not hasher.verify(stored, "other")
    assert not hasher.verify(None, "pw")  # the decoy verify takes a slot too
    assert held_during == [1, 1, 1, 1]
    assert slots.available() == 2


def test_the_hasher_gives_the_slot_back_when_the_hash_fails(slots: HashSlots) -> None:
    hasher = PasswordHasher(memory_kib=64, time_cost=1, slots=slots)
    assert not hasher.verify("$argon2id$not-a-hash", "pw")
    with pytest.raises(AttributeError):
        hasher.hash(None)  # type: ignore[arg-type]
    assert slots.available() == 2


# -- sets left by killed servers -------------------------------------------------------

_LIBC = ctypes.CDLL(None, use_errno=True)
_GETALL, _SETALL, _IPC_RMID = 13, 17, 0


def listed(semaphore_id: int) -> dict[str, int]:
    """The kernel's line for a set: key, perms (octal), nsems, uid, cuid."""
    for line in Path("/proc/sysvipc/sem").read_text().splitlines()[1:]:
        key, found, perms, nsems, uid, _gid, cuid, *_ = line.split()
        if int(found) == semaphore_id:
            return {
                "key": int(key) & 0xFFFF_FFFF,
                "perms": int(perms, 8),
                "nsems": int(nsems),
                "uid": int(uid),
                "cuid": int(cuid),
            }
    raise LookupError(semaphore_id)


def values(semaphore_id: int, count: int = 3) -> list[int]:
    """The semaphores' values, read without using the set."""
    read = (ctypes.c_ushort * count)()
    assert _LIBC.semctl(semaphore_id, 0, _GETALL, read) == 0, os.strerror(ctypes.get_errno())
    return list(read)


def raw_set(key: int, initial: list[int], mode: int = 0o600) -> int:
    """A set made by hand (as another program, or a dying passgate, would leave one)."""
    semaphore_id: int = _LIBC.semget(key, len(initial), 0o1000 | 0o2000 | mode)
    assert semaphore_id >= 0, os.strerror(ctypes.get_errno())
    given = (ctypes.c_ushort * len(initial))(*initial)
    assert _LIBC.semctl(semaphore_id, 0, _SETALL, given) == 0
    return semaphore_id


def free_key(prefix: int = KEY_PREFIX) -> int:
    while True:
        key = prefix | secrets.randbits(16)
        if _LIBC.semget(key, 0, 0) < 0:  # not taken
            return key


def holder(statement: str) -> subprocess.Popen[str]:
    """A process that runs ``statement`` (which prints one line), then waits to be killed."""
    code = (
        "import time; from passgate.support.hash_slots import HashSlots; "
        f"{statement}; time.sleep(120)"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def first_line(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.readline().strip()


def sigkill(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.wait(10)


def test_a_created_set_says_it_is_passgates_and_who_uses_it(slots: HashSlots) -> None:
    line = listed(slots.id)
    assert line["key"] & 0xFFFF_0000 == KEY_PREFIX
    assert (line["perms"], line["nsems"]) == (0o600, 3)
    assert line["uid"] == line["cuid"] == os.geteuid()
    assert values(slots.id) == [2, 1, MARKER]  # slots, users (this process), marker
    assert slots.holders() == 1
    HashSlots(slots.id)  # a worker joins
    assert slots.holders() == 2


def test_a_set_whose_users_were_all_killed_is_reclaimed_and_no_sooner() -> None:
    creator = holder("s = HashSlots.create(2); print(s.id, flush=True)")
    try:
        semaphore_id = int(first_line(creator))
        worker = holder(f"s = HashSlots({semaphore_id}); s.acquire(); print('in', flush=True)")
        try:
            assert first_line(worker) == "in"
            assert values(semaphore_id) == [1, 2, MARKER]
            assert semaphore_id not in reclaim_stale()
            sigkill(creator)
            assert values(semaphore_id) == [1, 1, MARKER]  # the kernel took its use back
            assert semaphore_id not in reclaim_stale()  # a worker of it still runs
            assert semaphore_id in live_semaphore_ids()
        finally:
            sigkill(worker)
        assert values(semaphore_id) == [2, 0, MARKER]
        assert semaphore_id in reclaim_stale()
        assert semaphore_id not in live_semaphore_ids()
    finally:
        sigkill(creator)


def test_a_set_this_process_uses_is_never_reclaimed(slots: HashSlots) -> None:
    assert slots.id not in reclaim_stale()
    assert values(slots.id) == [2, 1, MARKER]


RACER = """
import sys
from passgate.support.hash_slots import reclaim_stale
sys.stdin.readline()
print(int(sys.argv[1]) in reclaim_stale(), flush=True)
"""


def test_starts_racing_for_one_stale_set_remove_it_once() -> None:
    creator = holder("s = HashSlots.create(2); print(s.id, flush=True)")
    semaphore_id = int(first_line(creator))
    sigkill(creator)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(semaphore_id)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    answers = [racer.communicate("go\n", timeout=30)[0].strip() for racer in racers]
    assert sorted(answers) == ["False", "False", "False", "True"]
    assert semaphore_id not in live_semaphore_ids()


@pytest.mark.parametrize(
    ("shape", "prefix", "initial", "mode", "join_refused"),
    [
        ("a private key", 0, [2, 0, MARKER], 0o600, False),
        ("another key", 0x7068_0000, [2, 0, MARKER], 0o600, False),
        ("one semaphore", KEY_PREFIX, [2], 0o600, True),
        ("four semaphores", KEY_PREFIX, [2, 0, MARKER, 0], 0o600, False),
        (
            "no marker yet (its creator died before the first semop)",
            KEY_PREFIX,
            [0, 0, 0],
            0o600,
            True,
        ),
        ("another marker", KEY_PREFIX, [2, 0, MARKER - 1], 0o600, True),
        ("a greater marker", KEY_PREFIX, [2, 0, MARKER + 1], 0o600, False),
        ("another mode", KEY_PREFIX, [2, 0, MARKER], 0o660, False),
    ],
)
def test_a_set_that_is_not_passgates_is_never_reclaimed(
    shape: str, prefix: int, initial: list[int], mode: int, join_refused: bool
) -> None:
    semaphore_id = raw_set(free_key(prefix) if prefix else 0, initial, mode)
    try:
        assert semaphore_id not in reclaim_stale(), shape
        assert values(semaphore_id, len(initial)) == initial
        if join_refused:
            with pytest.raises(OSError, match="not passgate's hash slots"):
                HashSlots(semaphore_id)
    finally:
        _LIBC.semctl(semaphore_id, 0, _IPC_RMID)
