"""The machine-wide bound on password hashes of a multi-worker server (System V semaphore)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from passgate.support.hash_slots import HashSlots, supported
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
        "import sys; from passgate.hash_slots import HashSlots; "
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
        "import time; from passgate.hash_slots import HashSlots; "
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
