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
from typing import Any, Protocol, TypeVar

import redis

PREFIX = "ivr:"
BREAKER_SECONDS = 5.0
SOCKET_TIMEOUT = 0.2
T = TypeVar("T")


class StoreDown(Exception):
    """The session store did not answer in time; carry on without it."""


def key_for(secret: bytes, kind: str, identifier: str) -> str:
    """Return the store key for a caller: an HMAC, so the number is never kept."""
    digest = hmac.new(secret, f"{kind}:{identifier}".encode(), hashlib.sha256).hexdigest()
    return f"{PREFIX}{kind}:{digest[:40]}"


class Store(Protocol):
    """What the web edges need from a session store."""

    def update(self, key: str, fields: dict[str, str], ttl: int, read: str) -> str | None:
        """Set fields of a session and return one field's old value, in one round trip."""

    def count_and_load(self, counter: str, window: int, key: str) -> tuple[int, dict[str, Any] | None]:
        """Count one more event in a window, and load a session, in one round trip."""

    def save(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """Save a session that expires after ttl seconds."""

    def take(self, key: str) -> dict[str, str]:
        """Load the fields of a session set by update, and delete it."""

    def forget(self, *keys: str) -> None:
        """Delete keys at once."""

    def bump(self, key: str, field: str, ttl: int) -> None:
        """Add one to a counter field of a hash that expires after ttl seconds."""

    def ping(self) -> float:
        """Return the round-trip time in seconds."""


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
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
            retry_on_timeout=False,
        )
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

    def update(self, key: str, fields: dict[str, str], ttl: int, read: str) -> str | None:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.hget(key, read)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, ttl)
            return pipe.execute()

        old = self._guard(run)[0]
        return old.decode() if isinstance(old, bytes) else old

    def count_and_load(self, counter: str, window: int, key: str) -> tuple[int, dict[str, Any] | None]:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(counter)
            pipe.expire(counter, window, nx=True)
            pipe.get(key)
            return pipe.execute()

        count, _, raw = self._guard(run)
        return int(count), _decode(raw)

    def save(self, key: str, value: dict[str, Any], ttl: int) -> None:
        self._guard(lambda: self.client.set(key, _encode(value), ex=ttl))

    def take(self, key: str) -> dict[str, str]:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=True)
            pipe.hgetall(key)
            pipe.delete(key)
            return pipe.execute()

        fields = self._guard(run)[0]
        return {k.decode(): v.decode() for k, v in fields.items()}

    def forget(self, *keys: str) -> None:
        if keys:
            self._guard(lambda: self.client.delete(*keys))

    def bump(self, key: str, field: str, ttl: int) -> None:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(key, field, 1)
            pipe.expire(key, ttl)
            return pipe.execute()

        self._guard(run)

    def ping(self) -> float:
        started = time.perf_counter()
        self._guard(self.client.ping)
        return time.perf_counter() - started


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

    def update(self, key: str, fields: dict[str, str], ttl: int, read: str) -> str | None:
        with self._lock:
            session = dict(self._get(key) or {})
            old = session.get(read)
            session.update(fields)
            self._put(key, session, ttl)
            return old

    def count_and_load(self, counter: str, window: int, key: str) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            item = self._items.get(counter)
            expires = item[0] if item and item[0] > self._clock() else self._clock() + window
            count = (self._get(counter) or 0) + 1
            self._items[counter] = (expires, count)
            return count, self._get(key)

    def save(self, key: str, value: dict[str, Any], ttl: int) -> None:
        with self._lock:
            self._put(key, dict(value), ttl)

    def take(self, key: str) -> dict[str, str]:
        with self._lock:
            value = self._get(key)
            self._items.pop(key, None)
            return dict(value or {})

    def forget(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)

    def bump(self, key: str, field: str, ttl: int) -> None:
        with self._lock:
            counts = dict(self._get(key) or {})
            counts[field] = counts.get(field, 0) + 1
            self._put(key, counts, ttl)

    def ping(self) -> float:
        return 0.0


def open_store(url: str | None) -> Store:
    """Open Redis at url, or the embedded store when no url is given."""
    return RedisStore(url) if url else EmbeddedStore()
