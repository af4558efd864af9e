"""Every block in force, for the console's Blocks page: accounts blocked by brute-force
protection and IPs throttled by suspicious IP throttling, each with when it began, and
releasing one block exactly.

Account blocks are the counters' own list (``UserBlocks``); when one began is the time of
its ``limit_wc`` event. The counters keep no list of throttled IPs, so the candidates are
the IPs of recent ``limit_mu`` events, each checked against its buckets now
(``IpBlocks.status``): an IP whose bucket has refilled, or that was unblocked, is not
listed. Every method is blocking.
"""

from __future__ import annotations

import dataclasses

from passgate.domain.client_ip import ip_text
from passgate.domain.clock import Clock
from passgate.domain.events import Event
from passgate.domain.log_query import DateSpan, Term, all_of
from passgate.management.ip_blocks import IpBlocks, IpStatus
from passgate.management.logs import LogService
from passgate.management.user_blocks import UserBlocks
from passgate.protection.unblock import ReleasedBy
from passgate.storage.counters import BlockRecord

__all__ = ["AccountBlock", "BlockLists", "ThrottledIp"]

#: How far back ``limit_mu`` events name candidate IPs (a pre-login bucket refills at
#: most in 2500 x 86400 s; in practice within days).
THROTTLE_LOOKBACK_S = 30 * 24 * 3600.0
#: At most this many ``limit_mu`` events are read, and IPs listed.
MAX_THROTTLE_EVENTS = 2000
MAX_LISTED = 500


@dataclasses.dataclass(frozen=True, slots=True)
class AccountBlock:
    record: BlockRecord
    #: When the block began (its ``limit_wc`` event), None when no event is kept.
    since: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class ThrottledIp:
    status: IpStatus
    #: The newest ``limit_mu`` event of the IP.
    since: float


def _matches(record: BlockRecord, text: str, address: str | None) -> bool:
    if address is not None:
        return record.ip == address
    folded = text.casefold()
    return folded in record.identifier.casefold() or record.user_id == text


class BlockLists:
    def __init__(
        self, *, user_blocks: UserBlocks, ip_blocks: IpBlocks, logs: LogService, clock: Clock
    ) -> None:
        self._user_blocks = user_blocks
        self._ip_blocks = ip_blocks
        self._logs = logs
        self._clock = clock

    def _began(self, record: BlockRecord) -> float | None:
        where = all_of(
            Term("type", "limit_wc"),
            Term("user_name", record.identifier),
            Term("ip", record.ip) if record.ip is not None else None,
        )
        found = self._logs.newest(where, 1)
        return found[0].date if found else None

    def accounts(self, search: str = "") -> list[AccountBlock]:
        """The blocks in force (of accounts whose identifier holds ``search``, or whose
        IP it is), the most recent failure first."""
        records = self._user_blocks.every_block()
        text = search.strip()
        if text:
            address = ip_text(text)
            named = {
                (record.subject, record.ip, record.connection)
                for record in (self._user_blocks.of_identifier(text) if address is None else [])
            }
            records = [
                record
                for record in records
                if _matches(record, text, address)
                or (record.subject, record.ip, record.connection) in named
            ]
        records.sort(key=lambda record: record.last_failure, reverse=True)
        return [AccountBlock(record, self._began(record)) for record in records[:MAX_LISTED]]

    def throttled_ips(self, search: str = "") -> list[ThrottledIp]:
        """The IPs throttled now (only ``search``'s when it is an IP), newest first."""
        since = self._clock() - THROTTLE_LOOKBACK_S
        address = ip_text(search.strip()) if search.strip() else None
        if search.strip() and address is None:
            return []  # an identifier names no IP
        where = all_of(
            Term("type", "limit_mu"),
            Term("ip", address) if address is not None else None,
            DateSpan(int(since * 1000), None),
        )
        newest: dict[str, Event] = {}
        for event in self._logs.newest(where, MAX_THROTTLE_EVENTS):
            if event.ip and event.ip not in newest:
                newest[event.ip] = event
        found: list[ThrottledIp] = []
        for ip, event in list(newest.items())[:MAX_LISTED]:
            status = self._ip_blocks.status(ip)
            if status.throttled_stages:
                found.append(ThrottledIp(status, event.date))
        return found

    def release(
        self, subject: str, ip: str | None, connection: str, by: ReleasedBy
    ) -> BlockRecord | None:
        """Release the one block of ``subject`` at ``ip`` in ``connection`` (logs
        ``ublkdu``); None when no such block is in force."""
        return self._user_blocks.release_block(subject, ip, connection, by)
