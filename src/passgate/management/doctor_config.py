"""``passgate doctor``'s checks of the configuration: settings, storage, mail, the breached
corpus, signing keys, the issuer and the allowlists. Each check is a small function of
a :class:`Deployment` answering findings (see :mod:`passgate.domain.doctor`).

Several instances: passgate keeps no list of its processes. What the doctor can see is the
event log: each process stamps its events' ``log_id`` with a tag of its own (drawn at
start, and again in each forked worker), so tags whose password exchanges overlap in time
for at least :data:`OVERLAP_S` are processes serving at once: the workers of one
``passgate serve --workers N`` or separate instances, which the log cannot tell apart. A
restart (one process after another) does not count.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from passgate.breached.errors import BreachedError
from passgate.breached.index import BreachedIndex
from passgate.domain.doctor import Finding
from passgate.domain.events import Event
from passgate.domain.models import SigningKey
from passgate.settings import Settings
from passgate.storage.settings_store import Policies

__all__ = [
    "NETWORK_FILESYSTEMS",
    "OVERLAP_S",
    "STALE_CORPUS_DAYS",
    "Deployment",
    "concurrent_processes",
    "config_findings",
    "filesystem_of",
]

#: Filesystem types whose locking SQLite cannot rely on (``/proc/mounts``' third field).
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs",
        "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "lustre", "gpfs",
        "beegfs", "ocfs2", "gfs2", "davfs", "fuse.cephfs",
    }
)  # fmt: skip
#: How long two processes' events must overlap for them to count as serving at once.
OVERLAP_S = 60.0
#: A breached-password index older than this is stale (Pwned Passwords grows every month).
STALE_CORPUS_DAYS = 365
#: Allowlist entries wider than these exempt whole networks of other people.
WIDEST_IPV4_PREFIX = 16
WIDEST_IPV6_PREFIX = 48
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_DAY = 86400.0


@dataclasses.dataclass(frozen=True, slots=True)
class Deployment:
    """What the configuration checks look at."""

    settings: Settings
    now: float
    issuer: str | None
    signing_keys: Sequence[SigningKey]
    policies: Policies
    #: Recent password exchanges (for which processes served them).
    logins: Sequence[Event]
    #: Recent token requests whose X-Forwarded-For was ignored.
    proxied: Sequence[Event]
    mounts: Path


def _process_tag(log_id: str) -> str | None:
    """The tag of the process that wrote an event (``domain.events.new_log_id``)."""
    if len(log_id) == 35 and log_id[:17].isdigit():
        return log_id[17:27]
    return None


def concurrent_processes(events: Iterable[Event]) -> int:
    """How many processes wrote ``events`` at once, at most (see the module's docstring)."""
    spans: dict[str, tuple[float, float]] = {}
    for event in events:
        tag = _process_tag(event.log_id)
        if tag is None:
            continue
        first, last = spans.get(tag, (event.date, event.date))
        spans[tag] = (min(first, event.date), max(last, event.date))
    most = 1 if spans else 0
    for first, last in spans.values():
        together = sum(
            1 for other in spans.values() if min(last, other[1]) - max(first, other[0]) >= OVERLAP_S
        )
        most = max(most, together)
    return most


def filesystem_of(path: Path, mounts: Path) -> str | None:
    """The type of the filesystem ``path`` is on, from the mount table (None if unknown)."""
    try:
        table = mounts.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = str(path.resolve())
    best, kind = "", None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def _sqlite_directory(settings: Settings) -> Path | None:
    if not settings.uses_sqlite:
        return None
    database = sa.engine.make_url(settings.sql_url).database
    return Path(database).parent if database else settings.data_dir


def _sqlite_on_network(d: Deployment) -> list[Finding]:
    directory = _sqlite_directory(d.settings)
    if directory is None:
        return []
    kind = filesystem_of(directory, d.mounts)
    if kind is None or kind not in NETWORK_FILESYSTEMS:
        return []
    processes = concurrent_processes(d.logins)
    where = f"the SQLite database in {directory} is on a network filesystem ({kind})"
    fix = (
        "Give the instances one PostgreSQL database (PASSGATE_DATABASE_URL) and Redis "
        "(PASSGATE_REDIS_URL), or keep SQLite on a local disk with a single instance."
    )
    if processes > 1:
        return [
            Finding(
                code="sqlite_on_network_filesystem",
                severity="error",
                message=f"{where} and {processes} passgate processes served logins at the "
                "same time: SQLite's file locking does not hold across machines over a "
                "network filesystem, so the database can be corrupted and attempt counts lost.",
                fix=fix,
            )
        ]
    return [
        Finding(
            code="sqlite_on_network_filesystem",
            severity="info",
            message=f"{where}; the recent events show one passgate process at a time, which "
            "SQLite tolerates. Several instances on this directory would corrupt it.",
            fix=fix,
        )
    ]


def _proxies_unset(d: Deployment) -> list[Finding]:
    if d.settings.trusted_proxies or not d.proxied:
        return []
    ips = sorted({e.client_ip for e in d.proxied if e.client_ip})
    shown = ", ".join(ips[:5]) + (" …" if len(ips) > 5 else "")
    return [
        Finding(
            code="trusted_proxies_unset",
            severity="warning",
            message=f"{len(d.proxied)} recent token request(s) carried X-Forwarded-For, from "
            f"{shown}, but PASSGATE_TRUSTED_PROXIES is not set: passgate takes that address "
            "as the connecting IP (client_ip) and ignores the header.",
            fix="If a reverse proxy or load balancer of yours stands in front of passgate, "
            "list its addresses in PASSGATE_TRUSTED_PROXIES (e.g. 10.0.0.0/8) on every "
            "instance; if not, whoever sends that header is not yours to believe.",
        )
    ]


def _redis_fallback(d: Deployment) -> list[Finding]:
    settings = d.settings
    if settings.redis_url is None or settings.redis_unavailable != "fallback":
        return []
    processes = concurrent_processes(d.logins)
    if processes < 2:
        return []
    return [
        Finding(
            code="redis_fallback_multi_instance",
            severity="warning",
            message=f"PASSGATE_REDIS_UNAVAILABLE=fallback while {processes} passgate "
            "processes served logins at once: when some of them lose Redis and others do "
            "not, attempts are counted in two places (Redis and SQL), and an attacker gets "
            "each place's full allowance.",
            fix="Set PASSGATE_REDIS_UNAVAILABLE=refuse (the default) on every instance, and "
            "make Redis highly available.",
        )
    ]


def _smtp_unset(d: Deployment) -> list[Finding]:
    if d.settings.smtp_url is not None:
        return []
    return [
        Finding(
            code="smtp_unset",
            severity="warning",
            message=f"PASSGATE_SMTP_URL is not set: unblock links, password resets and "
            f"administrator alerts are only written to {d.settings.outbox_dir}, and "
            "nobody receives them.",
            fix="Set PASSGATE_SMTP_URL (smtp://USER:PASSWORD@HOST:587?starttls=true) and "
            "PASSGATE_MAIL_FROM on every instance.",
        )
    ]


def _breached_corpus(d: Deployment) -> list[Finding]:
    settings = d.settings
    if not d.policies.breached_password.enabled:
        return []
    path = settings.breached_index_path
    import_fix = (
        "Download the Pwned Passwords corpus and run `passgate breached import FILE` "
        f"(it writes {path}); servers pick a new index up within seconds."
    )
    if not path.exists():
        if settings.breached_range_url:
            return []  # the upstream range API answers instead
        return [
            Finding(
                code="breached_corpus_missing",
                severity="warning",
                message=f"Breached password detection is on, but there is no breached-"
                f"password index at {path} and no upstream range API: no password is "
                "found breached (except Auth0's AUTH0-TEST- test prefix).",
                fix=import_fix,
            )
        ]
    try:
        with BreachedIndex.open(path) as index:
            created = float(index.header.created)
    except (BreachedError, OSError) as exc:
        return [
            Finding(
                code="breached_corpus_unreadable",
                severity="error",
                message=f"The breached-password index {path} cannot be read: {exc}",
                fix=import_fix,
            )
        ]
    age_days = (d.now - created) / _DAY
    if age_days <= STALE_CORPUS_DAYS:
        return []
    return [
        Finding(
            code="breached_corpus_stale",
            severity="warning",
            message=f"The breached-password index {path} was built {int(age_days)} days "
            "ago: passwords leaked since are not recognised.",
            fix=import_fix,
        )
    ]


def _old_signing_keys(d: Deployment) -> list[Finding]:
    days = d.settings.signing_key_rotation_days
    if days <= 0:
        return []
    found = []
    for record in d.signing_keys:
        if record.retired_at is not None or record.revoked_at is not None:
            continue
        age = (d.now - record.created_at) / _DAY
        if age > days:
            found.append((record.alg, record.kid, int(age)))
    if not found:
        return []
    keys = ", ".join(f"{alg} {kid} ({age} days)" for alg, kid, age in sorted(found))
    return [
        Finding(
            code="signing_key_old",
            severity="warning",
            message=f"The current signing key(s) are older than the rotation period of "
            f"{days} days (PASSGATE_SIGNING_KEY_ROTATION_DAYS): {keys}.",
            fix="Rotate them: `passgate keys rotate` (or POST /api/v2/keys/signing/rotate); "
            "tokens they signed stay valid until they expire.",
        )
    ]


def _issuer_not_https(d: Deployment) -> list[Finding]:
    if d.issuer is None:
        return []
    parts = urlsplit(d.issuer)
    if parts.scheme == "https" or (parts.hostname or "").lower() in _LOCAL_HOSTS:
        return []
    return [
        Finding(
            code="issuer_not_https",
            severity="error",
            message=f"The issuer is {d.issuer}: tokens name a plain-http issuer, and "
            "applications fetch the signing keys (JWKS) over an unencrypted connection "
            "that anyone on the path can change.",
            fix="Serve passgate over https (PASSGATE_TLS_CERT and PASSGATE_TLS_KEY, or a "
            "TLS-terminating proxy) and run `passgate issuer set https://YOUR-HOST/`.",
        )
    ]


def _wide(entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    widest = WIDEST_IPV4_PREFIX if network.version == 4 else WIDEST_IPV6_PREFIX
    return network.prefixlen < widest


def _wide_allowlists(d: Deployment) -> list[Finding]:
    found = []
    lists = (
        ("brute-force protection", d.policies.brute_force.allowlist, "brute-force"),
        ("suspicious IP throttling", d.policies.suspicious_ip.allowlist, "suspicious-ip"),
    )
    for what, entries, command in lists:
        wide = [entry for entry in entries if _wide(entry)]
        if not wide:
            continue
        found.append(
            Finding(
                code="allowlist_wide_range",
                severity="warning",
                message=f"The {what} allowlist holds whole ranges ({', '.join(wide)}): every "
                "address in them is never counted or blocked, attackers' included.",
                fix=f"Allowlist single addresses or small ranges you own (narrower than "
                f"/{WIDEST_IPV4_PREFIX} for IPv4, /{WIDEST_IPV6_PREFIX} for IPv6): "
                f"`passgate protection set {command} --allowlist …` or PATCH "
                "/api/v2/attack-protection/….",
            )
        )
    return found


#: Every configuration check, in the order their findings are listed.
CONFIG_CHECKS: tuple[Callable[[Deployment], list[Finding]], ...] = (
    _issuer_not_https,
    _sqlite_on_network,
    _proxies_unset,
    _redis_fallback,
    _smtp_unset,
    _breached_corpus,
    _old_signing_keys,
    _wide_allowlists,
)


def config_findings(deployment: Deployment) -> list[Finding]:
    return [finding for check in CONFIG_CHECKS for finding in check(deployment)]
