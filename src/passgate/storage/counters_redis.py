"""Attack-protection counters in Redis, shared by every passgate instance.

Every update is one Lua script (registered once, run by ``EVALSHA``), so it is atomic
however many instances share the server. Times come from the caller (``now``) as in the
SQL backend; Redis expiry only forgets keys once they no longer hold state.

Keys, all under ``prefix`` (``passgate:`` by default):

``<p>la:<attempt key>``
    hash ``failures``, ``reserved``, ``reserved_until``, ``last_failure``, ``identifier``
    (the label shown), ``ip`` (``""`` for per-identifier keys), ``connection``,
    ``user_id`` (``""`` unless an account's), ``subject``; expires when its failures are
    forgotten (30 days after the last) and no reservation is live.
``<p>la-recent``
    sorted set of attempt keys with failures, scored by last failure (lists all blocks).
``<p>la-id:<subject>``
    set of the subject's attempt keys with failures (lists and removes its blocks).
``<p>bucket:<ip>``
    hash stage -> GCRA ``tat``; expires when every bucket of the IP is full again.
``<p>once:<key>``
    the end of the current ``once`` window.

The scripts that remove blocks read keys named in a set, so this backend is for a single
Redis server (or a primary with replicas), not Redis Cluster.

Unreachable or failing Redis raises :class:`~passgate.errors.StorageError` quickly (short
socket timeouts, one retry); the caller's policy decides between refusing and falling back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from passgate.domain.attempts import (
    BLOCK_SECONDS,
    DEFAULT_HOLD_SECONDS,
    GCRA_TOLERANCE_S,
    AttemptKey,
    BlockRecord,
    Reservation,
)
from passgate.domain.brute_force import effective_failures
from passgate.domain.ip_throttle import has_token as gcra_has_token
from passgate.errors import StorageError

__all__ = ["RedisCounters"]

_T = TypeVar("_T")

# Shared Lua: read an attempt hash and forget what has expired at ARGV[1] = now.
_LOAD = """
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'failures', 'reserved', 'reserved_until', 'last_failure')
local failures = tonumber(h[1]) or 0
local reserved = tonumber(h[2]) or 0
local reserved_until = tonumber(h[3]) or 0
local last_failure = tonumber(h[4]) or 0
local window = tonumber(ARGV[2])
if not (now < last_failure + window) then failures = 0 end
if not (reserved_until > now) then reserved = 0 end
local function f(x) return string.format('%.17g', x) end
local function expire_at(t)
  redis.call('PEXPIRE', KEYS[1], math.ceil((t - now) * 1000) + 1000)
end
"""

# KEYS: attempt hash.
# ARGV: now, window, max_attempts, hold, identifier, ip, connection, user_id, subject.
_RESERVE = (
    _LOAD
    + """
if failures + reserved >= tonumber(ARGV[3]) then return {0, failures} end
reserved_until = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'failures', failures, 'reserved', reserved + 1,
  'reserved_until', f(reserved_until), 'last_failure', f(last_failure),
  'identifier', ARGV[5], 'ip', ARGV[6], 'connection', ARGV[7], 'user_id', ARGV[8],
  'subject', ARGV[9])
expire_at(math.max(reserved_until, last_failure + window))
return {1, failures}
"""
)

# KEYS: attempt hash, recent zset, subject set.
# ARGV: now, window, release (0/1), identifier, ip, connection, attempt key, user_id, subject.
_RECORD_FAILURE = (
    _LOAD
    + """
if ARGV[3] == '1' and reserved > 0 then reserved = reserved - 1 end
failures = failures + 1
redis.call('HSET', KEYS[1], 'failures', failures, 'reserved', reserved,
  'reserved_until', f(reserved_until), 'last_failure', f(now),
  'identifier', ARGV[4], 'ip', ARGV[5], 'connection', ARGV[6], 'user_id', ARGV[8],
  'subject', ARGV[9])
expire_at(math.max(reserved_until, now + window))
redis.call('ZADD', KEYS[2], f(now), ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. f(now - window))
redis.call('SADD', KEYS[3], ARGV[7])
redis.call('PEXPIRE', KEYS[3], math.ceil(window * 1000) + 1000)
return failures
"""
)

# KEYS: attempt hash, recent zset, subject set.
# ARGV: now, window, reset (0/1), attempt key. Releases one reservation.
_RELEASE = (
    _LOAD
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if reserved > 0 then reserved = reserved - 1 end
if ARGV[3] == '1' then
  failures = 0
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('SREM', KEYS[3], ARGV[4])
end
if failures == 0 and reserved == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
if failures == 0 then last_failure = 0 end
redis.call('HSET', KEYS[1], 'failures', failures, 'reserved', reserved,
  'last_failure', f(last_failure))
return 1
"""
)

# KEYS: recent zset, subject set. ARGV: key prefix, ip ('' = any), connection ('' = any).
_REMOVE_BLOCKS = """
local removed = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local hash = ARGV[1] .. member
  local h = redis.call('HMGET', hash, 'failures', 'ip', 'connection', 'reserved')
  if not h[1] then
    redis.call('SREM', KEYS[2], member)
    redis.call('ZREM', KEYS[1], member)
  elseif (ARGV[2] == '' or h[2] == ARGV[2]) and (ARGV[3] == '' or h[3] == ARGV[3]) then
    if (tonumber(h[1]) or 0) > 0 then removed = removed + 1 end
    if (tonumber(h[4]) or 0) > 0 then
      redis.call('HSET', hash, 'failures', 0, 'last_failure', 0)
    else
      redis.call('DEL', hash)
    end
    redis.call('SREM', KEYS[2], member)
    redis.call('ZREM', KEYS[1], member)
  end
end
return removed
"""

# Adopts one counter an older passgate kept under "<mode>:<connection>:<identifier>[:<ip>]":
# its failures move to the new key (the most failures, the latest failure, if the new key
# has some already) and the old key goes.
# KEYS: old hash, new hash, recent zset, new subject set, old identifier set.
# ARGV: now, window, new key, label, ip, connection, user_id, subject, old member.
_ADOPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local function counted(hash)
  local h = redis.call('HMGET', hash, 'failures', 'last_failure')
  local failures, last = tonumber(h[1]) or 0, tonumber(h[2]) or 0
  if not (now < last + window) then return 0, 0 end
  return failures, last
end
local old_failures, old_last = counted(KEYS[1])
local new_failures, new_last = counted(KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[9])
redis.call('SREM', KEYS[5], ARGV[9])
if old_failures == 0 then return 0 end
local failures, last = math.max(old_failures, new_failures), math.max(old_last, new_last)
redis.call('HSET', KEYS[2], 'failures', failures, 'last_failure', string.format('%.17g', last),
  'identifier', ARGV[4], 'ip', ARGV[5], 'connection', ARGV[6], 'user_id', ARGV[7],
  'subject', ARGV[8])
if not redis.call('HGET', KEYS[2], 'reserved') then
  redis.call('HSET', KEYS[2], 'reserved', 0, 'reserved_until', 0)
end
local ttl = math.ceil((last + window - now) * 1000) + 1000
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('ZADD', KEYS[3], string.format('%.17g', last), ARGV[3])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('PEXPIRE', KEYS[4], math.ceil(window * 1000) + 1000)
return 1
"""

#: Keys of this version: "<mode>:<32 hex digits>[:<ip>]".
_CURRENT_KEY = re.compile(r"[a-z_]+:[0-9a-f]{32}(:.*)?")
#: Set once the counters of an older key format are adopted (nothing to look for then).
_FORMAT = "2"

# KEYS: bucket hash. ARGV: stage, now, capacity, rate, tolerance.
_TAKE_TOKEN = """
local now = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local tat = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local start = now
if tat and not (tat < now) then start = tat end
local empty_at = now + capacity * rate
if not (start + rate <= empty_at + tonumber(ARGV[5])) then return 0 end
local consumed = start + rate
if not (consumed < empty_at) then consumed = empty_at end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.17g', consumed))
local ttl = math.ceil((consumed - now) * 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

# KEYS: mark. ARGV: now, ttl.
_ONCE = """
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local untl = tonumber(redis.call('GET', KEYS[1]))
if untl and untl > now then return 0 end
redis.call('SET', KEYS[1], string.format('%.17g', now + ttl), 'PX', math.ceil(ttl * 1000) + 1000)
return 1
"""


def _num(value: float) -> str:
    return repr(float(value))


class RedisCounters:
    """:class:`~passgate.storage.counters.AttackCounters` on one Redis server."""

    def __init__(self, client: redis.Redis, *, prefix: str = "passgate:") -> None:
        self._redis = client
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._record_failure = client.register_script(_RECORD_FAILURE)
        self._release = client.register_script(_RELEASE)
        self._remove_blocks = client.register_script(_REMOVE_BLOCKS)
        self._take_token = client.register_script(_TAKE_TOKEN)
        self._once = client.register_script(_ONCE)
        self._adopt = client.register_script(_ADOPT)

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "passgate:", timeout_s: float = 0.5
    ) -> RedisCounters:
        """A client with short timeouts and one retry, so an outage fails fast."""
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        return cls(client, prefix=prefix)

    def close(self) -> None:
        self._redis.close()

    def ping(self) -> bool:
        """Whether Redis answers now (one round trip; False instead of an error)."""
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    # --- helpers -------------------------------------------------------------------

    def _call(self, what: str, operation: Callable[[], _T]) -> _T:
        try:
            return operation()
        except redis.RedisError as exc:
            raise StorageError(f"attack-protection counters: {what} failed: {exc}") from exc

    def _attempt(self, key: AttemptKey | str) -> str:
        return f"{self.prefix}la:{key.key if isinstance(key, AttemptKey) else key}"

    def _recent(self) -> str:
        return f"{self.prefix}la-recent"

    def _by_subject(self, subject: str) -> str:
        return f"{self.prefix}la-id:{subject}"

    def _bucket(self, ip: str) -> str:
        return f"{self.prefix}bucket:{ip}"

    # --- login attempts ------------------------------------------------------------

    def reserve_attempt(
        self,
        key: AttemptKey,
        *,
        max_attempts: int,
        now: float,
        hold_s: float = DEFAULT_HOLD_SECONDS,
    ) -> Reservation:
        args = [_num(now), _num(BLOCK_SECONDS), str(max_attempts), _num(hold_s)]
        args += [key.label, key.ip or "", key.connection, key.user_id or "", key.subject]
        allowed, failures = self._call(
            "reserve_attempt", lambda: self._reserve(keys=[self._attempt(key)], args=args)
        )
        return Reservation(allowed=bool(allowed), failures=int(failures))

    def record_failure(self, key: AttemptKey, *, now: float, release: bool = True) -> int:
        keys = [self._attempt(key), self._recent(), self._by_subject(key.subject)]
        args = [_num(now), _num(BLOCK_SECONDS), "1" if release else "0"]
        args += [key.label, key.ip or "", key.connection, key.key, key.user_id or "", key.subject]
        failures = self._call("record_failure", lambda: self._record_failure(keys=keys, args=args))
        return int(failures)

    def _run_release(self, key: AttemptKey, now: float, *, reset: bool, what: str) -> None:
        keys = [self._attempt(key), self._recent(), self._by_subject(key.subject)]
        args = [_num(now), _num(BLOCK_SECONDS), "1" if reset else "0", key.key]
        self._call(what, lambda: self._release(keys=keys, args=args))

    def record_success(self, key: AttemptKey, *, now: float) -> None:
        self._run_release(key, now, reset=True, what="record_success")

    def release(self, key: AttemptKey, *, now: float) -> None:
        self._run_release(key, now, reset=False, what="release")

    def failures(self, key: AttemptKey, *, now: float) -> int:
        fields = self._call(
            "failures",
            lambda: self._redis.hmget(self._attempt(key), ["failures", "last_failure"]),
        )
        if fields[0] is None:
            return 0
        return effective_failures(int(float(fields[0])), float(fields[1] or 0), now)

    # --- block administration ------------------------------------------------------

    def list_blocks(
        self,
        subjects: Collection[str] | None,
        *,
        max_attempts: int,
        now: float,
        per_ip: bool | None = None,
    ) -> list[BlockRecord]:
        def members() -> list[str]:
            if subjects is not None:
                found: set[str] = set()
                for subject in subjects:
                    found.update(str(m) for m in self._redis.smembers(self._by_subject(subject)))
                return sorted(found)
            since = f"({_num(now - BLOCK_SECONDS)}"
            recent = self._redis.zrangebyscore(self._recent(), since, "+inf")
            return [str(member) for member in recent]

        def load(keys: Sequence[str]) -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            fields = [
                "identifier", "ip", "connection", "failures", "last_failure", "user_id", "subject",
            ]  # fmt: skip
            for member in keys:
                pipe.hmget(self._attempt(member), fields)
            return pipe.execute()

        keys = self._call("list_blocks", members)
        rows = self._call("list_blocks", lambda: load(keys)) if keys else []
        records: list[BlockRecord] = []
        for ident, ip, connection, failures, last_failure, user_id, subject in rows:
            if failures is None:
                continue
            record = BlockRecord(
                identifier=ident,
                ip=ip or None,
                connection=connection,
                failures=int(float(failures)),
                last_failure=float(last_failure),
                user_id=user_id or None,
                subject=subject or "",
            )
            if record.failures < max_attempts or not now < record.last_failure + BLOCK_SECONDS:
                continue
            if per_ip is not None and (record.ip is not None) != per_ip:
                continue
            records.append(record)
        records.sort(key=lambda r: (r.identifier, r.connection, r.ip or ""))
        return records

    def remove_blocks(
        self, subjects: Collection[str], ip: str | None = None, *, connection: str | None = None
    ) -> int:
        args = [f"{self.prefix}la:", ip or "", connection or ""]
        removed = 0
        for subject in sorted(subjects):
            keys = [self._recent(), self._by_subject(subject)]
            removed += int(
                self._call("remove_blocks", self._script(self._remove_blocks, keys, args))
            )
        return removed

    def _hgetall(self, name: str) -> Callable[[], Any]:
        return lambda: self._redis.hgetall(name)

    @staticmethod
    def _script(script: Any, keys: list[str], args: list[str]) -> Callable[[], Any]:
        return lambda: script(keys=keys, args=args)

    def adopt_older_keys(
        self, rekey: Callable[[str, str, str, str | None], AttemptKey], now: float
    ) -> int:
        """Move the counters an older passgate kept (keys with the identifier in them)
        to their keys of today, so an upgrade loses no block; return how many moved.

        ``rekey(mode, connection, identifier, ip)`` gives a counter's key of today. Runs
        once per Redis database (a marker remembers it); safe to repeat."""
        marker = f"{self.prefix}la-format"
        if self._call("adopt_older_keys", lambda: self._redis.get(marker)) == _FORMAT:
            return 0
        since = f"({_num(now - BLOCK_SECONDS)}"
        members = self._call(
            "adopt_older_keys",
            lambda: self._redis.zrangebyscore(self._recent(), since, "+inf"),
        )
        moved = 0
        for member in (str(m) for m in members):
            if _CURRENT_KEY.fullmatch(member):
                continue
            stored = self._call("adopt_older_keys", self._hgetall(self._attempt(member)))
            fields = {str(name): str(value) for name, value in stored.items()}
            mode = member.split(":", 1)[0]
            identifier, connection = fields.get("identifier", ""), fields.get("connection", "")
            try:
                key = rekey(mode, connection, identifier, fields.get("ip") or None)
            except ValueError:
                continue  # not a brute-force mode: nothing of ours
            keys = [
                self._attempt(member),
                self._attempt(key),
                self._recent(),
                self._by_subject(key.subject),
                f"{self.prefix}la-id:{identifier}",
            ]
            args = [_num(now), _num(BLOCK_SECONDS), key.key, key.label, key.ip or ""]
            args += [key.connection, key.user_id or "", key.subject, member]
            moved += int(self._call("adopt_older_keys", self._script(self._adopt, keys, args)))
        self._call("adopt_older_keys", lambda: self._redis.set(marker, _FORMAT))
        return moved

    # --- IP buckets ----------------------------------------------------------------

    def take_token(self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float) -> bool:
        args = [stage, _num(now), str(capacity), _num(rate_s), _num(GCRA_TOLERANCE_S)]
        taken = self._call(
            "take_token", lambda: self._take_token(keys=[self._bucket(ip)], args=args)
        )
        return bool(taken)

    def bucket_tat(self, ip: str, stage: str) -> float | None:
        tat = self._call("bucket_tat", lambda: self._redis.hget(self._bucket(ip), stage))
        return None if tat is None else float(tat)

    def bucket_tats(self, ip: str, stages: Sequence[str]) -> dict[str, float | None]:
        values = self._call(
            "bucket_tats", lambda: self._redis.hmget(self._bucket(ip), list(stages))
        )
        return {
            stage: None if value is None else float(value)
            for stage, value in zip(stages, values, strict=True)
        }

    def has_token(self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float) -> bool:
        return gcra_has_token(self.bucket_tat(ip, stage), now, capacity, rate_s)

    def refill(self, ip: str) -> bool:
        return bool(self._call("refill", lambda: self._redis.delete(self._bucket(ip))))

    # --- once marks ----------------------------------------------------------------

    def once(self, key: str, *, ttl_s: float, now: float) -> bool:
        mark = f"{self.prefix}once:{key}"
        args = [_num(now), _num(ttl_s)]
        return bool(self._call("once", lambda: self._once(keys=[mark], args=args)))

    # --- maintenance ---------------------------------------------------------------

    def purge(self, now: float) -> int:
        """Nothing to do: Redis expires keys that no longer hold state."""
        return 0
