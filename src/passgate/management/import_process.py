"""Reading and checking an import file in a process of its own, while this one writes.

A :class:`ChildReader` starts a new interpreter on this module when entered (a fresh
process: no thread, lock or database connection of this one is copied into it, and the
caller's ``__main__`` is not run again, as ``multiprocessing``'s spawn would) and yields
the :class:`~passgate.management.user_imports.Batch` es it sends through a pipe. The child
reads at most :data:`AHEAD` batches ahead of this process (so that it goes on while this
one checks the file's structure), then waits: memory stays bounded whatever the file's
size. A :class:`~passgate.support.json_rows.FileError` or an
``OSError`` in the child is raised here as the same error; a child that stops otherwise is
a :class:`ReaderFailed` (its traceback goes to the standard error). Leaving the ``with``
block ends the child, read to its end or not.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Self

from passgate.errors import PassgateError
from passgate.management.user_imports import BATCH, Batch, prepare
from passgate.support.json_rows import FileError

__all__ = ["ChildReader", "ReaderFailed"]


class ReaderFailed(PassgateError):
    """The process reading the file stopped before its end, without a file error."""


#: How many batches the child keeps ready, pickled (about 300 bytes a user): while this
#: process checks the file's structure, the child reads ahead instead of waiting.
AHEAD = 64


def _read(path: str, upsert: bool, dry_run: bool, batch: int, out: Connection) -> None:
    """The child: every batch of the file, then ``("end", None)``, or why it stopped. A
    thread sends what the reading puts in a queue of :data:`AHEAD` batches."""
    ready: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)

    def put(message: tuple[str, object]) -> None:
        ready.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def send() -> None:
        try:
            while (message := ready.get()) is not None:
                out.send_bytes(message)
        except OSError:  # the parent stopped reading: so does the child
            os._exit(1)

    sender = threading.Thread(target=send, name="passgate-import-sender", daemon=True)
    sender.start()
    try:
        with open(path, "rb") as stream:
            for found in prepare(stream, upsert=upsert, dry_run=dry_run, batch=batch):
                put(("batch", found))
        put(("end", None))
    except FileError as exc:
        put(("file", (exc.problem, exc.row, exc.offset)))
    except OSError as exc:
        put(("os", (exc.errno, exc.strerror, exc.filename)))
    finally:
        ready.put(None)
        sender.join()
        out.close()


class ChildReader:
    """The batches of the file at ``path``, read and checked by a child process."""

    def __init__(self, path: Path, *, upsert: bool, dry_run: bool, batch: int = BATCH) -> None:
        self._arguments = [str(path), str(int(upsert)), str(int(dry_run)), str(batch)]
        self._receiver: Connection | None = None
        self._child: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        readable, writable = os.pipe()
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", __name__, str(writable), *self._arguments],
                pass_fds=(writable,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(readable)
            raise
        finally:
            os.close(writable)  # the child's end: reading sees EOF when the child goes
        self._receiver = Connection(readable, writable=False)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._receiver is not None
        assert self._child is not None
        self._receiver.close()
        if error is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(timeout=10)  # it has sent its end, or is about to stop
        if self._child.poll() is None:
            self._child.terminate()
        self._child.wait()

    def __iter__(self) -> Iterator[Batch]:
        assert self._receiver is not None
        assert self._child is not None
        while True:
            try:
                kind, payload = self._receiver.recv()
            except EOFError:
                status = self._child.wait()
                raise ReaderFailed(
                    f"the process reading the file stopped (exit status {status})"
                ) from None
            if kind == "batch":
                yield payload
            elif kind == "end":
                return
            elif kind == "file":
                problem, row, offset = payload
                raise FileError(problem, row=row, offset=offset)
            else:
                number, text, filename = payload
                raise OSError(number, text, filename)


def _main(arguments: list[str]) -> None:
    fd, path, upsert, dry_run, batch = arguments
    # The rows make no reference cycles; collecting every 700 new objects cost an eighth
    # of the reading. What was imported is moved out of the collector's sight.
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
    out = Connection(int(fd), readable=False)
    _read(path, upsert == "1", dry_run == "1", int(batch), out)


if __name__ == "__main__":
    _main(sys.argv[1:])
