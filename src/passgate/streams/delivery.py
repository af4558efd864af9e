"""Delivering the event log to log streams: at least once, in order, one process a stream.

Every server process runs one :class:`StreamDeliverer` thread. For each active stream it
reads the events past the stream's cursor (kept in the database), keeps those of the
stream's categories, and POSTs them in batches; only when the receiver answers 2xx does
the cursor move past them. So a process killed mid-request, or a receiver that is down
for hours, costs nothing but a repeated batch (receivers dedupe by ``log_id``).

When several processes run (workers, instances), a stream is delivered by the one holding
its lease (a row's owner and expiry, see :mod:`passgate.storage.log_streams`): it renews
the lease while it delivers, every write it makes is fenced by it, and a lease that runs
out (its holder died) is taken over by another process. A request's timeout is well
inside the lease, so a holder's last request has ended before anyone can take over.

A failed request (no connection, a timeout, a status other than 2xx) is retried after a
delay doubling from ``retry_base_s`` up to ``retry_max_s``; a stream that has failed
without a break for ``suspend_after_s`` is ``suspended`` (its cursor kept: resuming it
delivers what it missed, as far as the event log still holds it).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Sequence

import httpx
import sqlalchemy as sa

from passgate.domain.clock import Clock, system_clock
from passgate.domain.log_streams import LogStream, retry_delay, wants
from passgate.settings import Settings
from passgate.storage.db import write_lock
from passgate.storage.log_streams import LogStreams
from passgate.streams.errors import DeliveryFailed
from passgate.streams.payload import StreamItem, bodies, item_of
from passgate.support.background import Background
from passgate.support.key_encryption import KeyEncryptionError, KeyEncryptionKeys

__all__ = ["DeliverySettings", "StreamDeliverer", "new_owner", "stream_delivery"]

logger = logging.getLogger("passgate.streams")


def new_owner() -> str:
    """A name for this process's leases: host, process id and a random tag."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class DeliverySettings:
    """The deliverer's knobs (``PASSGATE_LOG_STREAM_…``); the lease lasts at least three
    request timeouts."""

    def __init__(
        self,
        *,
        batch_size: int = 500,
        poll_s: float = 0.5,
        lease_s: float = 30.0,
        timeout_s: float = 10.0,
        retry_base_s: float = 1.0,
        retry_max_s: float = 300.0,
        suspend_after_s: float = 86400.0,
    ) -> None:
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.lease_s = max(lease_s, 3 * timeout_s)
        self.timeout_s = timeout_s
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.suspend_after_s = suspend_after_s

    @classmethod
    def of(cls, settings: Settings) -> DeliverySettings:
        return cls(
            batch_size=settings.log_stream_batch_size,
            poll_s=settings.log_stream_poll_s,
            lease_s=settings.log_stream_lease_s,
            timeout_s=settings.log_stream_timeout_s,
            retry_max_s=settings.log_stream_retry_max_s,
            suspend_after_s=settings.log_stream_suspend_after_s,
        )


class StreamDeliverer:
    """Delivers every active stream, from one background thread (:meth:`start`), or one
    round at a time (:meth:`run_once`, for tests)."""

    def __init__(
        self,
        store: LogStreams,
        *,
        sealer: KeyEncryptionKeys | None,
        settings: DeliverySettings | None = None,
        clock: Clock = system_clock,
        owner: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self.settings = settings or DeliverySettings()
        self._clock = clock
        self.owner = owner or new_owner()
        self._write_lock = write_lock(store.engine)
        timeout = httpx.Timeout(self.settings.timeout_s)
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._held: dict[str, float] = {}  # stream id -> when our lease runs out
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="passgate-log-streams", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the request in progress, and give up the leases held."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        for stream_id in list(self._held):
            try:
                self._store.release(stream_id, self.owner)
            except Exception:
                logger.warning("could not give up the lease on log stream %s", stream_id)
        self._held.clear()
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                logger.exception("delivering log streams failed")
                busy = False
            if not busy:
                self._stop.wait(self.settings.poll_s)

    # -- one round ------------------------------------------------------------------------

    def run_once(self) -> bool:
        """One batch for each stream due; True when some stream has more waiting."""
        busy = False
        for stream in self._store.deliverable(self._clock()):
            if self._stop.is_set():
                break
            try:
                busy |= self._deliver(stream)
            except Exception:
                logger.exception("delivering log stream %s failed", stream.id)
        return busy

    def _holds(self, stream: LogStream) -> bool:
        """Take or renew the lease when needed; False when another process holds it."""
        now = self._clock()
        lease = stream.delivery
        if lease.lease_owner not in (None, self.owner) and lease.lease_until >= now:
            self._held.pop(stream.id, None)
            return False
        mine = lease.lease_owner == self.owner and self._held.get(stream.id, 0.0) > now
        if mine and self._held[stream.id] - now > self.settings.lease_s / 2:
            return True
        return self._renew(stream.id)

    def _renew(self, stream_id: str) -> bool:
        now = self._clock()
        with self._write_lock:
            held = self._store.claim(stream_id, self.owner, now=now, ttl_s=self.settings.lease_s)
        if held is None:
            self._held.pop(stream_id, None)
            return False
        self._held[stream_id] = now + self.settings.lease_s
        return True

    def _deliver(self, stream: LogStream) -> bool:
        """One batch of ``stream``; True when more events wait."""
        if not self._holds(stream):
            return False
        cursor = stream.delivery.cursor_seq
        rows, end = self._store.events_after(cursor, limit=self.settings.batch_size)
        if end < cursor:  # an emptied SQLite log numbers anew from 1
            with self._write_lock:
                self._store.restart(stream.id, self.owner, from_seq=cursor)
            return True
        if not rows:
            return False
        items = [item_of(row) for row in rows if wants(stream.filters, row.type)]
        if items and not self._send(stream, items, cursor):
            return False
        last = rows[-1]
        with self._write_lock:
            moved = self._store.advance(
                stream.id,
                self.owner,
                from_seq=cursor,
                to_seq=last.seq,
                log_id=last.log_id,
                delivered_at=self._clock() if items else None,
            )
        return moved and len(rows) >= self.settings.batch_size

    def _send(self, stream: LogStream, items: Sequence[StreamItem], cursor: int) -> bool:
        """POST ``items``; True when all went. Else the cursor has moved past those that
        went, and a failed request is recorded."""
        try:
            headers = self._headers(stream)
        except DeliveryFailed as failure:
            self._failed(stream, failure.reason)
            return False
        sent = -1
        for body, last_index in bodies(stream.content_format, items):
            if self._stop.is_set() or not self._holds_still(stream.id):
                break
            try:
                self._post(stream.endpoint, body, headers)
            except DeliveryFailed as failure:
                if sent >= 0:
                    with self._write_lock:
                        self._store.advance(
                            stream.id,
                            self.owner,
                            from_seq=cursor,
                            to_seq=items[sent].seq,
                            log_id=items[sent].log_id,
                            delivered_at=self._clock(),
                        )
                self._failed(stream, failure.reason)
                return False
            sent = last_index
        if sent < len(items) - 1:  # stopped, or the lease was lost: the rest waits
            if sent >= 0:
                with self._write_lock:
                    self._store.advance(
                        stream.id,
                        self.owner,
                        from_seq=cursor,
                        to_seq=items[sent].seq,
                        log_id=items[sent].log_id,
                        delivered_at=self._clock(),
                    )
            return False
        return True

    def _holds_still(self, stream_id: str) -> bool:
        """Before a request: our lease has at least a timeout and a margin left."""
        left = self._held.get(stream_id, 0.0) - self._clock()
        if left > self.settings.timeout_s * 2:
            return True
        return self._renew(stream_id)

    def _headers(self, stream: LogStream) -> dict[str, str]:
        headers = {"content-type": stream.content_type, "user-agent": "passgate-log-stream"}
        if stream.authorization_sealed is not None:
            if self._sealer is None or stream.authorization_kek_id is None:
                raise DeliveryFailed("the authorization header cannot be decrypted: no key")
            try:
                headers["authorization"] = self._sealer.unseal(
                    stream.authorization_sealed,
                    kek_id=stream.authorization_kek_id,
                    kid=stream.id,
                    what="log stream",
                )
            except KeyEncryptionError:
                raise DeliveryFailed(
                    f"the authorization header cannot be decrypted: key-encryption key "
                    f"{stream.authorization_kek_id} is not configured here"
                ) from None
        return headers

    def _post(self, endpoint: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            response = self._http.post(endpoint, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed("the receiver did not answer in time") from None
        except httpx.ConnectError:
            raise DeliveryFailed("could not connect to the receiver") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"the request failed ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"the receiver answered HTTP {response.status_code}")

    def _failed(self, stream: LogStream, reason: str) -> None:
        now = self._clock()
        state = stream.delivery
        failures = state.failures + 1
        since = state.failing_since if state.failing_since is not None else now
        settings = self.settings
        delay = retry_delay(failures, base_s=settings.retry_base_s, cap_s=settings.retry_max_s)
        suspend = settings.suspend_after_s > 0 and now - since >= settings.suspend_after_s
        with self._write_lock:
            self._store.failed(
                stream.id,
                self.owner,
                failures=failures,
                failing_since=since,
                retry_at=now + delay,
                error=reason,
                suspend=suspend,
            )
        if suspend:
            self._held.pop(stream.id, None)
            logger.error(
                "log stream %s suspended: failing for %.0f s (%s); resume it when the "
                "receiver works",
                stream.id,
                now - since,
                reason,
            )
        else:
            logger.warning(
                "log stream %s: delivery failed (%s, %d in a row); next try in %.1f s",
                stream.id,
                reason,
                failures,
                delay,
            )


def stream_delivery(
    settings: Settings, engine: sa.Engine, sealer: KeyEncryptionKeys
) -> list[Background]:
    """What a server process runs to deliver log streams (nothing when
    ``log_stream_delivery`` is off); not started."""
    if not settings.log_stream_delivery:
        return []
    return [
        StreamDeliverer(LogStreams(engine), sealer=sealer, settings=DeliverySettings.of(settings))
    ]
