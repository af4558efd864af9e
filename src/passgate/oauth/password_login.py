"""One password login, from the reserved attempt to the signed tokens.

The token service validates the request and hands the rest here. A login's database
work runs in the hashing thread beside its password check (DESIGN: no thread hop per
query):

    find      look the user up (protection counts against the account)
    admit     reserve the attempt, or refuse before any hashing
    verify    argon2id (an unknown user is checked against a decoy hash)
    record    count the failure, or reset the count and take a login-rate token
    refuse    blocked users, leaked and breached passwords

While the password is verified, a signing thread signs the tokens (signing releases the
GIL), so a success has them ready when its verification ends. Tokens of a login that is
then refused are dropped unread; an unknown identifier signs for a decoy user, so every
login does the same work whether or not its user exists.

A success is answered first: the hashing thread hands its outcome to the event loop, then
writes the success's records (count reset, login-rate token) before it takes the next
login. Another thread would cost a hand-over and a wake-up per login, and one more thread
waiting for the GIL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from passgate.domain.identifiers import canonical_identifier, counter_subject
from passgate.domain.login import LoginAttempt, LoginGuard, RequestContext
from passgate.domain.models import Connection, User
from passgate.errors import (
    InvalidGrant,
    OAuthError,
    PasswordLeaked,
    Unauthorized,
)
from passgate.oauth.minting import TokenSet
from passgate.storage.directory import Directory
from passgate.support.background import Job, Worker
from passgate.support.io_pool import run_in_pool
from passgate.support.passwords import PasswordHasher

__all__ = ["BreachedGate", "LoginOutcome", "PasswordLogins"]

logger = logging.getLogger("passgate.token")

#: Whom an unknown identifier's login signs its (dropped) tokens for.
_DECOY_USER = User(
    id="auth0|decoy",
    connection_id="decoy",
    connection="decoy",
    email="decoy@invalid",
    username=None,
    email_verified=False,
    name=None,
    blocked=False,
    password_leaked=False,
    password_changed_at=0.0,
    created_at=0.0,
    updated_at=0.0,
)


class BreachedGate:
    """Checks a just-verified password against breached corpora (issue #4 plugs in here)."""

    def check_login(self, user: User, password: str, context: RequestContext) -> None:
        """Raise :class:`PasswordLeaked` for a breached password."""


class LoginOutcome(NamedTuple):
    #: The user whose password matched (also when the login is then refused).
    user: User | None
    refusal: OAuthError | None
    tokens: TokenSet | None


class _Recorded(NamedTuple):
    """What the hashing thread hands back."""

    user: User | None
    refusal: OAuthError | None
    minted: Job[TokenSet] | None
    #: A success's count reset and login-rate token, written once it is answered.
    settle: _Record | None


class _Record:
    """One success's pending record; runs once, whoever calls it first."""

    def __init__(self, pending: _Pending, key: str, write: Callable[[], None]) -> None:
        self._pending = pending
        self.key = key
        self._write: Callable[[], None] | None = write
        self.done = threading.Event()

    def __call__(self) -> None:
        with self._pending.lock:
            write, self._write = self._write, None
        if write is None:
            return
        try:
            write()
        except Exception:
            logger.exception("recording a successful login failed")
        finally:
            self._pending.remove(self)
            self.done.set()


def _pending_key(attempt: LoginAttempt) -> str:
    """Whose records a login waits for: its account's (or its unknown identifier's)."""
    return counter_subject(
        attempt.connection,
        user_id=attempt.user_id,
        identifier=canonical_identifier(attempt.identifier),
    )


class _Pending:
    """Successes of this process whose records are not written yet, by account.

    A success is answered first and recorded right after, by its hashing thread. A later
    login of the same account waits here before it is admitted, so it always sees the
    reset count and the taken login-rate token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._records: dict[str, list[_Record]] = {}

    def add(self, key: str, write: Callable[[], None]) -> _Record:
        record = _Record(self, key, write)
        with self.lock:
            self._records.setdefault(record.key, []).append(record)
        return record

    def remove(self, record: _Record) -> None:
        with self.lock:
            records = self._records[record.key]
            records.remove(record)
            if not records:
                del self._records[record.key]

    def wait(self, key: str) -> None:
        with self.lock:
            records = list(self._records.get(key, ()))
        for record in records:
            record.done.wait()

    def flush(self) -> None:
        """Write every pending record now (in this thread when not started yet)."""
        with self.lock:
            records = [record for group in self._records.values() for record in group]
        for record in records:
            record()
            record.done.wait()


class PasswordLogins:
    def __init__(
        self,
        *,
        directory: Directory,
        hasher: PasswordHasher,
        guard: LoginGuard,
        breached: BreachedGate,
        hash_pool: ThreadPoolExecutor,
        io_pool: ThreadPoolExecutor,
    ) -> None:
        self._directory = directory
        self._hasher = hasher
        self.guard = guard
        self.breached = breached
        self._hash_pool = hash_pool
        self._io_pool = io_pool
        self._pending = _Pending()
        # Handing a call to this thread costs a queue put, not an executor submit.
        self._signer = Worker("passgate-sign")

    def close(self) -> None:
        """Record every success answered so far and stop the signing thread (after the
        hashing pool has stopped)."""
        self._pending.flush()
        self._signer.close()

    async def login(
        self,
        attempt: LoginAttempt,
        connection: Connection,
        password: str,
        mint: Callable[[User], TokenSet],
        timings: dict[str, float],
    ) -> LoginOutcome:
        """Run the login; ``timings`` receives its stages in milliseconds."""
        seconds = {"queue": time.perf_counter()}
        answer: Future[_Recorded] = Future()
        # A request that goes away before its login starts cancels it; once started, the
        # login runs to its end and is recorded whether or not anyone waits for it.
        run = functools.partial(self._in_thread, attempt, connection, password, mint, seconds)
        self._hash_pool.submit(self._answer_then_record, answer, run)
        try:
            recorded: _Recorded = await asyncio.wrap_future(answer)
        finally:
            # A copy: a cancelled request gets here while its thread may still add stages.
            timings.update((name, value * 1000) for name, value in seconds.copy().items())
        user, refusal, minted, _ = recorded
        resumed = time.perf_counter()
        timings["resume"] = (resumed - seconds["resume"]) * 1000
        if minted is None:
            return LoginOutcome(user, refusal, None)
        if not minted.done():  # rare: signing takes far less than a verification
            await run_in_pool(self._io_pool, minted.wait)
        tokens = minted.result()
        timings["sign"] = (time.perf_counter() - resumed) * 1000
        return LoginOutcome(user, None, tokens)

    @staticmethod
    def _answer_then_record(answer: Future[_Recorded], run: Callable[[], _Recorded]) -> None:
        if not answer.set_running_or_notify_cancel():
            return  # the request went away before its login started
        try:
            recorded = run()
        except BaseException as exc:
            answer.set_exception(exc)
            return
        answer.set_result(recorded)
        if recorded.settle is not None:
            recorded.settle()

    def _in_thread(
        self,
        attempt: LoginAttempt,
        connection: Connection,
        password: str,
        mint: Callable[[User], TokenSet],
        seconds: dict[str, float],
    ) -> _Recorded:
        mark = time.perf_counter()
        seconds["queue"] = mark - seconds["queue"]
        # Looked up first: protection counts against the account, whichever of its
        # identifiers (and spellings) names it. An unknown identifier costs the same read.
        found = self._directory.find_for_login(connection.id, attempt.identifier)
        if found is not None:
            attempt = dataclasses.replace(attempt, user_id=found[0].id, user_email=found[0].email)
        pending_key = _pending_key(attempt)
        self._pending.wait(pending_key)
        ticket = self.guard.admit(attempt)
        try:
            # Signed whatever the verification says (dropped unless it succeeds).
            minted = self._signer.submit(
                functools.partial(mint, found[0] if found else _DECOY_USER)
            )
            seconds["admit"] = (started := time.perf_counter()) - mark
            verified = self._hasher.verify(found[1] if found else None, password)
            seconds["verify"] = (mark := time.perf_counter()) - started
        except BaseException:
            self.guard.abandon(ticket)
            raise
        try:
            if not verified or found is None:
                self.guard.failed(ticket, user_id=None)
                return _Recorded(None, InvalidGrant(), None, None)
            user, stored = found
            if self._hasher.needs_rehash(stored):
                self._directory.replace_hash(user.id, stored, self._hasher.hash(password))
            try:
                if user.blocked:
                    raise Unauthorized()
                if user.password_leaked:
                    raise PasswordLeaked()
                self.breached.check_login(user, password, attempt.context)
            except OAuthError as exc:
                self.guard.succeeded(ticket, user_id=user.id)  # the password was right
                return _Recorded(user, exc, None, None)
            settle = self._pending.add(
                pending_key, functools.partial(self.guard.succeeded, ticket, user_id=user.id)
            )
            return _Recorded(user, None, minted, settle)
        finally:
            ended = seconds["resume"] = time.perf_counter()
            seconds["record"] = ended - mark
