"""The SMS webhooks through Flask, against real Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ivr import gsm
from ivr.phone import FlaskTransport, Phone
from ivr.script import Script
from ivr.store import RedisStore

from .conftest import BASE_URL, CLOSED, REDIS_URL, TOKEN


def test_any_first_text_gets_the_menu(phone: Phone) -> None:
    turn = phone.text("hello?")
    assert turn.status == 200 and turn.message is not None
    assert "STALKING" in turn.message and "0808 802 0300" in turn.message and "999" in turn.message
    assert gsm.cost(turn.message).segments <= 2


def test_a_topic_pages_with_more_then_menu_starts_over(phone: Phone) -> None:
    first = phone.text("Stalking!").message or ""
    assert first.startswith("STALKING: Stalking involves") and "Reply MORE" in first
    second = phone.text("more").message or ""
    assert second.startswith("Unwanted contact can include")
    menu = phone.text("MENU").message or ""
    assert "1 STALKING" in menu
    assert (phone.text("more").message or "").startswith("In danger now?"), "MENU forgot the topic"


def test_the_texters_thread_is_in_redis_by_hmac_with_a_ttl(phone: Phone, redis_client: object) -> None:
    phone.text("bullying")
    keys = [key.decode() for key in redis_client.scan_iter(match="ivr:*")]  # type: ignore[attr-defined]
    assert {key.split(":")[1] for key in keys} == {"text", "rate", "stats"}
    for key in keys:
        assert "7700" not in key
        longest = 400 * 24 * 3600 if key.startswith("ivr:stats:") else 24 * 3600
        assert 0 < redis_client.ttl(key) <= longest  # type: ignore[attr-defined]


def test_stop_gets_no_reply_and_deletes_the_session(phone: Phone, redis_client: object) -> None:
    phone.text("harassment")
    assert list(redis_client.scan_iter(match="ivr:text:*"))  # type: ignore[attr-defined]
    turn = phone.text("STOP")
    assert turn.status == 200 and turn.message is None
    assert not list(redis_client.scan_iter(match="ivr:text:*"))  # type: ignore[attr-defined]
    assert "1 STALKING" in (phone.text("START").message or "")


def test_call_when_closed_gives_the_next_opening(phone: Phone, clock: list) -> None:
    clock[0] = CLOSED
    message = phone.text("CALL").message or ""
    assert "0808 802 0300" in message and "Closed now, opens Monday 30 November at 09:30" in message


def test_over_the_rate_limit_one_notice_then_silence(phone: Phone) -> None:
    replies = [phone.text("menu").message for _ in range(22)]
    assert all(replies[:20])
    assert replies[20] is not None and "paused" in replies[20]
    assert replies[21] is None
    other = Phone(phone.transport, BASE_URL, TOKEN, caller="+447700900555")
    assert other.text("menu").message, "another texter is not limited"


def test_with_redis_unreachable_replies_still_come(make_app: Callable[..., object]) -> None:
    app = make_app(STORE=RedisStore("redis://127.0.0.1:1/0"))
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN)
    assert (phone.text("stalking").message or "").startswith("STALKING:")
    assert (phone.text("more").message or "").startswith("In danger now?"), "no state: MORE gives the menu"
    assert "0808 802 0300" in (phone.text("call").message or "")


def test_the_sms_fallback_is_fixed_gsm7_text(phone: Phone) -> None:
    status, document = phone.post("/sms/fallback", {"From": phone.caller, "Body": "hi"})
    assert status == 200
    assert "0808 802 0300" in document and "999" in document


class TextsAtOnce(RedisStore):
    """Real Redis, but each text waits after reading its place until all have read it: they race to save."""

    def __init__(self, url: str, texts: int) -> None:
        super().__init__(url)
        self.barrier = threading.Barrier(texts)

    def count_and_load(self, counter: str, window: int, key: str) -> tuple[int, dict[str, object] | None]:
        loaded = super().count_and_load(counter, window, key)
        self.barrier.wait(timeout=10)
        return loaded


def texts_at_once(app: object, caller: str, bodies: list[str]) -> list[str]:
    """Send texts from one number at the same moment; return the replies."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        turns = pool.map(lambda body: Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=caller).text(body), bodies)
        return [turn.message or "" for turn in turns]


def test_two_mores_at_once_never_move_the_place_backwards(make_app: Callable[..., object], script: Script) -> None:
    pages = script.default.topic("stalking").sms_pages
    app = make_app(STORE=TextsAtOnce(REDIS_URL, 2))
    caller = "+447700900432"
    first = Phone(FlaskTransport(make_app()), BASE_URL, TOKEN, caller=caller).text("STALKING")
    assert first.message == pages[0]
    replies = texts_at_once(app, caller, ["MORE", "MORE"])
    assert sorted(replies) == sorted([pages[1], pages[2]]), "pages 2 and 3, never the menu"
    after = Phone(FlaskTransport(make_app()), BASE_URL, TOKEN, caller=caller).text("MORE").message
    assert after == script.default.sms_menu, "the place moved on to the end, not back to page 2"


def test_a_topic_and_more_at_once_never_lose_the_topic(make_app: Callable[..., object], script: Script) -> None:
    pages = script.default.topic("harassment").sms_pages
    app = make_app(STORE=TextsAtOnce(REDIS_URL, 2))
    caller = "+447700900433"
    replies = texts_at_once(app, caller, ["HARASSMENT", "MORE"])
    assert pages[0] in replies
    later = Phone(FlaskTransport(make_app()), BASE_URL, TOKEN, caller=caller).text("MORE").message
    if pages[1] in replies:  # the topic saved first, and MORE went on from it
        assert later == script.default.sms_menu
    else:  # MORE saved first; the topic still took its place after it
        assert later == pages[1]
