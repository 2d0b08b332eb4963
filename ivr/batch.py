"""Counts gathered in each worker and sent to the store in batches, never inside a call.

A voice webhook answers from its signed URL alone: it only adds its delivery
(anonymous counts, Twilio's idempotency token, and for a new call the caller's
repeat-call limit) to this worker's batch. Five times a second, and when the
worker stops gracefully, a background thread sends the batch in one round trip.
The store counts each delivery once (a retried delivery carries the same token),
adds each new call to its caller's limit set, and says how full each set is; a
caller found over the limit is remembered here until their window ends, so
their next call skips the menu (a limit one call late, by design).

Bounded: at most :data:`MAX_PENDING` deliveries wait. While the store is away
the batch keeps them and tries again; when full it drops the oldest, counted
in ``ivr_counts_dropped_total``. A crash loses at most the last second of
anonymous counts.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
import time
from collections import deque
from typing import NamedTuple

from . import metrics
from .store import PREFIX, Counted, Delivery, Limit, Store, StoreDown, Tally

log = logging.getLogger("ivr.batch")
FLUSH_SECONDS = 0.2  # small batches: a long one would hold the worker (and p99) while it is packed
MAX_PENDING = 20_000  # deliveries waiting: a few MB at most
MAX_OVER_LIMIT = 10_000  # callers remembered as over their limit
CHUNK = 500  # deliveries per pipeline
MAX_TOKEN = 128


class Item(NamedTuple):
    """One delivery waiting in the batch, with what /metrics counts once it is known to be new."""

    delivery: Delivery
    event: str
    channel: str
    new_call: bool = False
    most: int = 0  # the limit's allowance: more members than this and the caller is over it


class Batch:
    """This worker's counts waiting to be sent, and the callers it knows are over their limit."""

    def __init__(self, store: Store, secret: bytes, seconds: float = FLUSH_SECONDS,
                 most: int = MAX_PENDING) -> None:
        self._store = store
        self._key = hashlib.sha256(b"seen:" + secret).digest()
        self._seconds = seconds
        self._most = most
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._pending: deque[Item] = deque()
        self._over: dict[str, float] = {}  # caller key -> monotonic time their window ends
        self._owner = 0  # the process whose thread flushes (a forked worker starts its own)
        self._wake = threading.Event()

    def add(self, tally: Tally | None, token: str, event: str, channel: str, *, new_call: bool = False,
            limit: Limit | None = None, most: int = 0) -> None:
        """Queue one delivery's counts; never waits on the store (unless flushing at once is configured)."""
        item = Item(Delivery(tally, token[:MAX_TOKEN], limit), event, channel, new_call, most)
        with self._lock:
            if len(self._pending) >= self._most:
                self._pending.popleft()
                metrics.COUNTS_DROPPED.inc()
            self._pending.append(item)
        if self._seconds <= 0:
            self.flush()
        elif self._owner != os.getpid():
            self._start()

    def over_limit(self, key: str) -> bool:
        """Say whether this caller was found over their repeat-call limit, and it has not yet ended."""
        ends = self._over.get(key)
        return ends is not None and ends > time.monotonic()

    def pending(self) -> int:
        """Count the deliveries waiting to be sent."""
        return len(self._pending)

    def flush(self) -> bool:
        """Send what is waiting; on a store failure keep it for the next try. Say whether all was sent."""
        with self._sending:
            with self._lock:
                items = list(self._pending)
                self._pending.clear()
            for start in range(0, len(items), CHUNK):
                chunk = items[start : start + CHUNK]
                try:
                    counted = self._store.count_deliveries([self._keyed(item.delivery) for item in chunk])
                except StoreDown:
                    metrics.STORE_ERRORS.inc()
                    self._keep(items[start:])
                    return False
                for item, result in zip(chunk, counted, strict=True):
                    self._counted(item, result)
            return True

    def close(self) -> None:
        """Send the last counts before the worker goes."""
        self._wake.set()
        self.flush()

    def _keyed(self, delivery: Delivery) -> Delivery:
        """Turn Twilio's token into the key that marks the delivery seen (keyed, so a dump confirms nothing)."""
        if not delivery.seen:
            return delivery
        digest = hashlib.blake2b(delivery.seen.encode(), key=self._key, digest_size=16).hexdigest()
        return delivery._replace(seen=f"{PREFIX}seen:{digest}")

    def _keep(self, items: list[Item]) -> None:
        """Put unsent deliveries back in front of newer ones, dropping the oldest past the bound."""
        with self._lock:
            self._pending.extendleft(reversed(items))
            while len(self._pending) > self._most:
                self._pending.popleft()
                metrics.COUNTS_DROPPED.inc()

    def _counted(self, item: Item, result: Counted) -> None:
        """Count a new delivery in /metrics; remember a caller found over their limit."""
        if result.new:
            if item.new_call:
                metrics.CALLS.inc()
            metrics.count_event(item.event, item.channel)
        limit = item.delivery.limit
        if limit is not None and result.members > item.most:
            self._remember_over(limit.key, result.expires_in)

    def _remember_over(self, key: str, seconds: int) -> None:
        now = time.monotonic()
        if len(self._over) >= MAX_OVER_LIMIT:
            self._over = {k: ends for k, ends in self._over.items() if ends > now}
            if len(self._over) >= MAX_OVER_LIMIT:
                self._over.pop(next(iter(self._over)))
        self._over[key] = now + max(seconds, 1)

    def _start(self) -> None:
        with self._lock:
            if self._owner == os.getpid():
                return
            self._owner = os.getpid()
        threading.Thread(target=self._run, name="ivr-counts", daemon=True).start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._wake.wait(self._seconds):
            try:
                self.flush()
            except Exception:  # the thread must outlive anything unexpected
                log.exception("could not send the anonymous counts; trying again in a second")
