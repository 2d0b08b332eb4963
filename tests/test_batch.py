"""Counts gathered in a worker and sent in batches: never waited on, bounded, counted once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ivr import metrics
from ivr.batch import Batch
from ivr.phone import FlaskTransport, Phone
from ivr.store import Counted, Delivery, EmbeddedStore, Limit, StoreDown, Tally

from .conftest import BASE_URL, TOKEN

DAY = Tally("ivr:stats:2026-11-30", (("calls", 1),), 60)


class Gate:
    """A store that stays away (StoreDown), or hangs, until the test lets it answer."""

    def __init__(self, hang: bool = False) -> None:
        self.inner = EmbeddedStore()
        self.up = threading.Event()
        self.hang = hang
        self.calls = 0

    def count_deliveries(self, deliveries: list[Delivery]) -> list[Counted]:
        self.calls += 1
        if self.hang:
            self.up.wait(30)
        elif not self.up.is_set():
            raise StoreDown("away")
        return self.inner.count_deliveries(deliveries)

    def counts(self, keys: list[str]) -> list[dict[str, int]]:
        return self.inner.counts(keys)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def dropped() -> float:
    return metrics.COUNTS_DROPPED._value.get()  # type: ignore[attr-defined]


def test_while_the_store_is_away_the_batch_keeps_the_newest_and_counts_what_it_drops() -> None:
    store = Gate()
    batch = Batch(store, b"secret", seconds=60, most=5)  # type: ignore[arg-type]
    before = dropped()
    for n in range(8):
        batch.add(DAY, f"token-{n}", "", "voice", new_call=True)
    assert batch.pending() == 5 and dropped() - before == 3, "bounded: the oldest three dropped, and counted"
    assert batch.flush() is False and batch.pending() == 5, "kept for the next try"
    batch.add(DAY, "token-8", "", "voice", new_call=True)
    assert batch.pending() == 5 and dropped() - before == 4
    store.up.set()
    assert batch.flush() is True and batch.pending() == 0
    assert store.counts([DAY.key]) == [{"calls": 5}], "counts resume once the store is back"


def test_the_same_delivery_twice_is_counted_once_and_the_seen_key_is_keyed() -> None:
    store = EmbeddedStore()
    batch = Batch(store, b"secret", seconds=60)
    batch.add(DAY, "token-1", "", "voice", new_call=True)
    batch.add(DAY, "token-1", "", "voice", new_call=True)
    batch.flush()
    batch.add(DAY, "token-1", "", "voice", new_call=True)
    batch.flush()
    assert store.counts([DAY.key]) == [{"calls": 1}]
    assert not any("token-1" in key for key in store._items), "Twilio's token is never a key as sent"


def test_a_caller_found_over_the_limit_is_remembered_until_their_window_ends() -> None:
    batch = Batch(EmbeddedStore(), b"secret", seconds=60)
    for n in range(3):
        batch.add(DAY, f"token-{n}", "", "voice", new_call=True, limit=Limit("ivr:rate:call:a", 600, f"c{n}"), most=2)
    assert not batch.over_limit("ivr:rate:call:a"), "nothing is known until the batch is sent"
    batch.flush()
    assert batch.over_limit("ivr:rate:call:a") and not batch.over_limit("ivr:rate:call:b")


def test_a_call_never_waits_on_a_store_that_hangs(make_app: Callable[..., object]) -> None:
    store = Gate(hang=True)
    app = make_app(STORE=store, COUNTS_FLUSH_SECONDS=0.05)
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN)
    turn = phone.ring()
    for key in "1190":
        turn = phone.press(turn, key)  # answered while the batch's thread is stuck inside the store
    assert turn.dials == "+448088020300"
    store.up.set()
    line = app.extensions["ivr"]  # type: ignore[attr-defined]
    line.batch.flush()
    (day,) = store.counts(["ivr:stats:2026-11-30"])
    assert day["calls"] == 1 and day["topic:voice:stalking"] == 1 and day["reached"] == 1
