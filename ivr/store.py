"""The session store: the one seam between the line and its state.

Two implementations of one small interface:

- :class:`RedisStore` for production: a connection pool, short timeouts, one
  pipeline per request, a TTL on every key, and a circuit breaker so a dead Redis
  costs one short timeout, not one per request.
- :class:`EmbeddedStore` for the zero-setup default (``REDIS_URL`` unset): a dict
  in this process, with the same expiry rules. One process only.

Every method raises :class:`StoreDown` when the store cannot answer; callers
carry on without state. Keys are made by :func:`key_for` from an HMAC of the
caller's number or CallSid, never the number itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

PREFIX = "ivr:"
SEEN_TTL = 5 * 60  # how long a counted delivery is remembered: Twilio retries within a minute or two
READY_KEY = f"{PREFIX}ready"  # written by each readiness check
READY_TTL = 10  # long enough to outlast Twilio's late and retried webhooks
BREAKER_SECONDS = 5.0
SOCKET_TIMEOUT = 0.2
T = TypeVar("T")


class Tally(NamedTuple):  # a tuple, not a frozen dataclass: one is made on every webhook
    """Anonymous counts to add to one day's statistics."""

    key: str
    counts: tuple[tuple[str, int], ...]  # (field, how many to add)
    ttl: int


@dataclass(frozen=True)
class Limit:
    """A rate-limit counter: how many different events (members) in a window of seconds.

    The counter is a set, so a retried delivery of the same event (the same
    member, such as a hashed CallSid) never counts twice.
    """

    key: str
    window: int
    member: str = ""


class Delivery(NamedTuple):
    """One webhook's anonymous counts, added once however often Twilio delivers it.

    ``seen`` is the key that marks the delivery counted (made from Twilio's
    idempotency token; "" counts it without a check). A limit, if any, gets its
    member added either way: a set never counts one call twice.
    """

    tally: Tally | None
    seen: str = ""
    limit: Limit | None = None


class Counted(NamedTuple):
    """What a delivery's flush found: whether it was new, and its limit's size and seconds left."""

    new: bool
    members: int = 0
    expires_in: int = 0


class StoreDown(Exception):
    """The session store did not answer in time; carry on without it."""


def key_for(secret: bytes, kind: str, identifier: str) -> str:
    """Return the store key for a caller: an HMAC, so the number is never kept."""
    digest = hmac.new(secret, f"{kind}:{identifier}".encode(), hashlib.sha256).hexdigest()
    return f"{PREFIX}{kind}:{digest[:40]}"


class Store(Protocol):
    """What the web edges need from a session store."""

    def count_deliveries(self, deliveries: list[Delivery]) -> list[Counted]:
        """Add each delivery's counts unless its seen key is set already, in one round trip; grow its limit."""

    def count_and_load(self, counter: str, window: int, key: str) -> tuple[int, dict[str, Any] | None]:
        """Count one more event in a window, and load a session, in one round trip."""

    def save(self, key: str, value: dict[str, Any], ttl: int, tally: Tally | None = None) -> None:
        """Save a session that expires after ttl seconds."""

    def save_if(
        self, key: str, expected: dict[str, Any] | None, value: dict[str, Any], ttl: int, tally: Tally | None = None
    ) -> tuple[bool, dict[str, Any] | None]:
        """Save a session only if it still holds expected (None: absent); else return what it holds now.

        The tally is added either way: it counts a message that arrived, not a save.
        """

    def forget(self, *keys: str, tally: Tally | None = None) -> None:
        """Delete keys at once."""

    def count(self, tally: Tally) -> None:
        """Add anonymous counts to a day's statistics."""

    def counts(self, keys: list[str]) -> list[dict[str, int]]:
        """Read the statistics of several days."""

    def ping(self) -> float:
        """Write a key that expires in seconds and return the round-trip time; a store refusing writes is down."""


def _decode(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _encode(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class RedisStore:
    """Sessions in Redis, with a circuit breaker around every call."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = connect(url)
        # EVALSHA: the script's hash, not its text (loaded again by itself after a failover's NOSCRIPT).
        self._deliver = self.client.register_script(BATCH_SCRIPT)

        self._clock = clock
        self._open_until = 0.0
        self.failures = 0

    def _guard(self, action: Callable[[], T]) -> T:
        """Run one Redis call; after a failure, skip Redis for a few seconds."""
        if self._clock() < self._open_until:
            raise StoreDown("session store is resting after a failure")
        try:
            return action()
        except (redis.RedisError, OSError) as error:
            self.failures += 1
            self._open_until = self._clock() + BREAKER_SECONDS
            raise StoreDown(type(error).__name__) from None

    def count_deliveries(self, deliveries: list[Delivery]) -> list[Counted]:
        if not deliveries:
            return []
        keys, args, order, limited = _batch_arguments(deliveries)
        reply = self._guard(lambda: self._deliver(keys=keys, args=args))
        flags = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        counted = [Counted(True)] * len(deliveries)
        for flag, index in zip(flags, order, strict=True):
            counted[index] = Counted(flag == "1")
        for at, index in enumerate(limited):
            counted[index] = Counted(counted[index].new, int(reply[1 + 2 * at]), int(reply[2 + 2 * at]))
        return counted

    def count_and_load(self, counter: str, window: int, key: str) -> tuple[int, dict[str, Any] | None]:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(counter)
            pipe.expire(counter, window, nx=True)
            pipe.get(key)
            return pipe.execute()

        count, _, raw = self._guard(run)
        return int(count), _decode(raw)

    def save(self, key: str, value: dict[str, Any], ttl: int, tally: Tally | None = None) -> None:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(key, _encode(value), ex=ttl)
            _add(pipe, tally)
            return pipe.execute()

        self._guard(run)

    def save_if(
        self, key: str, expected: dict[str, Any] | None, value: dict[str, Any], ttl: int, tally: Tally | None = None
    ) -> tuple[bool, dict[str, Any] | None]:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.eval(SAVE_IF_SCRIPT, 1, key, "" if expected is None else _encode(expected), _encode(value), ttl)
            _add(pipe, tally)
            return pipe.execute()

        saved, current = self._guard(run)[0]
        return bool(saved), _decode(current or None)

    def forget(self, *keys: str, tally: Tally | None = None) -> None:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            if keys:
                pipe.delete(*keys)
            _add(pipe, tally)
            return pipe.execute()

        self._guard(run)

    def count(self, tally: Tally) -> None:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            _add(pipe, tally)
            return pipe.execute()

        self._guard(run)

    def counts(self, keys: list[str]) -> list[dict[str, int]]:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
            return pipe.execute()

        return [{k.decode(): int(v) for k, v in day.items()} for day in self._guard(run)]

    def ping(self) -> float:
        # A write, not PING: out of memory under noeviction, Redis answers PING but refuses every session.
        started = time.perf_counter()
        self._guard(lambda: self.client.set(READY_KEY, "1", ex=READY_TTL))
        return time.perf_counter() - started


# Count a batch of webhook deliveries in one step, each once. Deliveries with the
# same counts come as a group: the day's key, then a seen key per delivery that has
# Twilio's token (SET NX with a short TTL: only a first delivery sets it), then how
# many came without one. The day's fields grow by the number of new deliveries.
# Then each new call joins its caller's limit set (a set counts a call once), whose
# size and seconds left come back. Returns a "1"/"0" per delivery (tokened ones of
# each group first), then a size and TTL per limit.
BATCH_SCRIPT = """
local seen_ttl, a, k = tonumber(ARGV[1]), 3, 1
local flags, out = {}, {}
for g = 1, tonumber(ARGV[2]) do
  local day, day_ttl, pairs = KEYS[k], tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  k = k + 1
  local fields = a + 2
  a = fields + 2 * pairs
  local tokened, plain = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local new = plain
  for i = 1, tokened do
    if redis.call('SET', KEYS[k], '1', 'NX', 'EX', seen_ttl) then
      new = new + 1
      flags[#flags + 1] = '1'
    else
      flags[#flags + 1] = '0'
    end
    k = k + 1
  end
  for i = 1, plain do
    flags[#flags + 1] = '1'
  end
  if new > 0 and pairs > 0 then
    for f = fields, fields + 2 * pairs - 1, 2 do
      redis.call('HINCRBY', day, ARGV[f], new * tonumber(ARGV[f + 1]))
    end
    redis.call('EXPIRE', day, day_ttl)
  end
end
out[1] = table.concat(flags)
for i = 1, tonumber(ARGV[a]) do
  local key = KEYS[k]
  k = k + 1
  redis.call('SADD', key, ARGV[a + 1])
  redis.call('EXPIRE', key, tonumber(ARGV[a + 2]), 'NX')
  out[#out + 1] = redis.call('SCARD', key)
  out[#out + 1] = redis.call('TTL', key)
  a = a + 2
end
return out
"""


def _batch_arguments(deliveries: list[Delivery]) -> tuple[list[str], list[Any], list[int], list[int]]:
    """Lay deliveries out for BATCH_SCRIPT: keys, arguments, and which delivery each flag and limit answers."""
    groups: dict[Tally | None, tuple[list[int], list[int]]] = {}
    for index, delivery in enumerate(deliveries):
        tokened, plain = groups.setdefault(delivery.tally, ([], []))
        (tokened if delivery.seen else plain).append(index)
    keys: list[str] = []
    args: list[Any] = [SEEN_TTL, len(groups)]
    order: list[int] = []
    for tally, (tokened, plain) in groups.items():
        counts = tally.counts if tally else ()
        keys.append(tally.key if tally else f"{PREFIX}stats:none")
        args += [tally.ttl if tally else 0, len(counts), *(item for pair in counts for item in pair)]
        args += [len(tokened), len(plain)]
        keys += [deliveries[index].seen for index in tokened]
        order += tokened + plain
    limited = [index for index, delivery in enumerate(deliveries) if delivery.limit is not None]
    args.append(len(limited))
    for index in limited:
        limit = deliveries[index].limit
        assert limit is not None
        keys.append(limit.key)
        args += [limit.member, limit.window]
    return keys, args, order, limited


# Compare and save, on one key: texts from one number that arrive at once each
# save only over the place they read, so the stored place never moves backwards.
SAVE_IF_SCRIPT = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return {0, current}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return {1, ''}
"""


TIMEOUTS = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


def connect(url: str) -> redis.Redis:
    """Open a client for redis://, rediss:// or a Sentinel URL, with short timeouts.

    Sentinel: ``redis+sentinel://[:password@]host:26379,host2:26379/service[/db]``
    (``rediss+sentinel://`` for TLS to the Redis servers); the client follows
    the current primary through failovers.
    """
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        return redis.Redis.from_url(url, health_check_interval=30, retry_on_timeout=False, **TIMEOUTS)
    hosts = [_host_port(host) for host in parts.netloc.rpartition("@")[2].split(",") if host]
    service, _, db = parts.path.strip("/").partition("/")
    if not hosts or not service:
        raise ValueError("a Sentinel REDIS_URL looks like redis+sentinel://host:26379,host2:26379/mymaster/0")
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(hosts, sentinel_kwargs=dict(TIMEOUTS), password=password, **TIMEOUTS)
    ssl = {"ssl": True} if parts.scheme.startswith("rediss") else {}
    return sentinel.master_for(service, db=int(db or 0), retry_on_timeout=False, **ssl)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "26379")
    return host, int(port)


def _add(pipe: Any, tally: Tally | None) -> None:
    """Queue a tally's counts, and its expiry, on a pipeline."""
    if tally is None or not tally.counts:
        return
    for field, amount in tally.counts:
        pipe.hincrby(tally.key, field, amount)
    pipe.expire(tally.key, tally.ttl)


class EmbeddedStore:
    """Sessions in this process's memory: the zero-setup default, one process only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Any]] = {}

    def _get(self, key: str) -> Any:
        item = self._items.get(key)
        if item is None or item[0] <= self._clock():
            self._items.pop(key, None)
            return None
        return item[1]

    def _put(self, key: str, value: Any, ttl: int) -> None:
        self._items[key] = (self._clock() + ttl, value)
        if len(self._items) > 10_000:
            self._sweep()

    def _sweep(self) -> None:
        now = self._clock()
        for key in [key for key, (expires, _) in self._items.items() if expires <= now]:
            del self._items[key]

    def count_deliveries(self, deliveries: list[Delivery]) -> list[Counted]:
        with self._lock:
            return [self._count_delivery(delivery) for delivery in deliveries]

    def _count_delivery(self, delivery: Delivery) -> Counted:
        """Count one delivery once (as BATCH_SCRIPT does)."""
        new = not delivery.seen or self._get(delivery.seen) is None
        if delivery.seen and new:
            self._put(delivery.seen, True, SEEN_TTL)
        if new:
            self._count(delivery.tally)
        if delivery.limit is None:
            return Counted(new)
        members = self._add_member(delivery.limit)
        return Counted(new, members, max(0, round(self._items[delivery.limit.key][0] - self._clock())))

    def count_and_load(self, counter: str, window: int, key: str) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            return self._increment(counter, window), self._get(key)

    def _increment(self, counter: str, window: int) -> int:
        """Count one more in a window that starts with the first count (like INCR + EXPIRE NX)."""
        item = self._items.get(counter)
        expires = item[0] if item and item[0] > self._clock() else self._clock() + window
        count = (self._get(counter) or 0) + 1
        self._items[counter] = (expires, count)
        return count

    def _add_member(self, limit: Limit) -> int:
        """Add one member to a limit's set, in a window that starts with the first (like SADD + EXPIRE NX)."""
        item = self._items.get(limit.key)
        live = item is not None and item[0] > self._clock()
        expires, members = (item[0], item[1]) if live and item else (self._clock() + limit.window, frozenset())
        members = members | {limit.member}
        self._items[limit.key] = (expires, members)
        return len(members)

    def save(self, key: str, value: dict[str, Any], ttl: int, tally: Tally | None = None) -> None:
        with self._lock:
            self._put(key, dict(value), ttl)
            self._count(tally)

    def save_if(
        self, key: str, expected: dict[str, Any] | None, value: dict[str, Any], ttl: int, tally: Tally | None = None
    ) -> tuple[bool, dict[str, Any] | None]:
        with self._lock:
            self._count(tally)
            current = self._get(key)
            if current != expected:
                return False, dict(current) if current is not None else None
            self._put(key, dict(value), ttl)
            return True, None

    def forget(self, *keys: str, tally: Tally | None = None) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)
            self._count(tally)

    def count(self, tally: Tally) -> None:
        with self._lock:
            self._count(tally)

    def _count(self, tally: Tally | None) -> None:
        if tally is None or not tally.counts:
            return
        counts = dict(self._get(tally.key) or {})
        for field, amount in tally.counts:
            counts[field] = counts.get(field, 0) + amount
        self._put(tally.key, counts, tally.ttl)

    def counts(self, keys: list[str]) -> list[dict[str, int]]:
        with self._lock:
            return [dict(self._get(key) or {}) for key in keys]

    def ping(self) -> float:
        return 0.0


def open_store(url: str | None) -> Store:
    """Open Redis at url, or the embedded store when no url is given."""
    return RedisStore(url) if url else EmbeddedStore()
