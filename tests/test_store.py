"""The session store's seam: Redis (plain and through Sentinel) and the embedded store."""

from __future__ import annotations

import pytest

from ivr.store import (
    SEEN_TTL,
    Counted,
    Delivery,
    EmbeddedStore,
    Limit,
    RedisStore,
    StoreDown,
    Tally,
    connect,
    key_for,
)

from .redis_server import redis_server, sentinel_for


def test_keys_are_an_hmac_never_the_number() -> None:
    key = key_for(b"secret", "text", "+447700900123")
    assert key.startswith("ivr:text:") and "7700900123" not in key
    assert key == key_for(b"secret", "text", "+447700900123")
    assert key != key_for(b"other", "text", "+447700900123")


@pytest.mark.parametrize("make", [lambda url: RedisStore(url), lambda url: EmbeddedStore()], ids=["redis", "embedded"])
def test_both_stores_keep_the_same_promises(make: object) -> None:
    with redis_server() as server:
        store = make(server.url)  # type: ignore[operator]
        day = Tally("ivr:stats:c", (("calls", 1),), 60)
        first = Delivery(day, "ivr:seen:1", Limit("ivr:rate:a", 60, "call-a"))
        counted = store.count_deliveries([first, first])
        assert counted[0] == Counted(True, 1, 60), "a new delivery counts, and the call joins its caller's set"
        assert counted[1] == Counted(False, 1, 60), "the same delivery again (a retry) counts nothing more"
        other = Delivery(Tally("ivr:stats:c", (("calls", 1), ("reached", 1)), 60), "ivr:seen:2",
                         Limit("ivr:rate:a", 60, "call-b"))
        assert store.count_deliveries([other])[0].members == 2, "another call from the same number counts"
        assert store.count_deliveries([Delivery(day)]) == [Counted(True)], "without a token: counted, unchecked"
        assert store.counts(["ivr:stats:c"]) == [{"calls": 3, "reached": 1}]
        assert store.count_deliveries([]) == []
        store.save("ivr:text:a", {"thread": {"topic": "x"}}, 60, Tally("ivr:stats:d", (("texts", 2),), 60))
        assert store.count_and_load("ivr:rate:t", 60, "ivr:text:a") == (1, {"thread": {"topic": "x"}})
        store.forget("ivr:text:a", tally=Tally("ivr:stats:d", (("texts", 1),), 60))
        assert store.count_and_load("ivr:rate:t", 60, "ivr:text:a") == (2, None)
        assert store.counts(["ivr:stats:d", "ivr:stats:none"]) == [{"texts": 3}, {}]
        if isinstance(store, RedisStore):
            client = server.client()
            assert all(0 < client.ttl(key) <= max(60, SEEN_TTL) for key in client.scan_iter(match="ivr:*"))


def test_a_sentinel_url_finds_the_primary() -> None:
    with redis_server() as primary, sentinel_for(primary) as port:
        store = RedisStore(f"redis+sentinel://127.0.0.1:{port}/mymaster/0")
        store.save("ivr:text:s", {"thread": {}}, 60)
        assert primary.client().exists("ivr:text:s") == 1
        assert store.ping() >= 0


@pytest.mark.parametrize("url", ["redis+sentinel:///mymaster", "redis+sentinel://127.0.0.1:26379/"])
def test_a_broken_sentinel_url_says_how_to_write_it(url: str) -> None:
    with pytest.raises(ValueError, match="redis\\+sentinel://host:26379"):
        connect(url)


def test_tls_urls_are_accepted() -> None:
    client = connect("rediss://127.0.0.1:1/0")
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 0.2
    with pytest.raises(StoreDown):
        RedisStore("rediss://127.0.0.1:1/0").ping()


@pytest.mark.parametrize("make", [lambda url: RedisStore(url), lambda url: EmbeddedStore()], ids=["redis", "embedded"])
def test_save_if_saves_only_over_the_place_it_read(make: object) -> None:
    with redis_server() as server:
        store = make(server.url)  # type: ignore[operator]
        first, second = {"thread": {"page": 1}}, {"thread": {"page": 2}}
        assert store.save_if("ivr:text:c", None, first, 60) == (True, None)
        assert store.save_if("ivr:text:c", None, second, 60) == (False, first), "another text got there first"
        assert store.save_if("ivr:text:c", first, second, 60, Tally("ivr:stats:d", (("texts", 1),), 60)) == (True, None)
        assert store.save_if("ivr:text:c", first, first, 60, Tally("ivr:stats:d", (("texts", 1),), 60)) == (
            False, second), "never back to a place already passed"
        assert store.counts(["ivr:stats:d"]) == [{"texts": 2}], "each text is counted, saved or not"
        store.forget("ivr:text:c")
        assert store.save_if("ivr:text:c", second, first, 60) == (False, None), "a FORGET in between wins"
